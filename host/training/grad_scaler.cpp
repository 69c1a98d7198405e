#include "host/training/grad_scaler.h"

#include <torch/torch.h>

namespace avgraph::host::training {

GradScaler::GradScaler(GradScalerOptions options) : options_(options) {
    scale_ = register_buffer("scale", torch::full({1}, options_.init_scale, torch::kDouble));
    good_steps_ = register_buffer("good_steps", torch::zeros({1}, torch::kLong));
}

torch::Tensor GradScaler::scale(const torch::Tensor& loss) const { return loss * currentScale(); }

bool GradScaler::unscale(const std::vector<torch::Tensor>& parameters) {
    torch::NoGradGuard no_grad;
    const double inverse = 1.0 / currentScale();
    bool finite = true;
    for (const auto& p : parameters) {
        auto g = p.grad();
        if (!g.defined())
            continue;
        g.mul_(inverse);
        finite = finite && g.isfinite().all().item<bool>();
    }
    if (!finite) {
        scale_.mul_(options_.backoff);
        good_steps_.zero_();
    } else if (good_steps_.add_(1).item<int64_t>() >= options_.growth_interval) {
        scale_.mul_(options_.growth);
        good_steps_.zero_();
    }
    return finite;
}

double GradScaler::currentScale() const { return scale_.item<double>(); }
int64_t GradScaler::goodSteps() const { return good_steps_.item<int64_t>(); }

} // namespace avgraph::host::training
