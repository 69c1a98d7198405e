#pragma once
/**
 * The classifier networks behind the model nodes, as plain torch::nn modules (the nodes add
 * parameters, weights files and values around them). Layouts: images [N, channel, bin, frame],
 * embeddings [N, features]; the output is logits [N, classes]. Submodule names are part of the
 * weights format (docs/models.md lists them).
 */
#include "nodes/models/conv_block.h"

#include <vector>

namespace avgraph::nodes {

/** How CNN9 pools its frames after the mean over bins: Kong's DCASE 2019 max, or PANNs' max + mean. */
enum class FramePooling { Max, MeanPlusMax };

/**
 * Kong et al.'s CNN9 with average pooling (DCASE 2019): conv_block1..4 of two 3×3 convolutions,
 * 2×2 average pooling after the first three, mean over bins then max over frames, dropout, fc.
 * Two options from Kong's later PANNs (2020): bn0, a batch norm of the input per bin (norm_bins > 0:
 * the number of bins), and frames pooled as max + mean.
 */
class Cnn9Impl : public torch::nn::Module {
public:
    Cnn9Impl(int64_t in_channels, std::vector<int64_t> widths, int64_t n_classes, double dropout,
             int64_t norm_bins = 0, FramePooling pooling = FramePooling::Max);
    torch::Tensor forward(torch::Tensor x);
    /**
     * The convolutional trunk, the network up to its pooling over time: [N, channel, bin, frame] ->
     * [N, width, frame / 8], the last block's maps averaged over bins. Each output frame depends on the
     * input frames within kTrunkMargin of its 8, so a long stream's trunk can be computed in chunks.
     */
    torch::Tensor trunk(torch::Tensor x);
    /** The rest: pooling over the trunk's frames [N, width, frames], dropout, the classifier: logits. */
    torch::Tensor head(torch::Tensor frames);
    static constexpr int64_t kTrunkStride = 8;  ///< three 2x2 average poolings
    static constexpr int64_t kTrunkMargin = 48; ///< >= the receptive field's reach (+-44 frames), in strides

private:
    torch::nn::BatchNorm2d bn0_{nullptr};
    std::vector<ConvBlock> blocks_;
    torch::nn::Linear fc_{nullptr};
    double dropout_;
    FramePooling pooling_;
};
TORCH_MODULE(Cnn9);

/**
 * Pham et al.'s VGG14-like classifier: conv_block1..4 of 2, 2, 4, 4 convolutions, 2×2 average pooling
 * and dropout after the first three, dropout after the fourth, global average pooling, fc1 (ReLU,
 * dropout), fc.
 */
class Vgg14Impl : public torch::nn::Module {
public:
    Vgg14Impl(int64_t in_channels, std::vector<int64_t> widths, int64_t fc_width, int64_t n_classes,
              double dropout);
    torch::Tensor forward(torch::Tensor x);

private:
    std::vector<ConvBlock> blocks_;
    torch::nn::Linear fc1_{nullptr}, fc_{nullptr};
    double dropout_;
};
TORCH_MODULE(Vgg14);

/** Pham et al.'s embedding MLP: fc1..fcN hidden layers [Linear → BatchNorm1d (bn1..) → ReLU → dropout], fc.
 */
class EmbeddingMlpImpl : public torch::nn::Module {
public:
    EmbeddingMlpImpl(int64_t in_features, std::vector<int64_t> hidden, int64_t n_classes, double dropout,
                     bool batch_norm);
    torch::Tensor forward(torch::Tensor x);

private:
    std::vector<torch::nn::Linear> hidden_;
    std::vector<torch::nn::BatchNorm1d> norms_;
    torch::nn::Linear fc_{nullptr};
    double dropout_;
};
TORCH_MODULE(EmbeddingMlp);

} // namespace avgraph::nodes
