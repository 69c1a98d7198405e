#pragma once
/**
 * The adversarial half of the IVF method (Liu et al.): the transformation network G that "imagines" a
 * 16×16 visual feature from a log-mel spectrum, and the WGAN-GP critic D that tells imagined features
 * from real ones. Submodule names are the weights format (docs/models.md lists them).
 */
#include "nodes/models/conv_block.h"

#include <torch/torch.h>

#include <vector>

namespace avgraph::nodes {

/** What G regresses (MODELS.md's ablation rows 9, 8 and 7). */
enum class ImaginedFeature {
    IndexMap,  ///< [N, 1, grid, grid] through tanh: the codebook index n as 2n/(K−1) − 1
    Quantized, ///< [N, D, grid, grid], linear: the quantized embedding (IVF(Q))
    NoVq,      ///< [N, D, grid, grid], linear: the encoder output z_e (no vector quantization)
};

/**
 * G on a spectrum [N, 1, bins, frames]: conv_block1..4 (Conv 3×3 – BN – ReLU × 2, `widths`), 2×2
 * average pooling after the first three, mean over bins, max over frames → widths[3]; concatenated
 * with the shortcut (max over frames of the input, averaged over bins into `shortcut` values); fc1
 * → hidden, bn_fc1, ReLU; fc2 → grid² (index map) or D·grid²; tanh for the index map.
 */
class TransformationNetworkImpl : public torch::nn::Module {
public:
    TransformationNetworkImpl(ImaginedFeature mode, std::vector<int64_t> widths, int64_t shortcut,
                              int64_t hidden, int64_t grid, int64_t embedding_dim);
    torch::Tensor forward(torch::Tensor x);

private:
    ImaginedFeature mode_;
    int64_t shortcut_, grid_, out_channels_;
    std::vector<ConvBlock> blocks_;
    torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
    torch::nn::BatchNorm1d bn_fc1_{nullptr};
};
TORCH_MODULE(TransformationNetwork);

/**
 * Salimans et al.'s minibatch discrimination: M = f·T reshaped [N, kernels, dims]; for each kernel
 * b, o_b(i) = Σ_j exp(−‖M_ib − M_jb‖₁) over the batch (j = i included, as in the paper). Parameter
 * "T" [features, kernels·dims], initialised normal(0, 1).
 */
class MinibatchDiscriminationImpl : public torch::nn::Module {
public:
    MinibatchDiscriminationImpl(int64_t features, int64_t kernels, int64_t dims);
    /** [N, features] -> [N, features + kernels] */
    torch::Tensor forward(const torch::Tensor& f);

private:
    int64_t kernels_, dims_;
    torch::Tensor t_;
};
TORCH_MODULE(MinibatchDiscrimination);

/**
 * D on features [N, in_channels, grid, grid]: conv1..convN (3×3, stride 2, padding 1, `widths`), each
 * followed by LeakyReLU 0.2, no batch norm (it would break the per-sample gradient penalty); flatten;
 * optional minibatch discrimination ("minibatch"); fc → 1 score (no sigmoid: a WGAN critic). Every op
 * has a second derivative, so the gradient penalty can be trained (create_graph).
 */
class CriticImpl : public torch::nn::Module {
public:
    CriticImpl(int64_t in_channels, std::vector<int64_t> widths, int64_t grid, int64_t minibatch_kernels,
               int64_t minibatch_dims);
    /** [N] scores */
    torch::Tensor forward(torch::Tensor x);

private:
    std::vector<torch::nn::Conv2d> convs_;
    MinibatchDiscrimination minibatch_{nullptr};
    torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(Critic);

} // namespace avgraph::nodes
