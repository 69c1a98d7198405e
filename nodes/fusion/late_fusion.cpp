// fusion.late: late fusion of class probabilities (Pham et al.'s MEAN, PROD and MAX).
#include "nodes/fusion/fusion_nodes.h"
#include "nodes/models/model_params.h"

#include <torch/torch.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace avgraph::nodes {

namespace {

std::string namesText(const std::vector<std::string>& names) {
    std::string s = "[";
    for (size_t i = 0; i < names.size(); ++i)
        s += (i ? ", " : "") + names[i];
    return s + "]";
}

/** Clip-level aggregation, then fusion of the inputs' [batch, class] rows. */
class LateFusionNode : public Node {
public:
    explicit LateFusionNode(const NodeContext& ctx) : Node(ctx), mode_(ctx.params.text("mode")) {}

protected:
    Ports run(const Ports& in) override {
        const auto values = variadicInputs(in);
        const auto& first = values[0].tensor;
        auto dtype = first.scalar_type();
        for (size_t i = 0; i < values.size(); ++i) {
            const auto& t = values[i].tensor;
            const std::string name = "in" + std::to_string(i);
            if (t.dim() < 2)
                throw std::invalid_argument(name + " is " + shapeText(t.sizes()) +
                                            "; expected probabilities [batch, ..., class]");
            if (!t.is_floating_point())
                throw std::invalid_argument(name + " must be floating-point probabilities, got " +
                                            std::string(c10::toString(t.scalar_type())));
            if (t.size(0) != first.size(0) || t.size(-1) != first.size(-1))
                throw std::invalid_argument(
                    name + " is " + shapeText(t.sizes()) + " but in0 is " + shapeText(first.sizes()) +
                    ": the inputs must have the same batch size and number of classes");
            dtype = torch::promote_types(dtype, t.scalar_type());
        }
        const auto class_names = commonClassNames(values);

        // Step 1: the clip's probability is the mean over its patches or frames (every axis between
        // batch and class), as Pham et al. and DCASE 2021 task 1B's segment scores.
        std::vector<torch::Tensor> clips;
        for (const auto& v : values) {
            auto t = v.tensor.to(first.device(), dtype);
            clips.push_back(t.dim() > 2 ? t.reshape({t.size(0), -1, t.size(-1)}).mean(1) : t);
        }
        // Step 2: fusion across the inputs.
        const auto stacked = torch::stack(clips);
        torch::Tensor fused;
        if (mode_ == "mean") {
            fused = stacked.mean(0);
        } else if (mode_ == "prod") {
            // The product of many probabilities underflows (40 systems at 1e-3 give 1e-120); summing
            // logs and renormalising with softmax is the same product divided by its row sum.
            fused = torch::softmax(stacked.clamp_min(1e-15).log().sum(0), -1);
        } else {
            fused = stacked.amax(0);
            fused = fused / fused.sum(-1, /*keepdim=*/true);
        }

        Value out;
        out.tensor = fused;
        out.kind = Kind::Probabilities;
        out.sample_rate = values[0].sample_rate;
        out.axes = {"batch", "class"};
        out.class_names = class_names;
        return {{"probabilities", out}};
    }

private:
    /** The class names the inputs carry (those without any are taken to agree), or none. */
    static std::vector<std::string> commonClassNames(const std::vector<Value>& values) {
        const Value* named = nullptr;
        std::string named_port;
        for (size_t i = 0; i < values.size(); ++i) {
            const auto& v = values[i];
            const std::string name = "in" + std::to_string(i);
            if (v.class_names.empty())
                continue;
            if (static_cast<int64_t>(v.class_names.size()) != v.tensor.size(-1))
                throw std::invalid_argument(name + " has " + std::to_string(v.class_names.size()) +
                                            " class names but " + std::to_string(v.tensor.size(-1)) +
                                            " classes on its last axis");
            if (!named) {
                named = &v;
                named_port = name;
            } else if (v.class_names != named->class_names) {
                throw std::invalid_argument(name + " has the classes " + namesText(v.class_names) + " but " +
                                            named_port + " has " + namesText(named->class_names) +
                                            ": fused systems must name the same classes in the same order");
            }
        }
        return named ? named->class_names : std::vector<std::string>{};
    }

    std::string mode_;
};

} // namespace

NodeSpec lateFusionNodeSpec() {
    NodeSpec s;
    s.type = "fusion.late";
    s.summary = "Late fusion of class probabilities: the clip mean of each input, then mean, prod or max";
    s.doc =
        "Step 1, clip-level aggregation: every axis of an input between batch and class (patches, frames, "
        "segments) is averaged, giving [batch, class] per input (Pham et al.: the clip's probability is "
        "the mean over its patches; Chen et al., DCASE 2021 task 1B: frame probabilities averaged per "
        "segment). Step 2, fusion across in0, in1, ...: 'mean' is the arithmetic mean; 'prod' the product "
        "renormalised so each row sums to 1, computed as softmax of the summed log(max(p, 1e-15)) so "
        "that many small probabilities do not underflow; 'max' the element-wise maximum renormalised to "
        "sum 1 (Pham et al.'s MEAN, PROD and MAX). One input only aggregates. The inputs must agree on "
        "batch size and number of classes, and those that carry class names on the names and their "
        "order. Tensor ops only (no parameters): gradients flow when autograd is on. Output on in0's "
        "device, in the inputs' promoted floating-point type.";
    s.inputs = {PortSpec::of("in", {Kind::Probabilities, Kind::Tensor},
                             "[batch, ..., class] probabilities of one system, connected as in0, in1, ...")
                    .many()};
    s.outputs = {PortSpec::of("probabilities", {Kind::Probabilities},
                              "[batch, class] fused probabilities, with the class names")};
    s.params = {ParamSpec::choice("mode", "mean", {"mean", "prod", "max"},
                                  "fusion rule across the inputs: arithmetic mean, renormalised product or "
                                  "renormalised element-wise maximum")};
    s.make = [](const NodeContext& ctx) { return std::make_unique<LateFusionNode>(ctx); };
    return s;
}

} // namespace avgraph::nodes
