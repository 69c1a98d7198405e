#include "nodes/models/vqvae.h"

namespace avgraph::nodes {

namespace {

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
    return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding));
}

/** 4×4, stride 2, padding 1: exactly doubles the height and width, the inverse of the encoder's stages. */
torch::nn::ConvTranspose2d deconv(int64_t in, int64_t out) {
    return torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(in, out, 4).stride(2).padding(1));
}

std::vector<ResidualLayer> residualLayers(torch::nn::Module& owner, int64_t layers, int64_t channels,
                                          int64_t hidden) {
    std::vector<ResidualLayer> stack;
    for (int64_t i = 0; i < layers; ++i)
        stack.push_back(
            owner.register_module("residual" + std::to_string(i + 1), ResidualLayer(channels, hidden)));
    return stack;
}

/** [N, D, h, w] -> [N·h·w, D], the positions as rows. */
torch::Tensor positions(const torch::Tensor& z) { return z.permute({0, 2, 3, 1}).reshape({-1, z.size(1)}); }

/** [N·h·w, D] rows back to [N, D, h, w]. */
torch::Tensor grid(const torch::Tensor& rows, int64_t n, int64_t h, int64_t w) {
    return rows.reshape({n, h, w, rows.size(1)}).permute({0, 3, 1, 2});
}

} // namespace

ResidualLayerImpl::ResidualLayerImpl(int64_t channels, int64_t hidden) {
    conv1_ = register_module("conv1", conv(channels, hidden, 3, 1, 1));
    conv2_ = register_module("conv2", conv(hidden, channels, 1, 1, 0));
}

torch::Tensor ResidualLayerImpl::forward(const torch::Tensor& x) {
    return x + conv2_->forward(torch::relu(conv1_->forward(torch::relu(x))));
}

VqvaeEncoderImpl::VqvaeEncoderImpl(int64_t hidden, int64_t residual_layers, int64_t residual_hidden,
                                   int64_t embedding_dim) {
    conv1_ = register_module("conv1", conv(3, hidden / 2, 4, 2, 1));
    conv2_ = register_module("conv2", conv(hidden / 2, hidden, 4, 2, 1));
    conv3_ = register_module("conv3", conv(hidden, hidden, 4, 2, 1));
    conv4_ = register_module("conv4", conv(hidden, hidden, 3, 1, 1));
    residual_ = residualLayers(*this, residual_layers, hidden, residual_hidden);
    pre_vq_conv_ = register_module("pre_vq_conv", conv(hidden, embedding_dim, 1, 1, 0));
}

torch::Tensor VqvaeEncoderImpl::forward(torch::Tensor x) {
    x = torch::relu(conv1_->forward(x));
    x = torch::relu(conv2_->forward(x));
    x = torch::relu(conv3_->forward(x));
    x = conv4_->forward(x);
    for (auto& layer : residual_)
        x = layer->forward(x);
    return pre_vq_conv_->forward(torch::relu(x));
}

VqvaeDecoderImpl::VqvaeDecoderImpl(int64_t hidden, int64_t residual_layers, int64_t residual_hidden,
                                   int64_t embedding_dim) {
    conv1_ = register_module("conv1", conv(embedding_dim, hidden, 3, 1, 1));
    residual_ = residualLayers(*this, residual_layers, hidden, residual_hidden);
    deconv1_ = register_module("deconv1", deconv(hidden, hidden));
    deconv2_ = register_module("deconv2", deconv(hidden, hidden / 2));
    deconv3_ = register_module("deconv3", deconv(hidden / 2, 3));
}

torch::Tensor VqvaeDecoderImpl::forward(torch::Tensor z) {
    z = conv1_->forward(z);
    for (auto& layer : residual_)
        z = layer->forward(z);
    z = torch::relu(deconv1_->forward(torch::relu(z)));
    z = torch::relu(deconv2_->forward(z));
    return deconv3_->forward(z);
}

CodebookImpl::CodebookImpl(int64_t codes, int64_t embedding_dim) {
    const double bound = 1.0 / static_cast<double>(codes);
    embedding = register_parameter("embedding", torch::empty({codes, embedding_dim}).uniform_(-bound, bound));
}

Quantization quantize(const torch::Tensor& z_e, const torch::Tensor& embedding, double beta) {
    const int64_t n = z_e.size(0), h = z_e.size(2), w = z_e.size(3);
    const auto rows = positions(z_e);
    torch::Tensor nearest;
    {
        torch::NoGradGuard no_grad;
        // ‖z − e‖² = ‖z‖² − 2 z·e + ‖e‖², one matrix product instead of N·h·w·K·D differences
        const auto distance = rows.pow(2).sum(1, true) - 2 * rows.mm(embedding.t()) + embedding.pow(2).sum(1);
        nearest = distance.argmin(1);
    }
    const auto e = grid(embedding.index_select(0, nearest), n, h, w);
    Quantization q;
    q.quantized = z_e + (e - z_e).detach();
    q.indices = nearest.reshape({n, h, w});
    q.loss = torch::mse_loss(e, z_e.detach()) + beta * torch::mse_loss(z_e, e.detach());
    q.usage = torch::bincount(nearest, {}, embedding.size(0)).to(embedding.scalar_type());
    return q;
}

torch::Tensor lookupCodes(const torch::Tensor& indices, const torch::Tensor& embedding) {
    const auto flat = indices.reshape({-1});
    return grid(embedding.index_select(0, flat), indices.size(0), indices.size(1), indices.size(2));
}

torch::Tensor lookupIndexMap(const torch::Tensor& y, const torch::Tensor& embedding, bool interpolate) {
    const int64_t codes = embedding.size(0);
    const auto n = ((y + 1) * (0.5 * static_cast<double>(codes - 1))).clamp(0, codes - 1);
    if (!interpolate || codes == 1) {
        torch::Tensor index;
        {
            torch::NoGradGuard no_grad;
            index = n.round().to(torch::kLong); // half to even, as torch.round
        }
        return lookupCodes(index, embedding);
    }
    torch::Tensor below;
    {
        torch::NoGradGuard no_grad;
        // n = K − 1 blends e[K − 2] and e[K − 1] with weight 1 on the latter
        below = n.floor().clamp_max(codes - 2).to(torch::kLong);
    }
    const auto fraction = (n - below.to(n.scalar_type())).unsqueeze(1); // [N, 1, h, w], carries y's gradient
    return (1 - fraction) * lookupCodes(below, embedding) + fraction * lookupCodes(below + 1, embedding);
}

} // namespace avgraph::nodes
