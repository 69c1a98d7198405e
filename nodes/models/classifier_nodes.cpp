// The classifier node types: models.cnn9, models.vgg14 and models.embedding_mlp.
#include "nodes/models/classifier_node.h"
#include "nodes/models/model_nodes.h"
#include "nodes/models/model_params.h"
#include "nodes/models/networks.h"

#include "graph/segments.h"

#include <stdexcept>
#include <utility>

namespace avgraph::nodes {

namespace {

/** [channel, bin, frame] items for a network that pools 2×2 three times. */
void checkImage(torch::IntArrayRef item, int64_t in_channels) {
    if (item[0] != in_channels || item[1] < 8 || item[2] < 8)
        throw std::invalid_argument("input 'in' has items [channel, bin, frame] = " + shapeText(item) +
                                    "; expected " + std::to_string(in_channels) +
                                    " channel(s) (in_channels) and at least 8 bins and 8 frames (three 2x2 "
                                    "poolings)");
}

/** The MLP's hidden widths: "" (or only spaces) means none, a single Linear from features to classes. */
std::vector<int64_t> hiddenWidths(const NodeContext& ctx) {
    if (ctx.params.text("hidden").find_first_not_of(" \t") == std::string::npos)
        return {};
    return widthList(ctx, "hidden");
}

/** A classifier node around one network module: it owns the module and runs it on each item. */
template <typename Network> class NetworkNode : public ClassifierNode {
protected:
    NetworkNode(const NodeContext& ctx, int64_t item_dims, Network network)
        : ClassifierNode(ctx, item_dims), net_(std::move(network)) {
        adopt(net_.ptr());
    }
    torch::Tensor forward(const torch::Tensor& items) override { return net_->forward(items); }
    Network& network() { return net_; }

private:
    Network net_;
};

class Cnn9Node : public NetworkNode<Cnn9>, public SegmentTrunk {
public:
    explicit Cnn9Node(const NodeContext& ctx)
        : NetworkNode(ctx, 3,
                      Cnn9(ctx.params.integer("in_channels"), widthList(ctx, "widths", 4),
                           ctx.params.integer("n_classes"), ctx.params.real("dropout"),
                           ctx.params.integer("norm_bins"),
                           ctx.params.text("frame_pooling") == "mean+max" ? FramePooling::MeanPlusMax
                                                                          : FramePooling::Max)),
          in_channels_(ctx.params.integer("in_channels")), norm_bins_(ctx.params.integer("norm_bins")) {}

    // Segmented runs: the convolutions once over the stream, the pooling over time and the classifier per
    // segment (graph/segments.h).
    int64_t trunkStride() const override { return Cnn9Impl::kTrunkStride; }
    int64_t trunkMargin() const override { return Cnn9Impl::kTrunkMargin; }
    torch::Tensor trunk(const Value& frames) override {
        torch::NoGradGuard no_grad;
        return network()->trunk(folded(frames));
    }
    Ports head(const torch::Tensor& trunk_frames, const Value& like) override {
        torch::NoGradGuard no_grad;
        return {{"logits", logits(like, network()->head(trunk_frames))}};
    }

protected:
    void checkItem(torch::IntArrayRef item) const override {
        checkImage(item, in_channels_);
        if (norm_bins_ > 0 && item[1] != norm_bins_)
            throw std::invalid_argument("input 'in' has " + std::to_string(item[1]) + " bins; expected " +
                                        std::to_string(norm_bins_) + " (norm_bins)");
    }

private:
    int64_t in_channels_;
    int64_t norm_bins_;
};

class Vgg14Node : public NetworkNode<Vgg14> {
public:
    explicit Vgg14Node(const NodeContext& ctx)
        : NetworkNode(ctx, 3,
                      Vgg14(ctx.params.integer("in_channels"), widthList(ctx, "widths", 4),
                            ctx.params.integer("fc_width"), ctx.params.integer("n_classes"),
                            ctx.params.real("dropout"))),
          in_channels_(ctx.params.integer("in_channels")) {}

protected:
    void checkItem(torch::IntArrayRef item) const override { checkImage(item, in_channels_); }

private:
    int64_t in_channels_;
};

class EmbeddingMlpNode : public NetworkNode<EmbeddingMlp> {
public:
    explicit EmbeddingMlpNode(const NodeContext& ctx)
        : NetworkNode(ctx, 1,
                      EmbeddingMlp(ctx.params.integer("in_features"), hiddenWidths(ctx),
                                   ctx.params.integer("n_classes"), ctx.params.real("dropout"),
                                   ctx.params.flag("batch_norm"))),
          in_features_(ctx.params.integer("in_features")) {}

protected:
    void checkItem(torch::IntArrayRef item) const override {
        if (item[0] != in_features_)
            throw std::invalid_argument("input 'in' has " + std::to_string(item[0]) +
                                        " features on its last axis; expected " +
                                        std::to_string(in_features_) + " (in_features)");
    }

private:
    int64_t in_features_;
};

std::vector<ParamSpec> withClassifierParams(std::vector<ParamSpec> own) {
    auto common = classifierParams();
    own.insert(own.begin(), common.begin(), common.end());
    return own;
}

const char* const kModeDoc =
    " Built in eval mode (batch norm from its running statistics, no dropout); a trainer switches the "
    "module to training mode. Extra leading axes are folded into the batch: [batch, patch, channel, bin, "
    "frame] (tensor.patch) gives [batch, patch, class]. Without `weights` the network has Kong's random "
    "initialisation (Xavier-uniform, zero biases) and its outputs mean nothing. Parameter names in weights "
    "files: see docs/models.md.";

} // namespace

NodeSpec cnn9NodeSpec() {
    NodeSpec s;
    s.type = "models.cnn9";
    s.summary = "Kong et al.'s CNN9 classifier (DCASE 2019, average pooling): logits from a spectrum";
    s.doc = std::string("4 blocks of [Conv 3x3 (no bias) - BatchNorm - ReLU] x 2 with `widths` channels, 2x2 "
                        "average pooling after the first three (the fourth pooling is 1x1), mean over bins, "
                        "max over frames, dropout, Linear to n_classes. Two options from Kong's PANNs, both "
                        "off by default: a batch norm of each input bin before the first block (norm_bins) "
                        "and max + mean over frames (frame_pooling). Input [batch, channel, bin, frame] "
                        "with in_channels channels and at least 8 bins and frames; output logits [batch, "
                        "class].") +
            kModeDoc;
    s.inputs = {PortSpec::of("in", {Kind::Spectrum, Kind::Tensor}, "[batch, channel, bin, frame]")};
    s.outputs = {PortSpec::of("logits", {Kind::Tensor}, "[batch, class] logits, with the class names")};
    s.params = withClassifierParams({
        ParamSpec::integer("in_channels", 1, "channels of the input").range(1, 4096),
        ParamSpec::text("widths", "64,128,256,512", "channels of the four convolution blocks"),
        ParamSpec::real("dropout", 0.3, "dropout probability before the output layer (training only)")
            .range(0.0, 0.99),
        ParamSpec::integer("norm_bins", 0,
                           "0: none; else the input's number of bins, each batch-normalised on its own "
                           "before the first convolution (PANNs' bn0, weights name bn0)")
            .range(0, 4096),
        ParamSpec::choice("frame_pooling", "max", {"max", "mean+max"},
                          "after the mean over bins: max over frames (Kong's DCASE 2019 CNN9) or max plus "
                          "mean over frames (PANNs)"),
    });
    s.trainable = true;
    s.check = [](const NodeContext& ctx) {
        widthList(ctx, "widths", 4);
        classNames(ctx);
    };
    s.make = [](const NodeContext& ctx) { return std::make_unique<Cnn9Node>(ctx); };
    return s;
}

NodeSpec vgg14NodeSpec() {
    NodeSpec s;
    s.type = "models.vgg14";
    s.summary = "Pham et al.'s VGG14-like classifier: logits from a spectrum patch";
    s.doc = std::string("12 convolutions in 4 blocks of [Conv 3x3 (no bias) - BatchNorm - ReLU] x 2, 2, 4, 4 "
                        "with `widths` channels; 2x2 average pooling after the first three blocks; dropout "
                        "after every block; global average pooling; Linear fc_width - ReLU - dropout; Linear "
                        "to n_classes. Input [batch, channel, bin, frame] (Pham: 128x128 patches of 6 "
                        "channels: mel, delta, delta-delta of both stereo channels); output logits [batch, "
                        "class].") +
            kModeDoc;
    s.inputs = {PortSpec::of("in", {Kind::Spectrum, Kind::Tensor}, "[batch, channel, bin, frame]")};
    s.outputs = {PortSpec::of("logits", {Kind::Tensor}, "[batch, class] logits, with the class names")};
    s.params = withClassifierParams({
        ParamSpec::integer("in_channels", 6, "channels of the input").range(1, 4096),
        ParamSpec::text("widths", "64,128,256,512", "channels of the four convolution blocks"),
        ParamSpec::integer("fc_width", 1024, "width of the hidden fully connected layer").range(1, 1 << 20),
        ParamSpec::real("dropout", 0.3,
                        "dropout probability after each block and the hidden layer (training only)")
            .range(0.0, 0.99),
    });
    s.trainable = true;
    s.check = [](const NodeContext& ctx) {
        widthList(ctx, "widths", 4);
        classNames(ctx);
    };
    s.make = [](const NodeContext& ctx) { return std::make_unique<Vgg14Node>(ctx); };
    return s;
}

NodeSpec embeddingMlpNodeSpec() {
    NodeSpec s;
    s.type = "models.embedding_mlp";
    s.summary = "Pham et al.'s MLP on embeddings (8192-8192-1024-classes): logits from feature vectors";
    s.doc =
        std::string("Hidden layers [Linear - BatchNorm1d - ReLU - dropout] of `hidden` widths, then Linear "
                    "to n_classes. Input [batch, features] with in_features on the last axis (e.g. a "
                    "pretrained image model's 2048-d ResNet50 embedding from models.torchscript); output "
                    "logits [batch, class]; [batch, frame, features] gives [batch, frame, class]. hidden "
                    "\"\" makes it a "
                    "linear head (one Linear).") +
        kModeDoc;
    s.inputs = {PortSpec::of("in", {Kind::Tensor, Kind::Spectrum, Kind::Probabilities}, "[batch, features]")};
    s.outputs = {PortSpec::of("logits", {Kind::Tensor}, "[batch, class] logits, with the class names")};
    s.params = withClassifierParams({
        ParamSpec::integer("in_features", 2048, "features of each input vector").range(1, 1 << 24),
        ParamSpec::text("hidden", "8192,8192,1024",
                        "widths of the hidden layers; \"\": none, a single Linear (a linear head)"),
        ParamSpec::real("dropout", 0.3, "dropout probability after each hidden layer (training only)")
            .range(0.0, 0.99),
        ParamSpec::flag("batch_norm", true, "batch normalisation after each hidden Linear"),
    });
    s.trainable = true;
    s.check = [](const NodeContext& ctx) {
        hiddenWidths(ctx);
        classNames(ctx);
    };
    s.make = [](const NodeContext& ctx) { return std::make_unique<EmbeddingMlpNode>(ctx); };
    return s;
}

} // namespace avgraph::nodes
