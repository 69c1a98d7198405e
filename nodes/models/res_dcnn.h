#pragma once
/**
 * Chen et al.'s acoustic encoder res-DCNN as a plain torch::nn module: each spectrum frame [channel, bin]
 * goes through 1-D residual blocks along the bin axis, is flattened, joined with the flattened frame
 * itself and mapped by two fully connected layers to the frame's embedding. Submodule names (block1..,
 * conv, shortcut, bn; fc1, bn1, fc2, bn2) are part of the weights format (docs/models.md).
 */
#include <torch/torch.h>

#include <vector>

namespace avgraph::nodes {

/**
 * One residual block along the bins: Conv1d k3 without padding plus a 1×1 shortcut convolution cropped
 * to the same length (one bin off each end: the bins the k3 kernel's centre never visits), then
 * BatchNorm1d, ReLU and AvgPool1d(2, stride 2). Length L becomes floor((L - 2) / 2).
 */
class ResBlock1dImpl : public torch::nn::Module {
public:
    ResBlock1dImpl(int64_t in_channels, int64_t out_channels);
    torch::Tensor forward(torch::Tensor x);

private:
    torch::nn::Conv1d conv_{nullptr}, shortcut_{nullptr};
    torch::nn::BatchNorm1d bn_{nullptr};
};
TORCH_MODULE(ResBlock1d);

/**
 * The encoder on frames [N, channel, bin] (the node folds frames into N): block1..blockK of `widths`,
 * flatten, concatenation with the flattened input, then fc1 (hidden[0]) - bn1 - ReLU - dropout - fc2
 * (hidden[1]) - bn2 - ReLU. Output [N, hidden.back()].
 */
class ResDcnnImpl : public torch::nn::Module {
public:
    ResDcnnImpl(int64_t in_channels, int64_t n_bins, std::vector<int64_t> widths, std::vector<int64_t> hidden,
                double dropout);
    torch::Tensor forward(torch::Tensor x);
    /** The output of every residual block on frames [N, channel, bin], in order (the last feeds fc1). */
    std::vector<torch::Tensor> blockOutputs(torch::Tensor x);

    /** The number of bins after each of `blocks` residual blocks on n_bins: L -> floor((L - 2) / 2). */
    static std::vector<int64_t> blockLengths(int64_t n_bins, size_t blocks);

private:
    std::vector<ResBlock1d> blocks_;
    torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
    torch::nn::BatchNorm1d bn1_{nullptr}, bn2_{nullptr};
    double dropout_;
};
TORCH_MODULE(ResDcnn);

} // namespace avgraph::nodes
