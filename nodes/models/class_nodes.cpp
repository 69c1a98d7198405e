// models.softmax and models.argmax: from logits to probabilities to class indices.
#include "nodes/models/model_nodes.h"
#include "nodes/models/model_params.h"

#include <torch/torch.h>

#include <stdexcept>

namespace avgraph::nodes {

namespace {

const torch::Tensor& classScores(const Value& v) {
    if (v.tensor.dim() < 1 || v.tensor.size(-1) < 1)
        throw std::invalid_argument("input 'in' must have a class axis last, got shape " +
                                    shapeText(v.tensor.sizes()));
    if (!v.class_names.empty() && static_cast<int64_t>(v.class_names.size()) != v.tensor.size(-1))
        throw std::invalid_argument("input 'in' has " + std::to_string(v.tensor.size(-1)) + " classes but " +
                                    std::to_string(v.class_names.size()) + " class names");
    return v.tensor;
}

class SoftmaxNode : public Node {
public:
    explicit SoftmaxNode(const NodeContext& ctx) : Node(ctx), temperature_(ctx.params.real("temperature")) {}

protected:
    Ports run(const Ports& in) override {
        const Value& v = input(in, "in");
        const auto& x = classScores(v);
        if (!x.is_floating_point())
            throw std::invalid_argument("input 'in' must be floating-point logits");
        Value out = v.withTensor(torch::softmax(x / temperature_, -1));
        out.kind = Kind::Probabilities;
        return {{"probabilities", out}};
    }
    Ports runBlock(const Ports& in) override { return run(in); }
    void onPrepareStream(const StreamSpec&) override {}

private:
    double temperature_;
};

class ArgmaxNode : public Node {
public:
    using Node::Node;

protected:
    Ports run(const Ports& in) override {
        const Value& v = input(in, "in");
        Value out = v.withTensor(classScores(v).argmax(-1));
        out.kind = Kind::Indices;
        if (!out.axes.empty())
            out.axes.pop_back(); // the class axis is gone; class_names stay, to name the indices
        return {{"indices", out}};
    }
    Ports runBlock(const Ports& in) override { return run(in); }
    void onPrepareStream(const StreamSpec&) override {}
};

} // namespace

NodeSpec softmaxNodeSpec() {
    NodeSpec s;
    s.type = "models.softmax";
    s.summary = "Probabilities from logits: softmax over the class axis (the last)";
    s.doc = "softmax(logits / temperature) over the last axis, as torch.softmax(x / T, dim=-1); shape and "
            "class names are kept and the kind becomes probabilities.";
    s.inputs = {PortSpec::of("in", {Kind::Tensor}, "[..., class] logits")};
    s.outputs = {PortSpec::of("probabilities", {Kind::Probabilities}, "[..., class], each row summing to 1")};
    s.params = {
        ParamSpec::real("temperature", 1.0, "divides the logits first (1: plain softmax)").above(0.0)};
    s.streams = true;
    s.make = [](const NodeContext& ctx) { return std::make_unique<SoftmaxNode>(ctx); };
    return s;
}

NodeSpec argmaxNodeSpec() {
    NodeSpec s;
    s.type = "models.argmax";
    s.summary = "The most likely class of each row: indices (int64) carrying the class names";
    s.doc = "argmax over the last axis (the first maximum on ties, as torch.argmax): [..., class] -> [...] "
            "of int64 indices. The value keeps the input's class names, so index i is labelled "
            "class_names[i] (classLabels in nodes/models/model_nodes.h; the index itself when unnamed).";
    s.inputs = {
        PortSpec::of("in", {Kind::Probabilities, Kind::Tensor}, "[..., class] probabilities or logits")};
    s.outputs = {PortSpec::of("indices", {Kind::Indices}, "[...] class indices")};
    s.streams = true;
    s.make = [](const NodeContext& ctx) { return std::make_unique<ArgmaxNode>(ctx); };
    return s;
}

std::vector<std::string> classLabels(const Value& indices) {
    auto flat = indices.tensor.to(torch::kCPU, torch::kLong).reshape({-1});
    std::vector<std::string> labels;
    labels.reserve(flat.numel());
    const auto* p = flat.data_ptr<int64_t>();
    for (int64_t i = 0; i < flat.numel(); ++i) {
        const int64_t k = p[i];
        if (indices.class_names.empty())
            labels.push_back(std::to_string(k));
        else if (k >= 0 && k < static_cast<int64_t>(indices.class_names.size()))
            labels.push_back(indices.class_names[k]);
        else
            throw std::out_of_range("class index " + std::to_string(k) + " beyond the " +
                                    std::to_string(indices.class_names.size()) + " class names");
    }
    return labels;
}

} // namespace avgraph::nodes
