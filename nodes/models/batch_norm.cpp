#include "nodes/models/batch_norm.h"

namespace avgraph::nodes {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/** A sum over processes, held by every autograd graph that uses it (the reducer may be replaced
 * between a forward pass and its backward pass). */
struct ProcessSum : torch::CustomClassHolder {
    explicit ProcessSum(std::function<torch::Tensor(torch::Tensor)> f) : sum(std::move(f)) {}
    std::function<torch::Tensor(torch::Tensor)> sum;
};

/** Sum over processes whose gradient is the sum over processes of the gradients. */
struct SumOverProcesses : torch::autograd::Function<SumOverProcesses> {
    static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                                 const c10::intrusive_ptr<ProcessSum>& sum) {
        ctx->saved_data["sum"] = c10::IValue::make_capsule(sum);
        return sum->sum(x.contiguous().clone());
    }

    static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
        const auto sum = c10::static_intrusive_pointer_cast<ProcessSum>(ctx->saved_data["sum"].toCapsule());
        return {sum->sum(grad_outputs[0].contiguous().clone()), torch::Tensor()};
    }
};

/** The shared part of BatchNorm1d and BatchNorm2d; `options` has the same fields for both. */
template <typename Options>
torch::Tensor syncBatchNorm(const torch::Tensor& x, const Options& options, const torch::Tensor& weight,
                            const torch::Tensor& bias, torch::Tensor& running_mean,
                            torch::Tensor& running_var, torch::Tensor& num_batches_tracked,
                            const BatchStatsReducer& reduce) {
    const int64_t channels = x.size(1);
    std::vector<int64_t> reduce_dims{0};
    for (int64_t d = 2; d < x.dim(); ++d)
        reduce_dims.push_back(d);
    // One message for the sums and the element count (a constant: it carries no gradient).
    const double local_count = static_cast<double>(x.numel() / channels);
    auto sums_and_count =
        reduce(torch::cat({x.sum(reduce_dims), torch::full({1}, local_count, x.options())}));
    const auto count = sums_and_count[channels].detach();
    const auto mean = sums_and_count.slice(0, 0, channels) / count;

    std::vector<int64_t> channel_shape(x.dim(), 1);
    channel_shape[1] = channels;
    const auto centred = x - mean.view(channel_shape);
    const auto var = reduce(centred.square().sum(reduce_dims)) / count;

    auto y = centred * torch::rsqrt(var + options.eps()).view(channel_shape);
    if (options.affine())
        y = y * weight.view(channel_shape) + bias.view(channel_shape);

    if (options.track_running_stats()) {
        torch::NoGradGuard no_grad;
        num_batches_tracked += 1;
        // No momentum means a cumulative average, as in torch.nn.BatchNorm.
        const double momentum =
            options.momentum() ? *options.momentum() : 1.0 / num_batches_tracked.item<double>();
        const double n = count.item<double>();
        const auto unbiased_var = var.detach() * (n / std::max(n - 1.0, 1.0));
        running_mean.mul_(1.0 - momentum).add_(mean.detach(), momentum);
        running_var.mul_(1.0 - momentum).add_(unbiased_var, momentum);
    }
    return y;
}

template <typename Module> torch::Tensor batchNormOf(Module& bn, const torch::Tensor& x) {
    if (!bn->is_training())
        return bn->forward(x);
    const ReplicaSum* reduce = currentReplicaSum();
    if (!reduce)
        return bn->forward(x);
    // Under mixed precision the statistics are float32, as LibTorch's own kernel keeps them for a bf16
    // or fp16 input; the output goes on in the input's type.
    const bool reduced = x.scalar_type() != bn->weight.scalar_type();
    auto y = syncBatchNorm(reduced ? x.to(bn->weight.scalar_type()) : x, bn->options, bn->weight, bn->bias,
                           bn->running_mean, bn->running_var, bn->num_batches_tracked, *reduce);
    return reduced ? y.to(x.scalar_type()) : y;
}

} // namespace

BatchStatsReducer differentiableSum(std::function<torch::Tensor(torch::Tensor)> sum) {
    auto shared = c10::make_intrusive<ProcessSum>(std::move(sum));
    return [shared](const torch::Tensor& x) { return SumOverProcesses::apply(x, shared); };
}

torch::Tensor batchNorm(torch::nn::BatchNorm2d& bn, const torch::Tensor& x) { return batchNormOf(bn, x); }
torch::Tensor batchNorm(torch::nn::BatchNorm1d& bn, const torch::Tensor& x) { return batchNormOf(bn, x); }

} // namespace avgraph::nodes
