#include "nodes/models/conv_block.h"
#include "nodes/models/batch_norm.h"

namespace avgraph::nodes {

ConvBlockImpl::ConvBlockImpl(int64_t in_channels, int64_t out_channels, int64_t n_convs) {
    for (int64_t i = 0; i < n_convs; ++i) {
        const auto n = std::to_string(i + 1);
        convs_.push_back(register_module(
            "conv" + n,
            torch::nn::Conv2d(torch::nn::Conv2dOptions(i == 0 ? in_channels : out_channels, out_channels, 3)
                                  .padding(1)
                                  .bias(false))));
        norms_.push_back(register_module("bn" + n, torch::nn::BatchNorm2d(out_channels)));
    }
}

torch::Tensor ConvBlockImpl::forward(torch::Tensor x) {
    for (size_t i = 0; i < convs_.size(); ++i)
        x = torch::relu(batchNorm(norms_[i], convs_[i]->forward(x)));
    return x;
}

torch::Tensor preferredLayout(const torch::Tensor& x) {
    return x.dim() == 4 && x.device().is_cpu() ? x.contiguous(torch::MemoryFormat::ChannelsLast) : x;
}

void initKong(torch::nn::Module& module) {
    torch::NoGradGuard no_grad;
    for (auto& m : module.modules(/*include_self=*/false)) {
        if (auto* conv = m->as<torch::nn::Conv2d>()) {
            torch::nn::init::xavier_uniform_(conv->weight);
            if (conv->bias.defined())
                conv->bias.zero_();
        } else if (auto* linear = m->as<torch::nn::Linear>()) {
            torch::nn::init::xavier_uniform_(linear->weight);
            if (linear->bias.defined())
                linear->bias.zero_();
        }
    }
}

} // namespace avgraph::nodes
