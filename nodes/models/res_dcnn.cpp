#include "nodes/models/res_dcnn.h"

#include "nodes/models/batch_norm.h"
#include "nodes/models/conv_block.h"

#include <stdexcept>

namespace avgraph::nodes {

namespace F = torch::nn::functional;

ResBlock1dImpl::ResBlock1dImpl(int64_t in_channels, int64_t out_channels) {
    // No biases: the batch norm that follows the sum removes any constant offset.
    conv_ = register_module(
        "conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(in_channels, out_channels, 3).bias(false)));
    shortcut_ = register_module(
        "shortcut", torch::nn::Conv1d(torch::nn::Conv1dOptions(in_channels, out_channels, 1).bias(false)));
    bn_ = register_module("bn", torch::nn::BatchNorm1d(out_channels));
}

torch::Tensor ResBlock1dImpl::forward(torch::Tensor x) {
    auto residual = conv_->forward(x);
    auto shortcut = shortcut_->forward(x).narrow(2, 1, residual.size(2));
    x = torch::relu(batchNorm(bn_, residual + shortcut));
    return F::avg_pool1d(x, F::AvgPool1dFuncOptions(2).stride(2));
}

std::vector<int64_t> ResDcnnImpl::blockLengths(int64_t n_bins, size_t blocks) {
    std::vector<int64_t> lengths;
    for (size_t i = 0; i < blocks; ++i) {
        n_bins = n_bins >= 3 ? (n_bins - 2) / 2 : 0;
        lengths.push_back(n_bins);
    }
    return lengths;
}

ResDcnnImpl::ResDcnnImpl(int64_t in_channels, int64_t n_bins, std::vector<int64_t> widths,
                         std::vector<int64_t> hidden, double dropout)
    : dropout_(dropout) {
    if (hidden.size() != 2)
        throw std::invalid_argument("the res-DCNN has two fully connected layers; got " +
                                    std::to_string(hidden.size()) + " widths");
    int64_t channels = in_channels;
    for (size_t i = 0; i < widths.size(); ++i) {
        blocks_.push_back(register_module("block" + std::to_string(i + 1), ResBlock1d(channels, widths[i])));
        channels = widths[i];
    }
    const auto lengths = blockLengths(n_bins, widths.size());
    const int64_t flat = (widths.empty() ? 0 : channels * lengths.back()) + in_channels * n_bins;
    fc1_ = register_module("fc1", torch::nn::Linear(flat, hidden[0]));
    bn1_ = register_module("bn1", torch::nn::BatchNorm1d(hidden[0]));
    fc2_ = register_module("fc2", torch::nn::Linear(hidden[0], hidden[1]));
    bn2_ = register_module("bn2", torch::nn::BatchNorm1d(hidden[1]));
    initKong(*this);
}

std::vector<torch::Tensor> ResDcnnImpl::blockOutputs(torch::Tensor x) {
    std::vector<torch::Tensor> outputs;
    for (auto& block : blocks_) {
        x = block->forward(x);
        outputs.push_back(x);
    }
    return outputs;
}

torch::Tensor ResDcnnImpl::forward(torch::Tensor x) {
    const auto blocks = blockOutputs(x);
    auto h = blocks.empty() ? x.flatten(1) : torch::cat({blocks.back().flatten(1), x.flatten(1)}, 1);
    h = torch::relu(batchNorm(bn1_, fc1_->forward(h)));
    h = F::dropout(h, F::DropoutFuncOptions().p(dropout_).training(is_training()));
    return torch::relu(batchNorm(bn2_, fc2_->forward(h)));
}

} // namespace avgraph::nodes
