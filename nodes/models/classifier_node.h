#pragma once
/**
 * ClassifierNode: a node around a torch::nn classifier network.
 *
 * It loads the `weights` parameter (or keeps the network's random initialisation), starts in eval
 * mode, exposes the network as the node's trainable module, and turns inputs into logits values.
 * Leading axes beyond what the network takes (e.g. tensor.patch's patch axis) are folded into the
 * batch and restored afterwards: [batch, patch, channel, bin, frame] gives [batch, patch, class].
 */
#include "graph/node.h"

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace avgraph::nodes {

class ClassifierNode : public Node {
protected:
    /** `item_dims`: the dimensions of one item the network takes (3 for [channel, bin, frame]). */
    ClassifierNode(const NodeContext& ctx, int64_t item_dims);

    /** Call once from the subclass's constructor, with the network it built. */
    void adopt(std::shared_ptr<torch::nn::Module> network);

    /** The network on [N, item...]; the input is already folded and of the parameters' dtype. */
    virtual torch::Tensor forward(const torch::Tensor& items) = 0;
    /** Throws std::invalid_argument when one item (without its leading axes) does not fit. */
    virtual void checkItem(torch::IntArrayRef item) const = 0;

    Ports run(const Ports& inputs) override;
    torch::nn::Module* trainableModule() override { return network_.get(); }

    /** The input checked and folded as `run` does: [N, item...] in the parameters' dtype. */
    torch::Tensor folded(const Value& in) const;
    /** `logits` [N, class] of a [N, item...] input like `in`, as the logits value `run` gives. */
    Value logits(const Value& in, torch::Tensor logits) const;

private:
    int64_t item_dims_;
    int64_t n_classes_;
    std::vector<std::string> class_names_;
    std::shared_ptr<torch::nn::Module> network_;
};

/** The metadata of a classifier's logits: kind tensor, axes [..., class], class names. */
Value logitsValue(const Value& input, torch::Tensor logits, int64_t item_dims,
                  const std::vector<std::string>& class_names);

} // namespace avgraph::nodes
