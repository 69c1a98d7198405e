#include "graph/node_spec.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace avgraph {

std::string_view paramTypeName(ParamType type) {
    switch (type) {
    case ParamType::Int:
        return "integer";
    case ParamType::Float:
        return "number";
    case ParamType::Bool:
        return "boolean";
    case ParamType::String:
        return "string";
    case ParamType::Choice:
        return "string";
    case ParamType::Path:
        return "path";
    }
    return "?";
}

namespace {
ParamSpec make(std::string name, ParamType type, nlohmann::json def, std::string doc) {
    ParamSpec p;
    p.name = std::move(name);
    p.type = type;
    p.default_value = std::move(def);
    p.doc = std::move(doc);
    return p;
}

std::string number(double v) {
    if (std::isinf(v))
        return v > 0 ? "inf" : "-inf";
    std::ostringstream out;
    out << v;
    return out.str();
}
} // namespace

ParamSpec ParamSpec::integer(std::string name, int64_t def, std::string doc) {
    return make(std::move(name), ParamType::Int, def, std::move(doc));
}
ParamSpec ParamSpec::real(std::string name, double def, std::string doc) {
    return make(std::move(name), ParamType::Float, def, std::move(doc));
}
ParamSpec ParamSpec::flag(std::string name, bool def, std::string doc) {
    return make(std::move(name), ParamType::Bool, def, std::move(doc));
}
ParamSpec ParamSpec::text(std::string name, std::string def, std::string doc) {
    return make(std::move(name), ParamType::String, std::move(def), std::move(doc));
}
ParamSpec ParamSpec::choice(std::string name, std::string def, std::vector<std::string> choices,
                            std::string doc) {
    ParamSpec p = make(std::move(name), ParamType::Choice, std::move(def), std::move(doc));
    p.choices = std::move(choices);
    return p;
}
ParamSpec ParamSpec::path(std::string name, std::string doc) {
    ParamSpec p = make(std::move(name), ParamType::Path, nullptr, std::move(doc));
    p.required = true;
    return p;
}

ParamSpec& ParamSpec::range(double lo, double hi) {
    min = lo;
    max = hi;
    return *this;
}
ParamSpec& ParamSpec::above(double lo) {
    min = lo;
    min_exclusive = true;
    return *this;
}
ParamSpec& ParamSpec::atLeast(double lo) {
    min = lo;
    return *this;
}
ParamSpec& ParamSpec::orNull() {
    nullable = true;
    required = false;
    default_value = nullptr;
    return *this;
}
ParamSpec& ParamSpec::mandatory() {
    required = true;
    default_value = nullptr;
    return *this;
}

std::string ParamSpec::describe() const {
    std::string text;
    if (type == ParamType::Choice) {
        text = "one of ";
        for (size_t i = 0; i < choices.size(); ++i)
            text += (i ? ", " : "") + ("\"" + choices[i] + "\"");
    } else {
        text = std::string(paramTypeName(type));
        if (min && max)
            text +=
                std::string(" in ") + (min_exclusive ? "(" : "[") + number(*min) + ", " + number(*max) + "]";
        else if (min)
            text += (min_exclusive ? " > " : " >= ") + number(*min);
        else if (max)
            text += " <= " + number(*max);
    }
    if (nullable)
        text += ", or null";
    return text;
}

PortSpec PortSpec::of(std::string name, std::vector<Kind> kinds, std::string doc) {
    PortSpec p;
    p.name = std::move(name);
    p.kinds = std::move(kinds);
    p.doc = std::move(doc);
    return p;
}
PortSpec& PortSpec::optional() {
    required = false;
    return *this;
}
PortSpec& PortSpec::many() {
    variadic = true;
    return *this;
}

bool PortSpec::accepts(Kind kind) const {
    return std::any_of(kinds.begin(), kinds.end(), [&](Kind k) { return k == Kind::Any || k == kind; });
}

const ParamSpec* NodeSpec::param(std::string_view name) const {
    for (const auto& p : params)
        if (p.name == name)
            return &p;
    return nullptr;
}

namespace {
const PortSpec* findPort(const std::vector<PortSpec>& ports, std::string_view name) {
    for (const auto& p : ports) {
        if (p.name == name)
            return &p;
        // "in3" names an instance of the variadic port "in".
        if (p.variadic && name.size() > p.name.size() && name.substr(0, p.name.size()) == p.name &&
            std::all_of(name.begin() + p.name.size(), name.end(),
                        [](char c) { return c >= '0' && c <= '9'; }))
            return &p;
    }
    return nullptr;
}
} // namespace

const PortSpec* NodeSpec::input(std::string_view name) const { return findPort(inputs, name); }
const PortSpec* NodeSpec::output(std::string_view name) const { return findPort(outputs, name); }

} // namespace avgraph
