// models.torchscript: a user-exported TorchScript module as a node.
#include "nodes/models/model_nodes.h"
#include "nodes/models/model_params.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <mutex>
#include <stdexcept>

namespace avgraph::nodes {

namespace {

Kind outputKind(const std::string& name) {
    return name == "probabilities" ? Kind::Probabilities : name == "spectrum" ? Kind::Spectrum : Kind::Tensor;
}

class TorchScriptNode : public Node {
public:
    explicit TorchScriptNode(const NodeContext& ctx)
        : Node(ctx), kind_(outputKind(ctx.params.text("output_kind"))),
          class_names_(nameList(ctx, "class_names")) {
        module_ =
            loadTorchScript(ctx, "path", "write it with torch.jit.script(net).save(path) or torch.jit.trace");
        module_.eval();
    }

protected:
    Ports run(const Ports& in) override {
        const Value& v = input(in, "in");
        c10::IValue result = module_.forward({v.tensor});
        if (result.isTuple() && !result.toTupleRef().elements().empty())
            result = result.toTupleRef().elements()[0]; // (output, extras...) as many modules return
        if (!result.isTensor())
            throw std::invalid_argument("the TorchScript module's forward returned " + result.tagKind() +
                                        ", expected a tensor (or a tuple whose first element is one)");
        Value out;
        out.tensor = result.toTensor();
        out.kind = kind_;
        out.sample_rate = v.sample_rate;
        if (!class_names_.empty()) {
            if (out.tensor.dim() < 1 || out.tensor.size(-1) != static_cast<int64_t>(class_names_.size()))
                throw std::invalid_argument("the module's output " + shapeText(out.tensor.sizes()) +
                                            " does not end in the " + std::to_string(class_names_.size()) +
                                            " classes of class_names");
            out.class_names = class_names_;
        }
        return {{"out", out}};
    }

    void moveTo(const torch::Device& device) override { module_.to(device); }

private:
    Kind kind_;
    std::vector<std::string> class_names_;
    torch::jit::Module module_;
};

} // namespace

NodeSpec torchscriptNodeSpec() {
    NodeSpec s;
    s.type = "models.torchscript";
    s.summary =
        "Runs a TorchScript module (torch::jit::load) exported by the user, e.g. a pretrained encoder";
    s.doc = "Loads `path` (relative to the preset) with torch::jit::load and calls its forward on the input "
            "tensor, in eval mode; a tuple result gives its first element. The module is frozen: it is not "
            "a trainable node (its weights live in the TorchScript file). It runs on the node's device. "
            "Write the file in Python with torch.jit.script(net).save(path) or torch.jit.trace(net, "
            "example).save(path).";
    s.inputs = {PortSpec::of("in",
                             {Kind::Audio, Kind::Spectrum, Kind::Tensor, Kind::Image, Kind::Probabilities},
                             "the module's input, batch first")};
    s.outputs = {PortSpec::of("out", {Kind::Tensor, Kind::Probabilities, Kind::Spectrum},
                              "the module's output, of kind output_kind")};
    s.params = {
        ParamSpec::path("path", "TorchScript file (.pt), relative to the preset").mandatory(),
        ParamSpec::choice("output_kind", "tensor", {"tensor", "probabilities", "spectrum"},
                          "what the output is: 'tensor' for logits or embeddings"),
        ParamSpec::text("class_names", "",
                        "class names of the output's last axis, separated by commas; \"\": none"),
    };
    s.make = [](const NodeContext& ctx) { return std::make_unique<TorchScriptNode>(ctx); };
    return s;
}

} // namespace avgraph::nodes
