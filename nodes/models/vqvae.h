#pragma once
/**
 * The VQ-VAE of the IVF method (Liu et al., after van den Oord et al. and DeepMind's Sonnet example):
 * an encoder from RGB images to a grid of D-dimensional vectors at 1/8 of the resolution, a codebook
 * of K vectors that quantizes each of them to its nearest code, and a decoder back to the image.
 *
 * Images are [N, 3, H, W] with values in [-0.5, 0.5]; latent grids are [N, D, H/8, W/8]. Submodule
 * and parameter names are the weights format (docs/models.md lists them).
 */
#include <torch/torch.h>

#include <vector>

namespace avgraph::nodes {

/** One residual layer: x + conv2(ReLU(conv1(ReLU(x)))), conv1 3×3 to `hidden`, conv2 1×1 back. */
class ResidualLayerImpl : public torch::nn::Module {
public:
    ResidualLayerImpl(int64_t channels, int64_t hidden);
    torch::Tensor forward(const torch::Tensor& x);

private:
    torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
};
TORCH_MODULE(ResidualLayer);

/**
 * Encoder: conv1 4×4/2 → hidden/2, ReLU, conv2 4×4/2 → hidden, ReLU, conv3 4×4/2 → hidden, ReLU,
 * conv4 3×3 → hidden, residual1..N, ReLU, pre_vq_conv 1×1 → embedding_dim. H and W must be multiples
 * of 8.
 */
class VqvaeEncoderImpl : public torch::nn::Module {
public:
    VqvaeEncoderImpl(int64_t hidden, int64_t residual_layers, int64_t residual_hidden, int64_t embedding_dim);
    torch::Tensor forward(torch::Tensor x);

private:
    torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr}, conv4_{nullptr},
        pre_vq_conv_{nullptr};
    std::vector<ResidualLayer> residual_;
};
TORCH_MODULE(VqvaeEncoder);

/**
 * Decoder, the encoder mirrored: conv1 3×3 embedding_dim → hidden, residual1..N, ReLU, deconv1 4×4/2
 * → hidden, ReLU, deconv2 4×4/2 → hidden/2, ReLU, deconv3 4×4/2 → 3. No output activation: the
 * reconstruction target is the image in [-0.5, 0.5].
 */
class VqvaeDecoderImpl : public torch::nn::Module {
public:
    VqvaeDecoderImpl(int64_t hidden, int64_t residual_layers, int64_t residual_hidden, int64_t embedding_dim);
    torch::Tensor forward(torch::Tensor z);

private:
    torch::nn::Conv2d conv1_{nullptr};
    std::vector<ResidualLayer> residual_;
    torch::nn::ConvTranspose2d deconv1_{nullptr}, deconv2_{nullptr}, deconv3_{nullptr};
};
TORCH_MODULE(VqvaeDecoder);

/**
 * The codebook: one parameter "embedding" [codes, embedding_dim], initialised uniform(-1/K, 1/K) as in
 * van den Oord et al.'s PyTorch ports. The same module (and so the same weights file) serves
 * models.vq_codebook and models.codebook_lookup.
 */
class CodebookImpl : public torch::nn::Module {
public:
    CodebookImpl(int64_t codes, int64_t embedding_dim);
    torch::Tensor embedding;
};
TORCH_MODULE(Codebook);

/** What quantizing a latent grid gives. */
struct Quantization {
    torch::Tensor quantized; ///< [N, D, h, w]: z_e + sg(e - z_e), the straight-through estimator
    torch::Tensor indices;   ///< [N, h, w] int64: the nearest code of each position (L2)
    torch::Tensor loss;      ///< 0-dim: mean (sg[z_e] - e)² + beta · mean (z_e - sg[e])²
    torch::Tensor usage;     ///< [K]: how many positions chose each code, in the embedding's dtype
};

/** Nearest-code quantization of z_e [N, D, h, w] against embedding [K, D]. */
Quantization quantize(const torch::Tensor& z_e, const torch::Tensor& embedding, double beta);

/** The codes of an index grid [N, h, w] (int64 in [0, K)): [N, D, h, w]. */
torch::Tensor lookupCodes(const torch::Tensor& indices, const torch::Tensor& embedding);

/**
 * The codes of a continuous index map y [N, h, w] in [-1, 1] (G's output): n = (y + 1)(K - 1)/2,
 * clamped to [0, K - 1]; rounded to the nearest code, or with `interpolate` the piecewise-linear blend
 * (1 - f)·e[floor n] + f·e[floor n + 1], f = n - floor n, which is differentiable in y and equals the
 * code at integer n. Returns [N, D, h, w].
 */
torch::Tensor lookupIndexMap(const torch::Tensor& y, const torch::Tensor& embedding, bool interpolate);

} // namespace avgraph::nodes
