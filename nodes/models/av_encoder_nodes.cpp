// The encoders of the audio-visual models: models.res_dcnn (Chen et al.'s acoustic encoder, trainable)
// and models.visual_encoder (a frozen pretrained image network exported by the user as TorchScript).
#include "nodes/models/model_nodes.h"
#include "nodes/models/model_params.h"
#include "nodes/models/model_weights.h"
#include "nodes/models/res_dcnn.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <stdexcept>

namespace avgraph::nodes {

namespace {

namespace F = torch::nn::functional;

/** The fewest bins that leave one after `blocks` residual blocks: floor((n + 2) / 2^k) - 2 >= 1. */
int64_t minimumBins(size_t blocks) { return 3 * (int64_t{1} << blocks) - 2; }

class ResDcnnNode : public Node {
public:
    explicit ResDcnnNode(const NodeContext& ctx)
        : Node(ctx), in_channels_(ctx.params.integer("in_channels")), n_bins_(ctx.params.integer("n_bins")),
          net_(in_channels_, n_bins_, widthList(ctx, "widths"), widthList(ctx, "hidden", 2),
               ctx.params.real("dropout")) {
        prepareNetwork(*this, *net_);
    }

protected:
    Ports run(const Ports& inputs) override {
        const Value& in = input(inputs, "in");
        const auto& x = in.tensor;
        if (x.dim() != 4)
            throw std::invalid_argument("input 'in' has shape " + shapeText(x.sizes()) +
                                        "; expected a spectrum [batch, channel, bin, frame]");
        if (!x.is_floating_point())
            throw std::invalid_argument("input 'in' must be floating-point, got " +
                                        std::string(c10::toString(x.scalar_type())));
        if (x.size(1) != in_channels_ || x.size(2) != n_bins_)
            throw std::invalid_argument("input 'in' is " + shapeText(x.sizes()) + "; expected " +
                                        std::to_string(in_channels_) + " channel(s) (in_channels) and " +
                                        std::to_string(n_bins_) + " bins (n_bins)");
        const int64_t batch = x.size(0), frames = x.size(3);
        // Each frame is encoded on its own: frames join the batch, [batch * frame, channel, bin].
        const auto dtype = net_->parameters().front().scalar_type();
        auto items = x.permute({0, 3, 1, 2}).reshape({batch * frames, in_channels_, n_bins_}).to(dtype);
        auto embedding = net_->forward(items);
        Value out;
        out.tensor = embedding.reshape({batch, frames, embedding.size(1)});
        out.kind = Kind::Tensor;
        out.sample_rate = in.sample_rate;
        out.hop = in.hop;
        out.axes = {"batch", "frame", "feature"};
        return {{"embedding", out}};
    }

    torch::nn::Module* trainableModule() override { return net_.ptr().get(); }

private:
    int64_t in_channels_, n_bins_;
    ResDcnn net_;
};

const std::vector<double> kImagenetMean{0.485, 0.456, 0.406}, kImagenetStd{0.229, 0.224, 0.225};

class VisualEncoderNode : public Node {
public:
    explicit VisualEncoderNode(const NodeContext& ctx)
        : Node(ctx), imagenet_(ctx.params.text("normalize") == "imagenet"), size_(ctx.params.integer("size")),
          features_(ctx.params.integer("features")) {
        module_ = loadTorchScript(ctx, "path",
                                  "export it with torch.jit.script(model.eval()).save(path); see "
                                  "docs/audio-visual.md, \"Exporting a visual encoder\"");
        // Frozen: nothing can train it, and batch norm always uses its pretrained statistics.
        for (auto p : module_.parameters())
            p.set_requires_grad(false);
        module_.eval();
    }

protected:
    Ports run(const Ports& inputs) override {
        const Value& in = input(inputs, "in");
        const auto& x = in.tensor;
        if ((x.dim() != 4 && x.dim() != 5) || x.size(-3) != 3)
            throw std::invalid_argument("input 'in' has shape " + shapeText(x.sizes()) +
                                        "; expected RGB images [batch, 3, H, W] or [batch, frame, 3, H, W]");
        torch::NoGradGuard no_grad;
        const auto lead = x.sizes().slice(0, x.dim() - 3).vec();
        auto images = x.reshape({-1, 3, x.size(-2), x.size(-1)}).to(torch::kFloat);
        if (size_ > 0 && (images.size(2) != size_ || images.size(3) != size_))
            // torchvision's Resize on tensors with antialias=False (its default for tensors before 0.17)
            images = F::interpolate(images, F::InterpolateFuncOptions()
                                                .size(std::vector<int64_t>{size_, size_})
                                                .mode(torch::kBilinear)
                                                .align_corners(false)
                                                .antialias(false));
        if (imagenet_) {
            const auto options = images.options();
            const auto mean = torch::tensor(kImagenetMean, torch::kDouble).to(options).reshape({1, 3, 1, 1});
            const auto std = torch::tensor(kImagenetStd, torch::kDouble).to(options).reshape({1, 3, 1, 1});
            images = (images / 255.0 - mean) / std;
        }
        c10::IValue result = module_.forward({images});
        if (result.isTuple() && !result.toTupleRef().elements().empty())
            result = result.toTupleRef().elements()[0];
        if (!result.isTensor())
            throw std::invalid_argument(
                "the TorchScript module's forward returned " + result.tagKind() +
                ", expected a tensor [batch, F] (or a tuple whose first element is one)");
        auto embedding = result.toTensor();
        if (embedding.dim() == 4 && embedding.size(2) == 1 && embedding.size(3) == 1)
            embedding = embedding.flatten(1); // [batch, F, 1, 1]: a network that ends with its pooling
        if (embedding.dim() != 2 || embedding.size(0) != images.size(0))
            throw std::invalid_argument(
                "the TorchScript module returned " + shapeText(embedding.sizes()) + " for " +
                std::to_string(images.size(0)) +
                " images; expected embeddings [batch, F] or [batch, F, 1, 1] (replace "
                "the classifier with torch.nn.Identity before exporting)");
        if (features_ > 0 && embedding.size(1) != features_) {
            Location at = where();
            at.pointer += "/params/features";
            throw Error(at, "(" + spec().type + ") parameter 'features': the module " +
                                params().path("path").string() + " gives " +
                                std::to_string(embedding.size(1)) + "-d embeddings, not " +
                                std::to_string(features_));
        }
        auto shape = lead;
        shape.push_back(embedding.size(1));
        Value out;
        out.tensor = embedding.reshape(shape);
        out.kind = Kind::Tensor;
        out.sample_rate = in.sample_rate;
        out.axes = lead.size() == 2 ? std::vector<std::string>{"batch", "frame", "feature"}
                                    : std::vector<std::string>{"batch", "feature"};
        return {{"embedding", out}};
    }

    void moveTo(const torch::Device& device) override { module_.to(device); }

private:
    bool imagenet_;
    int64_t size_, features_;
    torch::jit::Module module_;
};

} // namespace

NodeSpec resDcnnNodeSpec() {
    NodeSpec s;
    s.type = "models.res_dcnn";
    s.summary = "Chen et al.'s acoustic encoder res-DCNN: one embedding per spectrum frame";
    s.doc =
        "Each frame [channel, bin] of the input [batch, channel, bin, frame] is encoded on its own "
        "(frames are folded into the batch and unfolded after): residual blocks along the bins of "
        "`widths` channels, each [Conv1d k3 without padding + a 1x1 shortcut Conv1d cropped by one bin at "
        "each end (no biases) -> BatchNorm1d -> ReLU -> AvgPool1d(2, stride 2)], so L bins become "
        "floor((L - 2) / 2) (256: 127, 62, 30, 14); the last block's output flattened and joined with the "
        "flattened input frame; Linear hidden[0] - BatchNorm1d - ReLU - dropout - Linear hidden[1] - "
        "BatchNorm1d - ReLU. Chen et al.: 2 channels (average and difference of the stereo channels), "
        "long-term FBank 256 or scalogram 290 bins, widths 4/8/16/32, hidden 2048/1024, dropout 0.5. "
        "Output [batch, frame, hidden[1]], for fusion.concat with the visual embedding. Built in eval "
        "mode; Kong's initialisation (Xavier-uniform, zero biases) without `weights`. Parameter names in "
        "weights files: see docs/models.md.";
    s.inputs = {PortSpec::of("in", {Kind::Spectrum, Kind::Tensor}, "[batch, channel, bin, frame]")};
    s.outputs = {PortSpec::of("embedding", {Kind::Tensor}, "[batch, frame, hidden[1]] frame embeddings")};
    s.params = {
        ParamSpec::integer("in_channels", 2, "channels of the input").range(1, 4096),
        ParamSpec::integer("n_bins", 256, "bins of the input (checked)").range(1, 1 << 20),
        ParamSpec::text("widths", "4,8,16,32", "channels of the residual blocks, one block each"),
        ParamSpec::text("hidden", "2048,1024", "widths of the two fully connected layers"),
        ParamSpec::real("dropout", 0.5,
                        "dropout probability after the first fully connected layer (training only)")
            .range(0.0, 0.99),
        ParamSpec::path("weights", "LibTorch weights archive (torch::save of the module, or the trainer's "
                                   "output), relative to the preset; null: random initialisation")
            .orNull(),
        ParamSpec::choice("dtype", "float32", {"float32", "float64"},
                          "precision of the network's parameters and arithmetic (inputs are converted)"),
    };
    s.trainable = true;
    s.check = [](const NodeContext& ctx) {
        const auto widths = widthList(ctx, "widths");
        widthList(ctx, "hidden", 2);
        const auto n_bins = ctx.params.integer("n_bins");
        if (n_bins < minimumBins(widths.size()))
            throw paramError(ctx, "n_bins",
                             std::to_string(n_bins) + " bins leave none after " +
                                 std::to_string(widths.size()) +
                                 " residual blocks (each takes L bins to floor((L - 2) / 2)); at least " +
                                 std::to_string(minimumBins(widths.size())) + " are needed");
    };
    s.make = [](const NodeContext& ctx) { return std::make_unique<ResDcnnNode>(ctx); };
    return s;
}

NodeSpec visualEncoderNodeSpec() {
    NodeSpec s;
    s.type = "models.visual_encoder";
    s.summary =
        "A frozen pretrained image network (TorchScript exported by the user): one embedding per image";
    s.doc = "Images [batch, 3, H, W] (or video frames [batch, frame, 3, H, W], folded into the batch) with "
            "values in [0, 255] are resized to size x size (bilinear, align_corners false, without "
            "antialiasing: torchvision's Resize on tensors with antialias=False, its default for tensors "
            "before torchvision 0.17), scaled and normalised ('imagenet': x / 255, then (x - [0.485, 0.456, "
            "0.406]) / [0.229, 0.224, 0.225], as torchvision's pretrained weights expect), and passed to the "
            "TorchScript module `path`. Its output, [batch, F] or [batch, F, 1, 1] or a tuple whose first "
            "element is one, is the embedding [batch, F] ([batch, frame, F] for frames). The network is "
            "frozen: not a trainable node, parameters without gradients, run without autograd and in eval "
            "mode always, even while the rest of the graph trains (Chen et al.: ResNet50 2048-d or "
            "EfficientNetV2-S 1280-d on 1-fps frames). Export one with torchvision: `m = "
            "torchvision.models.resnet50(weights=\"IMAGENET1K_V2\"); m.fc = torch.nn.Identity(); "
            "torch.jit.script(m.eval()).save(\"resnet50.pt\")` (see docs/audio-visual.md, \"Exporting a "
            "visual encoder\").";
    s.inputs = {PortSpec::of("in", {Kind::Image, Kind::Tensor},
                             "[batch, 3, H, W] or [batch, frame, 3, H, W], RGB in [0, 255]")};
    s.outputs = {PortSpec::of("embedding", {Kind::Tensor}, "[batch, F] (or [batch, frame, F]) embeddings")};
    s.params = {
        ParamSpec::path("path",
                        "TorchScript file (.pt) of the image network without its classifier, relative "
                        "to the preset")
            .mandatory(),
        ParamSpec::choice(
            "normalize", "imagenet", {"imagenet", "none"},
            "'imagenet': x / 255 then ImageNet's channel mean and std; 'none': the module gets the "
            "[0, 255] values"),
        ParamSpec::integer("size", 224, "side of the square the images are resized to; 0: keep their size")
            .range(0, 8192),
        ParamSpec::integer("features", 0,
                           "the embedding width the module must give (2048 for ResNet50); 0: any")
            .range(0, 1 << 24),
    };
    s.make = [](const NodeContext& ctx) { return std::make_unique<VisualEncoderNode>(ctx); };
    return s;
}

} // namespace avgraph::nodes
