#include "nodes/models/ivf_networks.h"
#include "nodes/models/batch_norm.h"

namespace avgraph::nodes {

namespace F = torch::nn::functional;

TransformationNetworkImpl::TransformationNetworkImpl(ImaginedFeature mode, std::vector<int64_t> widths,
                                                     int64_t shortcut, int64_t hidden, int64_t grid,
                                                     int64_t embedding_dim)
    : mode_(mode), shortcut_(shortcut), grid_(grid),
      out_channels_(mode == ImaginedFeature::IndexMap ? 1 : embedding_dim) {
    int64_t channels = 1;
    for (size_t i = 0; i < widths.size(); ++i) {
        blocks_.push_back(
            register_module("conv_block" + std::to_string(i + 1), ConvBlock(channels, widths[i], 2)));
        channels = widths[i];
    }
    fc1_ = register_module("fc1", torch::nn::Linear(channels + shortcut, hidden));
    bn_fc1_ = register_module("bn_fc1", torch::nn::BatchNorm1d(hidden));
    fc2_ = register_module("fc2", torch::nn::Linear(hidden, out_channels_ * grid * grid));
}

torch::Tensor TransformationNetworkImpl::forward(torch::Tensor x) {
    // The shortcut keeps the coarse spectral envelope that the deep path pools away: the loudest frame
    // of each bin, averaged into `shortcut` bands (4:1 for 64 bins).
    auto envelope = x.amax({1, 3}); // [N, bins]
    envelope = F::adaptive_avg_pool1d(envelope.unsqueeze(1), F::AdaptiveAvgPool1dFuncOptions(shortcut_))
                   .squeeze(1); // [N, shortcut]
    auto h = preferredLayout(x);
    for (size_t i = 0; i < blocks_.size(); ++i) {
        h = blocks_[i]->forward(h);
        if (i + 1 < blocks_.size())
            h = F::avg_pool2d(h, F::AvgPool2dFuncOptions(2));
    }
    h = std::get<0>(h.mean(/*dim=*/2).max(/*dim=*/2)); // mean over bins, then max over frames
    h = torch::relu(batchNorm(bn_fc1_, fc1_->forward(torch::cat({h, envelope}, 1))));
    auto out = fc2_->forward(h).reshape({-1, out_channels_, grid_, grid_});
    return mode_ == ImaginedFeature::IndexMap ? torch::tanh(out) : out;
}

MinibatchDiscriminationImpl::MinibatchDiscriminationImpl(int64_t features, int64_t kernels, int64_t dims)
    : kernels_(kernels), dims_(dims) {
    t_ = register_parameter("T", torch::randn({features, kernels * dims}));
}

torch::Tensor MinibatchDiscriminationImpl::forward(const torch::Tensor& f) {
    const auto m = f.mm(t_).reshape({-1, kernels_, dims_});         // [N, B, C]
    const auto l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(3); // [N, N, B]
    return torch::cat({f, torch::exp(-l1).sum(1)}, 1);              // o(x_i) sums over j
}

CriticImpl::CriticImpl(int64_t in_channels, std::vector<int64_t> widths, int64_t grid,
                       int64_t minibatch_kernels, int64_t minibatch_dims) {
    int64_t channels = in_channels, size = grid;
    for (size_t i = 0; i < widths.size(); ++i) {
        convs_.push_back(register_module(
            "conv" + std::to_string(i + 1),
            torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, widths[i], 3).stride(2).padding(1))));
        channels = widths[i];
        size = (size + 1) / 2; // 3×3, stride 2, padding 1: ceil(size / 2)
    }
    int64_t features = channels * size * size;
    if (minibatch_kernels > 0) {
        minibatch_ = register_module("minibatch",
                                     MinibatchDiscrimination(features, minibatch_kernels, minibatch_dims));
        features += minibatch_kernels;
    }
    fc_ = register_module("fc", torch::nn::Linear(features, 1));
}

torch::Tensor CriticImpl::forward(torch::Tensor x) {
    for (auto& conv : convs_)
        x = F::leaky_relu(conv->forward(x), F::LeakyReLUFuncOptions().negative_slope(0.2));
    x = x.flatten(1);
    if (minibatch_)
        x = minibatch_->forward(x);
    return fc_->forward(x).squeeze(1);
}

} // namespace avgraph::nodes
