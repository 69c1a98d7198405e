#include "nodes/models/classifier_node.h"

#include "nodes/models/model_params.h"
#include "nodes/models/model_weights.h"

#include <stdexcept>

namespace avgraph::nodes {

ClassifierNode::ClassifierNode(const NodeContext& ctx, int64_t item_dims)
    : Node(ctx), item_dims_(item_dims), n_classes_(ctx.params.integer("n_classes")),
      class_names_(classNames(ctx)) {}

void ClassifierNode::adopt(std::shared_ptr<torch::nn::Module> network) {
    network_ = std::move(network);
    prepareNetwork(*this, *network_);
}

Ports ClassifierNode::run(const Ports& inputs) {
    const Value& in = input(inputs, "in");
    auto logits = forward(folded(in)); // checks the input's axes first
    auto shape = in.tensor.sizes().slice(0, in.tensor.dim() - item_dims_).vec();
    shape.push_back(n_classes_);
    return {{"logits", logitsValue(in, logits.reshape(shape), item_dims_, class_names_)}};
}

Value ClassifierNode::logits(const Value& in, torch::Tensor logits) const {
    return logitsValue(in, std::move(logits), item_dims_, class_names_);
}

torch::Tensor ClassifierNode::folded(const Value& in) const {
    const auto& x = in.tensor;
    if (x.dim() < item_dims_ + 1)
        throw std::invalid_argument("input 'in' has shape " + shapeText(x.sizes()) + "; expected " +
                                    std::to_string(item_dims_ + 1) + " or more axes, the batch first");
    if (!x.is_floating_point())
        throw std::invalid_argument("input 'in' must be floating-point, got " +
                                    std::string(c10::toString(x.scalar_type())));
    const auto item = x.sizes().slice(x.dim() - item_dims_);
    checkItem(item);
    std::vector<int64_t> folded{-1};
    folded.insert(folded.end(), item.begin(), item.end());
    const auto dtype = network_->parameters().front().scalar_type();
    return x.reshape(folded).to(dtype);
}

Value logitsValue(const Value& input, torch::Tensor logits, int64_t item_dims,
                  const std::vector<std::string>& class_names) {
    Value out;
    out.tensor = std::move(logits);
    out.kind = Kind::Tensor;
    out.sample_rate = input.sample_rate;
    const auto lead = static_cast<int64_t>(out.tensor.dim()) - 1;
    if (static_cast<int64_t>(input.axes.size()) == lead + item_dims)
        out.axes.assign(input.axes.begin(), input.axes.begin() + lead);
    else
        for (int64_t i = 0; i < lead; ++i)
            out.axes.push_back(i == 0 ? "batch" : "axis" + std::to_string(i));
    out.axes.push_back("class");
    out.class_names = class_names;
    return out;
}

} // namespace avgraph::nodes
