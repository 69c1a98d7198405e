#pragma once
/**
 * ConvBlock: n × [Conv 3×3 (stride 1, padding 1, no bias) → BatchNorm → ReLU], the body of Kong et
 * al.'s CNNs and of Pham et al.'s VGG14-like network. Submodules are named conv1, bn1, conv2, bn2,
 * ... as in Kong's PyTorch code, so weights carry the same names there and here.
 */
#include <torch/torch.h>

namespace avgraph::nodes {

class ConvBlockImpl : public torch::nn::Module {
public:
    ConvBlockImpl(int64_t in_channels, int64_t out_channels, int64_t n_convs);
    torch::Tensor forward(torch::Tensor x);

private:
    std::vector<torch::nn::Conv2d> convs_;
    std::vector<torch::nn::BatchNorm2d> norms_;
};
TORCH_MODULE(ConvBlock);

/**
 * Images [N, C, H, W] in the memory layout the convolutions run fastest in: channels-last on the
 * CPU, where oneDNN's convolutions (forward and backward) take NHWC without reordering (CNN9
 * training steps ran 1.3-1.4x faster so on one thread here); as they are elsewhere. Values are
 * unchanged, only strides differ.
 */
torch::Tensor preferredLayout(const torch::Tensor& x);

/** Kong's init_layer on the submodules: Xavier-uniform weights and zero biases for convolutions and linear
 * layers. Callable from a constructor (the module itself is not visited, so it need not be in a shared_ptr).
 */
void initKong(torch::nn::Module& module);

} // namespace avgraph::nodes
