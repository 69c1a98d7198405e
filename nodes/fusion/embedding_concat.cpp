// fusion.concat: early fusion of embeddings (Chen et al.'s joint audio-visual model).
#include "nodes/fusion/fusion_nodes.h"
#include "nodes/models/model_params.h"

#include <torch/torch.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace avgraph::nodes {

namespace {

/** Joins feature vectors along their last axis; a [batch, F] input is repeated over the frames. */
class EmbeddingConcatNode : public Node {
public:
    using Node::Node;

protected:
    Ports run(const Ports& in) override {
        const auto values = variadicInputs(in);
        const auto& first = values[0].tensor;
        const Value* framed = nullptr; // the first [batch, frame, F] input: its frames set the output's
        std::string framed_port;
        for (size_t i = 0; i < values.size(); ++i) {
            const auto& t = values[i].tensor;
            const std::string name = "in" + std::to_string(i);
            if (t.dim() < 2 || t.dim() > 3)
                throw std::invalid_argument(name + " is " + shapeText(t.sizes()) +
                                            "; expected [batch, features] or [batch, frame, features]");
            if (!t.is_floating_point())
                throw std::invalid_argument(name + " must be floating-point, got " +
                                            std::string(c10::toString(t.scalar_type())));
            if (t.size(0) != first.size(0))
                throw std::invalid_argument(name + " has a batch of " + std::to_string(t.size(0)) +
                                            " but in0 of " + std::to_string(first.size(0)) +
                                            ": the inputs must describe the same clips");
            if (t.dim() != 3)
                continue;
            if (!framed) {
                framed = &values[i];
                framed_port = name;
            } else if (t.size(1) != framed->tensor.size(1)) {
                throw std::invalid_argument(name + " has " + std::to_string(t.size(1)) + " frames but " +
                                            framed_port + " has " + std::to_string(framed->tensor.size(1)) +
                                            ": inputs with a frame axis must have the same frames");
            }
        }

        auto dtype = first.scalar_type();
        for (const auto& v : values)
            dtype = torch::promote_types(dtype, v.tensor.scalar_type());
        std::vector<torch::Tensor> parts;
        for (const auto& v : values) {
            auto t = v.tensor.to(first.device(), dtype);
            // Chen et al.: the 1-fps video frame's embedding joins each audio frame of its second.
            if (framed && t.dim() == 2)
                t = t.unsqueeze(1).expand({t.size(0), framed->tensor.size(1), t.size(1)});
            parts.push_back(t);
        }

        Value out;
        out.tensor = torch::cat(parts, -1);
        out.kind = Kind::Tensor;
        if (framed) {
            out.sample_rate = framed->sample_rate;
            out.hop = framed->hop;
            out.axes = {"batch", "frame", "feature"};
        } else {
            out.axes = {"batch", "feature"};
        }
        return {{"out", out}};
    }
};

} // namespace

NodeSpec embeddingConcatNodeSpec() {
    NodeSpec s;
    s.type = "fusion.concat";
    s.summary = "Joins feature vectors along their last axis, repeating [batch, F] inputs over the frames";
    s.doc =
        "Early fusion: in0, in1, ... shaped [batch, F_i] or [batch, frame, F_i] are joined along the "
        "feature axis in port order. When some inputs have a frame axis (they must then agree on the "
        "frame count), an input without one is repeated over those frames (Chen et al.: a 1-fps video "
        "frame's 2048-d embedding joined with each of the second's audio-frame 1024-d embeddings). "
        "Output [batch, frame, sum F_i], or [batch, sum F_i] when no input has frames, on in0's device in "
        "the inputs' promoted floating-point type. Gradients flow to every input.";
    s.inputs = {PortSpec::of("in", {Kind::Tensor, Kind::Probabilities},
                             "[batch, F] or [batch, frame, F] feature vectors, connected as in0, in1, ...")
                    .many()};
    s.outputs = {PortSpec::of("out", {Kind::Tensor}, "[batch, (frame,) sum of the F_i] joined features")};
    s.make = [](const NodeContext& ctx) { return std::make_unique<EmbeddingConcatNode>(ctx); };
    return s;
}

} // namespace avgraph::nodes
