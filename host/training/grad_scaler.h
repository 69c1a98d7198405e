#pragma once
/**
 * Dynamic loss scaling for fp16 training (torch.cuda.amp.GradScaler's algorithm, which LibTorch 1.13's
 * C++ API lacks).
 *
 * fp16 represents nothing below about 6e-8, so small gradients of an fp16 network vanish. The loss is
 * multiplied by a large scale before the backward pass; the gradients (after they are summed over the
 * data-parallel processes, so every process decides alike) are divided by it before the optimizer
 * step. When any gradient is not finite the scale was too large: the step is skipped and the scale
 * multiplied by `backoff`; after `growth_interval` good steps in a row it is multiplied by `growth`.
 * PyTorch's defaults: 2^16, 2, 0.5, 2000.
 *
 * The scale and the count of good steps are buffers of a torch::nn::Module, so a checkpoint holds
 * them and a resumed run scales as the uninterrupted one. bf16 has float32's range and needs none.
 */
#include <torch/nn/module.h>

#include <vector>

namespace avgraph::host::training {

struct GradScalerOptions {
    double init_scale = 65536.0;
    double growth = 2.0;
    double backoff = 0.5;
    int64_t growth_interval = 2000;
};

class GradScaler : public torch::nn::Module {
public:
    explicit GradScaler(GradScalerOptions options = {});

    /** The loss to call backward() on: `loss` times the scale. */
    torch::Tensor scale(const torch::Tensor& loss) const;

    /**
     * Divides the gradients of `parameters` by the scale in place and updates the scale. True when
     * every gradient is finite (step the optimizer); false when some is not (skip this step).
     */
    bool unscale(const std::vector<torch::Tensor>& parameters);

    double currentScale() const;
    int64_t goodSteps() const;

private:
    GradScalerOptions options_;
    torch::Tensor scale_;      ///< float64 [1]
    torch::Tensor good_steps_; ///< int64 [1]: finite steps since the scale last changed
};

} // namespace avgraph::host::training
