#include "graph/value.h"

#include <array>

namespace avgraph {

namespace {
constexpr std::array<std::pair<Kind, std::string_view>, 7> kKindNames{{
    {Kind::Audio, "audio"},
    {Kind::Spectrum, "spectrum"},
    {Kind::Tensor, "tensor"},
    {Kind::Indices, "indices"},
    {Kind::Image, "image"},
    {Kind::Probabilities, "probabilities"},
    {Kind::Any, "any"},
}};
} // namespace

std::string_view kindName(Kind kind) {
    for (const auto& [k, name] : kKindNames)
        if (k == kind)
            return name;
    return "?";
}

std::optional<Kind> kindFromName(std::string_view name) {
    for (const auto& [k, n] : kKindNames)
        if (n == name)
            return k;
    return std::nullopt;
}

Value Value::withTensor(torch::Tensor other) const {
    Value v = *this;
    v.tensor = std::move(other);
    return v;
}

Value Value::to(const torch::Device& device) const {
    if (!tensor.defined() || tensor.device() == device)
        return *this;
    return withTensor(tensor.to(device));
}

int64_t Value::axis(std::string_view name) const {
    for (size_t i = 0; i < axes.size(); ++i)
        if (axes[i] == name)
            return static_cast<int64_t>(i);
    return -1;
}

} // namespace avgraph
