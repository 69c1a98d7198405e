// The IVF node types (Liu et al.): the VQ-VAE's encoder, codebook and decoder, the codebook lookup of
// index maps, the transformation network G and the WGAN-GP critic D.
#include "nodes/models/ivf_networks.h"
#include "nodes/models/model_nodes.h"
#include "nodes/models/model_params.h"
#include "nodes/models/model_weights.h"
#include "nodes/models/vqvae.h"

#include <stdexcept>

namespace avgraph::nodes {

namespace {

/**
 * A node around one network: it sets the network's dtype, loads `weights`, starts in eval mode and
 * exposes the network as the trainable module (what ClassifierNode does for the classifiers).
 */
class NetworkNode : public Node {
protected:
    NetworkNode(const NodeContext& ctx, std::shared_ptr<torch::nn::Module> network)
        : Node(ctx), network_(std::move(network)) {
        prepareNetwork(*this, *network_);
    }

    torch::nn::Module* trainableModule() override { return network_.get(); }

    /** A floating-point input in the network's dtype; `port` and `expected` name it in the error. */
    torch::Tensor networkInput(const torch::Tensor& x, const std::string& port) const {
        if (!x.is_floating_point())
            throw std::invalid_argument("input '" + port + "' must be floating-point, got " +
                                        std::string(c10::toString(x.scalar_type())));
        return x.to(network_->parameters().front().scalar_type());
    }

private:
    std::shared_ptr<torch::nn::Module> network_;
};

const std::vector<std::string> kGridAxes{"batch", "channel", "row", "col"};

/** A [batch, channel, row, col] value made from `in`'s (its sample rate kept, for the record). */
Value gridValue(const Value& in, torch::Tensor t, Kind kind) {
    Value v;
    v.tensor = std::move(t);
    v.kind = kind;
    v.sample_rate = in.sample_rate;
    v.axes = kGridAxes;
    return v;
}

Value plainValue(torch::Tensor t, std::vector<std::string> axes) {
    Value v;
    v.tensor = std::move(t);
    v.kind = Kind::Tensor;
    v.axes = std::move(axes);
    return v;
}

/** Throws the port's error when x is not [batch, channels, h, w] (channels < 0: any). */
void checkGrid(const torch::Tensor& x, const std::string& port, int64_t channels,
               const std::string& expected) {
    if (x.dim() != 4 || (channels >= 0 && x.size(1) != channels) || x.size(0) < 1)
        throw std::invalid_argument("input '" + port + "' has shape " + shapeText(x.sizes()) + "; expected " +
                                    expected);
}

std::string text(int64_t n) { return std::to_string(n); }

class VqvaeEncoderNode : public NetworkNode {
public:
    explicit VqvaeEncoderNode(const NodeContext& ctx)
        : NetworkNode(ctx,
                      VqvaeEncoder(ctx.params.integer("hidden"), ctx.params.integer("residual_layers"),
                                   ctx.params.integer("residual_hidden"), ctx.params.integer("embedding_dim"))
                          .ptr()) {}

protected:
    Ports run(const Ports& inputs) override {
        const Value& in = input(inputs, "in");
        const auto& x = in.tensor;
        if (x.dim() != 4 || x.size(1) != 3 || x.size(2) < 8 || x.size(2) % 8 || x.size(3) < 8 ||
            x.size(3) % 8)
            throw std::invalid_argument("input 'in' has shape " + shapeText(x.sizes()) +
                                        "; expected an image [batch, 3, H, W] with H and W multiples of 8 "
                                        "(three stride-2 stages)");
        auto& net = static_cast<VqvaeEncoderImpl&>(*trainableModule());
        return {{"z_e", gridValue(in, net.forward(networkInput(x, "in")), Kind::Tensor)}};
    }
};

class VqCodebookNode : public NetworkNode {
public:
    explicit VqCodebookNode(const NodeContext& ctx)
        : NetworkNode(ctx, Codebook(ctx.params.integer("codes"), ctx.params.integer("embedding_dim")).ptr()),
          beta_(ctx.params.real("beta")) {}

protected:
    Ports run(const Ports& inputs) override {
        const Value& in = input(inputs, "in");
        const auto& embedding = static_cast<CodebookImpl&>(*trainableModule()).embedding;
        const int64_t d = embedding.size(1);
        checkGrid(in.tensor, "in", d, "z_e [batch, " + text(d) + " (embedding_dim), h, w]");
        auto q = quantize(networkInput(in.tensor, "in"), embedding, beta_);
        Value indices = gridValue(in, q.indices, Kind::Indices);
        indices.axes = {"batch", "row", "col"};
        return {{"quantized", gridValue(in, q.quantized, Kind::Tensor)},
                {"indices", indices},
                {"loss", plainValue(q.loss, {})},
                {"usage", plainValue(q.usage, {"code"})}};
    }

private:
    double beta_;
};

class VqvaeDecoderNode : public NetworkNode {
public:
    explicit VqvaeDecoderNode(const NodeContext& ctx)
        : NetworkNode(ctx,
                      VqvaeDecoder(ctx.params.integer("hidden"), ctx.params.integer("residual_layers"),
                                   ctx.params.integer("residual_hidden"), ctx.params.integer("embedding_dim"))
                          .ptr()),
          embedding_dim_(ctx.params.integer("embedding_dim")) {}

protected:
    Ports run(const Ports& inputs) override {
        const Value& in = input(inputs, "in");
        checkGrid(in.tensor, "in", embedding_dim_,
                  "z_q [batch, " + text(embedding_dim_) + " (embedding_dim), h, w]");
        auto& net = static_cast<VqvaeDecoderImpl&>(*trainableModule());
        return {{"image", gridValue(in, net.forward(networkInput(in.tensor, "in")), Kind::Image)}};
    }

private:
    int64_t embedding_dim_;
};

class CodebookLookupNode : public NetworkNode {
public:
    explicit CodebookLookupNode(const NodeContext& ctx)
        : NetworkNode(ctx, Codebook(ctx.params.integer("codes"), ctx.params.integer("embedding_dim")).ptr()),
          interpolate_(ctx.params.flag("interpolate")) {}

protected:
    Ports run(const Ports& inputs) override {
        const Value& in = input(inputs, "in");
        const auto& x = in.tensor;
        const auto& embedding = static_cast<CodebookImpl&>(*trainableModule()).embedding;
        const int64_t codes = embedding.size(0);
        if (in.kind == Kind::Indices) {
            if (x.dim() != 3 || x.is_floating_point() || x.is_complex())
                throw std::invalid_argument("input 'in' (indices) has shape " + shapeText(x.sizes()) +
                                            " of " + std::string(c10::toString(x.scalar_type())) +
                                            "; expected integer code indices [batch, h, w]");
            if (x.numel() > 0) {
                const auto lo = x.min().item<int64_t>(), hi = x.max().item<int64_t>();
                if (lo < 0 || hi >= codes)
                    throw std::invalid_argument("input 'in' has code index " + text(lo < 0 ? lo : hi) +
                                                " outside [0, " + text(codes) + ") (codes)");
            }
            return {{"quantized", gridValue(in, lookupCodes(x.to(torch::kLong), embedding), Kind::Tensor)}};
        }
        if (!(x.dim() == 3 || (x.dim() == 4 && x.size(1) == 1)))
            throw std::invalid_argument(
                "input 'in' (an index map) has shape " + shapeText(x.sizes()) +
                "; expected [batch, h, w] or [batch, 1, h, w] with values in [-1, 1]");
        auto y = networkInput(x, "in");
        if (y.dim() == 4)
            y = y.squeeze(1);
        return {{"quantized", gridValue(in, lookupIndexMap(y, embedding, interpolate_), Kind::Tensor)}};
    }

private:
    bool interpolate_;
};

ImaginedFeature imaginedFeature(const std::string& mode) {
    if (mode == "quantized")
        return ImaginedFeature::Quantized;
    if (mode == "no_vq")
        return ImaginedFeature::NoVq;
    return ImaginedFeature::IndexMap;
}

class TransformationNetworkNode : public NetworkNode {
public:
    explicit TransformationNetworkNode(const NodeContext& ctx)
        : NetworkNode(ctx, TransformationNetwork(imaginedFeature(ctx.params.text("mode")),
                                                 widthList(ctx, "widths", 4), ctx.params.integer("shortcut"),
                                                 ctx.params.integer("hidden"), ctx.params.integer("grid"),
                                                 ctx.params.integer("embedding_dim"))
                               .ptr()),
          n_mels_(ctx.params.integer("n_mels")) {}

protected:
    Ports run(const Ports& inputs) override {
        const Value& in = input(inputs, "in");
        const auto& x = in.tensor;
        if (x.dim() != 4 || x.size(1) != 1 || x.size(2) != n_mels_ || x.size(3) < 8)
            throw std::invalid_argument("input 'in' has shape " + shapeText(x.sizes()) +
                                        "; expected a log-mel spectrum [batch, 1, " + text(n_mels_) +
                                        " (n_mels), frames >= 8]");
        auto& net = static_cast<TransformationNetworkImpl&>(*trainableModule());
        return {{"out", gridValue(in, net.forward(networkInput(x, "in")), Kind::Tensor)}};
    }

private:
    int64_t n_mels_;
};

class CriticNode : public NetworkNode {
public:
    explicit CriticNode(const NodeContext& ctx)
        : NetworkNode(ctx, Critic(ctx.params.integer("in_channels"), widthList(ctx, "widths"),
                                  ctx.params.integer("grid"), ctx.params.integer("minibatch_kernels"),
                                  ctx.params.integer("minibatch_dims"))
                               .ptr()),
          in_channels_(ctx.params.integer("in_channels")), grid_(ctx.params.integer("grid")) {}

protected:
    Ports run(const Ports& inputs) override {
        const Value& in = input(inputs, "in");
        const auto& x = in.tensor;
        if (x.dim() != 4 || x.size(1) != in_channels_ || x.size(2) != grid_ || x.size(3) != grid_)
            throw std::invalid_argument("input 'in' has shape " + shapeText(x.sizes()) +
                                        "; expected [batch, " + text(in_channels_) + " (in_channels), " +
                                        text(grid_) + ", " + text(grid_) + " (grid)]");
        auto& net = static_cast<CriticImpl&>(*trainableModule());
        return {{"score", plainValue(net.forward(networkInput(x, "in")), {"batch"})}};
    }

private:
    int64_t in_channels_, grid_;
};

/** The parameters every IVF network has: weights and dtype. */
std::vector<ParamSpec> withNetworkParams(std::vector<ParamSpec> own) {
    own.push_back(ParamSpec::path("weights", "LibTorch weights archive (torch::save of the module, or the "
                                             "trainer's output), relative to the preset; null: random "
                                             "initialisation")
                      .orNull());
    own.push_back(ParamSpec::choice("dtype", "float32", {"float32", "float64"},
                                    "precision of the network's parameters and arithmetic (inputs are "
                                    "converted)"));
    return own;
}

ParamSpec embeddingDim() {
    return ParamSpec::integer("embedding_dim", 64, "D: the dimension of the latent vectors and codes")
        .range(1, 65536);
}

ParamSpec codes() {
    return ParamSpec::integer("codes", 16, "K: the number of codes in the codebook").range(1, 65536);
}

/** The VQ-VAE encoder's and decoder's sizes. */
std::vector<ParamSpec> vqvaeParams() {
    return withNetworkParams({
        ParamSpec::integer("hidden", 128, "channels of the hidden convolutions (the outermost have hidden/2)")
            .range(2, 65536),
        ParamSpec::integer("residual_layers", 4, "residual layers in the stack").range(0, 256),
        ParamSpec::integer("residual_hidden", 32, "channels inside each residual layer").range(1, 65536),
        embeddingDim(),
    });
}

void checkEvenHidden(const NodeContext& ctx) {
    if (ctx.params.integer("hidden") % 2)
        throw paramError(ctx, "hidden", "must be even (the outermost convolutions have hidden/2 channels)");
}

const char* const kNetworkDoc =
    " Built in eval mode; a trainer switches the module to training mode. Without `weights` the network has "
    "its random initialisation. Parameter names in weights files: see docs/models.md.";

} // namespace

NodeSpec vqvaeEncoderNodeSpec() {
    NodeSpec s;
    s.type = "models.vqvae_encoder";
    s.summary = "VQ-VAE encoder (IVF): an image to a grid of latent vectors at 1/8 of its size";
    s.doc =
        std::string("Conv 4x4/2 -> hidden/2, ReLU, Conv 4x4/2 -> hidden, ReLU, Conv 4x4/2 -> hidden, ReLU, "
                    "Conv 3x3 -> hidden, residual_layers x [ReLU, Conv 3x3 -> residual_hidden, ReLU, Conv "
                    "1x1 -> hidden, add], ReLU, Conv 1x1 -> embedding_dim. Input an image [batch, 3, H, "
                    "W] in [-0.5, 0.5] (image.normalize) with H and W multiples of 8; output z_e [batch, "
                    "embedding_dim, H/8, W/8].") +
        kNetworkDoc;
    s.inputs = {PortSpec::of("in", {Kind::Image, Kind::Tensor}, "[batch, 3, H, W] image in [-0.5, 0.5]")};
    s.outputs = {PortSpec::of("z_e", {Kind::Tensor}, "[batch, embedding_dim, H/8, W/8] latent vectors")};
    s.params = vqvaeParams();
    s.trainable = true;
    s.check = checkEvenHidden;
    s.make = [](const NodeContext& ctx) { return std::make_unique<VqvaeEncoderNode>(ctx); };
    return s;
}

NodeSpec vqCodebookNodeSpec() {
    NodeSpec s;
    s.type = "models.vq_codebook";
    s.summary = "VQ-VAE codebook (IVF): each latent vector to its nearest code, with the VQ loss";
    s.doc = std::string(
                "Nearest code by L2 distance for each position of z_e. `quantized` is the straight-through "
                "estimate z_e + sg(e - z_e) (the value of the codes, the gradient of z_e); `loss` is "
                "mean (sg[z_e] - e)^2 + beta * mean (z_e - sg[e])^2, the codebook and commitment "
                "terms, for the trainer to add to the reconstruction loss; `usage` counts how many "
                "positions of the batch chose each code (perplexity and dead codes). The codebook is "
                "one parameter \"embedding\" [codes, embedding_dim], initialised uniform(-1/K, 1/K); "
                "models.codebook_lookup loads the same weights file.") +
            kNetworkDoc;
    s.inputs = {PortSpec::of("in", {Kind::Tensor}, "z_e [batch, embedding_dim, h, w]")};
    s.outputs = {
        PortSpec::of("quantized", {Kind::Tensor}, "[batch, embedding_dim, h, w] codes, straight-through"),
        PortSpec::of("indices", {Kind::Indices}, "[batch, h, w] int64 index of each position's code"),
        PortSpec::of("loss", {Kind::Tensor}, "0-dim codebook + beta * commitment loss (differentiable)"),
        PortSpec::of("usage", {Kind::Tensor}, "[codes] positions of this batch that chose each code"),
    };
    s.params = withNetworkParams({
        codes(),
        embeddingDim(),
        ParamSpec::real("beta", 1.0, "weight of the commitment term mean (z_e - sg[e])^2").atLeast(0.0),
    });
    s.trainable = true;
    s.make = [](const NodeContext& ctx) { return std::make_unique<VqCodebookNode>(ctx); };
    return s;
}

NodeSpec vqvaeDecoderNodeSpec() {
    NodeSpec s;
    s.type = "models.vqvae_decoder";
    s.summary = "VQ-VAE decoder (IVF): a grid of codes back to an image 8 times its size";
    s.doc =
        std::string("The encoder mirrored: Conv 3x3 embedding_dim -> hidden, residual_layers x [ReLU, Conv "
                    "3x3 -> residual_hidden, ReLU, Conv 1x1 -> hidden, add], ReLU, ConvTranspose 4x4/2 -> "
                    "hidden, ReLU, ConvTranspose 4x4/2 -> hidden/2, ReLU, ConvTranspose 4x4/2 -> 3. No "
                    "output activation: the target is the image in [-0.5, 0.5] (image.normalize with scale "
                    "255, offset 127.5 maps it back to [0, 255]).") +
        kNetworkDoc;
    s.inputs = {PortSpec::of("in", {Kind::Tensor}, "z_q [batch, embedding_dim, h, w]")};
    s.outputs = {PortSpec::of("image", {Kind::Image}, "[batch, 3, 8h, 8w] image, about [-0.5, 0.5]")};
    s.params = vqvaeParams();
    s.trainable = true;
    s.check = checkEvenHidden;
    s.make = [](const NodeContext& ctx) { return std::make_unique<VqvaeDecoderNode>(ctx); };
    return s;
}

NodeSpec codebookLookupNodeSpec() {
    NodeSpec s;
    s.type = "models.codebook_lookup";
    s.summary = "The codes of an index map (IVF): code indices or G's [-1, 1] map to quantized features";
    s.doc =
        std::string("Indices [batch, h, w] (integers in [0, codes)) give embedding[n]. A tensor index map "
                    "[batch, h, w] or [batch, 1, h, w] with values y in [-1, 1] (models."
                    "transformation_network in index_map mode) gives n = (y + 1)(codes - 1)/2, clamped to "
                    "[0, codes - 1], rounded half to even (torch.round); with `interpolate` the "
                    "piecewise-linear blend of the codes floor(n) and floor(n) + 1 instead, which equals "
                    "the code at integer n and passes gradients to y. The weights file is models."
                    "vq_codebook's (one parameter \"embedding\" [codes, embedding_dim]): that is how the "
                    "codebook is shared. Trainable, though usually frozen.") +
        kNetworkDoc;
    s.inputs = {PortSpec::of("in", {Kind::Indices, Kind::Tensor},
                             "[batch, h, w] code indices, or an index map [batch, (1,) h, w] in [-1, 1]")};
    s.outputs = {PortSpec::of("quantized", {Kind::Tensor}, "[batch, embedding_dim, h, w] codes")};
    s.params = withNetworkParams({
        codes(),
        embeddingDim(),
        ParamSpec::flag("interpolate", false,
                        "index maps: blend the two neighbouring codes linearly instead of rounding, so "
                        "gradients reach the map"),
    });
    s.trainable = true;
    s.make = [](const NodeContext& ctx) { return std::make_unique<CodebookLookupNode>(ctx); };
    return s;
}

NodeSpec transformationNetworkNodeSpec() {
    NodeSpec s;
    s.type = "models.transformation_network";
    s.summary = "IVF's transformation network G: a log-mel spectrum to an imagined 16x16 visual feature";
    s.doc =
        std::string("4 blocks of [Conv 3x3 (no bias) - BatchNorm - ReLU] x 2 with `widths` channels, 2x2 "
                    "average pooling after the first three, mean over bins, max over frames; concatenated "
                    "with a shortcut (max over frames of the input, averaged over bins into `shortcut` "
                    "values); Linear -> hidden, BatchNorm, ReLU; Linear -> the output. Modes (the IVF "
                    "paper's ablation): index_map [batch, 1, grid, grid] through tanh, regressing 2n/(K-1) "
                    "- 1 of the codebook index n (IVF; look it up with models.codebook_lookup); quantized "
                    "[batch, embedding_dim, grid, grid], linear, regressing the quantized embedding "
                    "(IVF(Q)); no_vq the same shape, regressing the encoder output z_e. Input [batch, 1, "
                    "n_mels, frames], frames >= 8.") +
        kNetworkDoc;
    s.inputs = {PortSpec::of("in", {Kind::Spectrum, Kind::Tensor}, "[batch, 1, n_mels, frames] log-mel")};
    s.outputs = {PortSpec::of("out", {Kind::Tensor},
                              "[batch, 1, grid, grid] index map in (-1, 1), or [batch, embedding_dim, grid, "
                              "grid] features")};
    s.params = withNetworkParams({
        ParamSpec::choice(
            "mode", "index_map", {"index_map", "quantized", "no_vq"},
            "what G imagines: the codebook index map (IVF), the quantized embedding (IVF(Q)) or "
            "the encoder output (no VQ)"),
        ParamSpec::text("widths", "128,256,512,1024", "channels of the four convolution blocks"),
        ParamSpec::integer("n_mels", 64, "mel bands of the input").range(8, 65536),
        ParamSpec::integer("shortcut", 16, "width of the shortcut: the input's bands averaged into this many")
            .range(1, 65536),
        ParamSpec::integer("hidden", 512, "width of the hidden Linear - BatchNorm - ReLU layer")
            .range(1, 65536),
        ParamSpec::integer("grid", 16, "height and width of the output map").range(1, 1024),
        embeddingDim(),
    });
    s.trainable = true;
    s.check = [](const NodeContext& ctx) {
        widthList(ctx, "widths", 4);
        if (ctx.params.integer("shortcut") > ctx.params.integer("n_mels"))
            throw paramError(ctx, "shortcut", "must not exceed n_mels (it averages the bands into fewer)");
    };
    s.make = [](const NodeContext& ctx) { return std::make_unique<TransformationNetworkNode>(ctx); };
    return s;
}

NodeSpec criticNodeSpec() {
    NodeSpec s;
    s.type = "models.critic";
    s.summary = "IVF's WGAN-GP critic D: a score for a 16x16 feature map, real or imagined";
    s.doc = std::string(
                "Conv 3x3 stride 2 (padding 1) with `widths` channels, each followed by LeakyReLU 0.2, no "
                "batch norm; flatten; optional minibatch discrimination (Salimans et al.: "
                "minibatch_kernels kernels of minibatch_dims dimensions; it couples the samples of a "
                "batch, which conflicts with the per-sample gradient penalty, so off by default); "
                "Linear -> 1. No sigmoid (a Wasserstein critic). Twice differentiable, for the gradient "
                "penalty. Input [batch, in_channels, grid, grid]; output scores [batch].") +
            kNetworkDoc;
    s.inputs = {PortSpec::of("in", {Kind::Tensor}, "[batch, in_channels, grid, grid] feature map")};
    s.outputs = {PortSpec::of("score", {Kind::Tensor}, "[batch] critic scores (higher: more real)")};
    s.params = withNetworkParams({
        ParamSpec::integer("in_channels", 1, "channels of the input (1 for index maps, D for features)")
            .range(1, 65536),
        ParamSpec::text("widths", "64,128,256", "channels of the stride-2 convolutions"),
        ParamSpec::integer("grid", 16, "height and width of the input").range(1, 1024),
        ParamSpec::integer("minibatch_kernels", 0, "minibatch discrimination kernels; 0: off")
            .range(0, 65536),
        ParamSpec::integer("minibatch_dims", 5, "dimensions of each minibatch discrimination kernel")
            .range(1, 65536),
    });
    s.trainable = true;
    s.check = [](const NodeContext& ctx) { widthList(ctx, "widths"); };
    s.make = [](const NodeContext& ctx) { return std::make_unique<CriticNode>(ctx); };
    return s;
}

} // namespace avgraph::nodes
