#include "nodes/models/networks.h"
#include "nodes/models/batch_norm.h"

namespace avgraph::nodes {

namespace F = torch::nn::functional;

Cnn9Impl::Cnn9Impl(int64_t in_channels, std::vector<int64_t> widths, int64_t n_classes, double dropout,
                   int64_t norm_bins, FramePooling pooling)
    : dropout_(dropout), pooling_(pooling) {
    if (norm_bins > 0)
        bn0_ = register_module("bn0", torch::nn::BatchNorm2d(norm_bins));
    int64_t channels = in_channels;
    for (size_t i = 0; i < widths.size(); ++i) {
        blocks_.push_back(
            register_module("conv_block" + std::to_string(i + 1), ConvBlock(channels, widths[i], 2)));
        channels = widths[i];
    }
    fc_ = register_module("fc", torch::nn::Linear(channels, n_classes));
    initKong(*this);
}

torch::Tensor Cnn9Impl::forward(torch::Tensor x) { return head(trunk(std::move(x))); }

torch::Tensor Cnn9Impl::trunk(torch::Tensor x) {
    if (bn0_) // bins as batch-norm channels: each bin is scaled by its own statistics, as PANNs' bn0
        x = batchNorm(bn0_, x.transpose(1, 2)).transpose(1, 2);
    x = preferredLayout(x);
    for (size_t i = 0; i < blocks_.size(); ++i) {
        x = blocks_[i]->forward(x);
        if (i + 1 < blocks_.size()) // Kong's fourth pooling is 1×1: the identity
            x = F::avg_pool2d(x, F::AvgPool2dFuncOptions(2));
    }
    return x.mean(/*dim=*/2); // over bins
}

torch::Tensor Cnn9Impl::head(torch::Tensor x) {
    if (pooling_ == FramePooling::MeanPlusMax) // the mean keeps what a texture (rain, waves) holds throughout
        x = std::get<0>(x.max(/*dim=*/2)) + x.mean(/*dim=*/2);
    else
        x = std::get<0>(x.max(/*dim=*/2));
    x = F::dropout(x, F::DropoutFuncOptions().p(dropout_).training(is_training()));
    return fc_->forward(x);
}

Vgg14Impl::Vgg14Impl(int64_t in_channels, std::vector<int64_t> widths, int64_t fc_width, int64_t n_classes,
                     double dropout)
    : dropout_(dropout) {
    const int64_t convs[] = {2, 2, 4, 4};
    int64_t channels = in_channels;
    for (size_t i = 0; i < widths.size(); ++i) {
        blocks_.push_back(
            register_module("conv_block" + std::to_string(i + 1), ConvBlock(channels, widths[i], convs[i])));
        channels = widths[i];
    }
    fc1_ = register_module("fc1", torch::nn::Linear(channels, fc_width));
    fc_ = register_module("fc", torch::nn::Linear(fc_width, n_classes));
    initKong(*this);
}

torch::Tensor Vgg14Impl::forward(torch::Tensor x) {
    x = preferredLayout(x);
    const auto drop = F::DropoutFuncOptions().p(dropout_).training(is_training());
    for (size_t i = 0; i < blocks_.size(); ++i) {
        x = blocks_[i]->forward(x);
        if (i + 1 < blocks_.size())
            x = F::avg_pool2d(x, F::AvgPool2dFuncOptions(2));
        x = F::dropout(x, drop);
    }
    x = x.mean({2, 3}); // global average pooling
    x = F::dropout(torch::relu(fc1_->forward(x)), drop);
    return fc_->forward(x);
}

EmbeddingMlpImpl::EmbeddingMlpImpl(int64_t in_features, std::vector<int64_t> hidden, int64_t n_classes,
                                   double dropout, bool batch_norm)
    : dropout_(dropout) {
    int64_t features = in_features;
    for (size_t i = 0; i < hidden.size(); ++i) {
        const auto n = std::to_string(i + 1);
        hidden_.push_back(register_module("fc" + n, torch::nn::Linear(features, hidden[i])));
        if (batch_norm)
            norms_.push_back(register_module("bn" + n, torch::nn::BatchNorm1d(hidden[i])));
        features = hidden[i];
    }
    fc_ = register_module("fc", torch::nn::Linear(features, n_classes));
    initKong(*this);
}

torch::Tensor EmbeddingMlpImpl::forward(torch::Tensor x) {
    const auto drop = F::DropoutFuncOptions().p(dropout_).training(is_training());
    for (size_t i = 0; i < hidden_.size(); ++i) {
        x = hidden_[i]->forward(x);
        if (!norms_.empty())
            x = batchNorm(norms_[i], x);
        x = F::dropout(torch::relu(x), drop);
    }
    return fc_->forward(x);
}

} // namespace avgraph::nodes
