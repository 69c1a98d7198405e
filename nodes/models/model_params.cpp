#include "nodes/models/model_params.h"

#include <cctype>
#include <set>

namespace avgraph::nodes {

std::string firstLine(const std::string& message) { return message.substr(0, message.find('\n')); }

torch::jit::Module loadTorchScript(const NodeContext& ctx, const std::string& param,
                                   const std::string& how_to_export) {
    const auto file = ctx.params.path(param);
    torch::jit::Module module;
    try {
        module = torch::jit::load(file.string(), torch::Device(torch::kCPU));
    } catch (const c10::Error& e) {
        throw paramError(ctx, param,
                         "cannot load TorchScript module " + file.string() + " (" + how_to_export +
                             "): " + firstLine(e.what_without_backtrace()));
    }
    if (!module.find_method("forward"))
        throw paramError(ctx, param, "TorchScript module " + file.string() + " has no forward method");
    return module;
}

namespace {

std::vector<std::string> splitTrimmed(const std::string& text) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
        const size_t end = text.find(',', start);
        std::string part = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
        const auto first = part.find_first_not_of(" \t");
        const auto last = part.find_last_not_of(" \t");
        parts.push_back(first == std::string::npos ? "" : part.substr(first, last - first + 1));
        if (end == std::string::npos)
            return parts;
        start = end + 1;
    }
}

} // namespace

std::vector<int64_t> widthList(const NodeContext& ctx, const std::string& param, size_t count) {
    const std::string text = ctx.params.text(param);
    const std::string expected = count ? std::to_string(count) + " positive integers separated by commas"
                                       : "positive integers separated by commas";
    std::vector<int64_t> widths;
    for (const auto& part : splitTrimmed(text)) {
        bool digits = !part.empty() && part.size() <= 9;
        for (char c : part)
            digits = digits && std::isdigit(static_cast<unsigned char>(c));
        if (!digits || std::stoll(part) < 1)
            throw paramError(ctx, param,
                             "expected " + expected + ", e.g. \"64,128,256,512\"; got \"" + text + "\"");
        widths.push_back(std::stoll(part));
    }
    if (count && widths.size() != count)
        throw paramError(ctx, param,
                         "expected " + expected + "; got " + std::to_string(widths.size()) + " in \"" + text +
                             "\"");
    return widths;
}

std::vector<std::string> nameList(const NodeContext& ctx, const std::string& param) {
    const std::string text = ctx.params.text(param);
    if (text.empty())
        return {};
    auto names = splitTrimmed(text);
    std::set<std::string> seen;
    for (const auto& n : names) {
        if (n.empty())
            throw paramError(ctx, param, "has an empty name in \"" + text + "\"");
        if (!seen.insert(n).second)
            throw paramError(ctx, param, "names '" + n + "' twice");
    }
    return names;
}

std::vector<std::string> classNames(const NodeContext& ctx) {
    auto names = nameList(ctx, "class_names");
    if (names.empty())
        return names;
    const auto n_classes = ctx.params.integer("n_classes");
    if (static_cast<int64_t>(names.size()) != n_classes)
        throw paramError(ctx, "class_names",
                         "has " + std::to_string(names.size()) + " names but n_classes is " +
                             std::to_string(n_classes));
    return names;
}

std::vector<ParamSpec> classifierParams() {
    return {
        ParamSpec::integer("n_classes", 10, "number of classes: the width of the output layer")
            .range(1, 100000),
        ParamSpec::text("class_names", "",
                        "class names in output order, separated by commas (e.g. \"dog,rain,sea_waves\"); "
                        "their count must be n_classes; \"\": unnamed (models.argmax labels by index)"),
        ParamSpec::path("weights",
                        "LibTorch weights archive (torch::save of the module, or the trainer's output), "
                        "relative to the preset; null: random initialisation")
            .orNull(),
        ParamSpec::choice("dtype", "float32", {"float32", "float64"},
                          "precision of the network's parameters and arithmetic (inputs are converted); "
                          "float64 for exact comparisons, e.g. of data-parallel and one-process training"),
    };
}

} // namespace avgraph::nodes
