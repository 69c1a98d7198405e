// Synchronised batch norm: two threads standing in for two data-parallel processes, each with its own
// copy of the layer and its slice of the batch, must give what native batch norm gives on the whole
// batch in one process (outputs, input gradients, summed weight and bias gradients, running stats).
#include "nodes/models/batch_norm.h"

#include <catch2/catch.hpp>

#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

namespace avgraph::test {

namespace {

/** A sum over two threads: each brings its tensor, both leave with the sum (a barrier and an add). */
class TwoThreadSum {
public:
    torch::Tensor operator()(const torch::Tensor& x) {
        std::unique_lock<std::mutex> lock(mutex_);
        const int generation = generation_;
        partial_ = arrived_ == 0 ? x.clone() : partial_ + x;
        if (++arrived_ == 2) {
            total_ = partial_;
            arrived_ = 0;
            ++generation_;
            done_.notify_all();
        } else {
            done_.wait(lock, [&] { return generation_ != generation; });
        }
        return total_.clone();
    }

private:
    std::mutex mutex_;
    std::condition_variable done_;
    int arrived_ = 0;
    int generation_ = 0;
    torch::Tensor partial_, total_;
};

/** max |a - b| relative to max |b|. */
double relativeError(const torch::Tensor& a, const torch::Tensor& b) {
    return (a - b).abs().max().item<double>() / std::max(b.abs().max().item<double>(), 1e-30);
}

struct Pass {
    torch::Tensor y, x_grad, weight_grad, bias_grad, running_mean, running_var;
};

/**
 * Two forward passes (so the running stats see two updates) and one backward pass of
 * sum(y * upstream) through `bn` on x, the way one process would run them.
 */
template <typename Module>
Pass runPass(Module bn, const torch::Tensor& x0, const torch::Tensor& x, const torch::Tensor& upstream) {
    Pass p;
    nodes::batchNorm(bn, x0); // a first batch, for the running stats only
    auto input = x.clone().requires_grad_(true);
    p.y = nodes::batchNorm(bn, input);
    (p.y * upstream).sum().backward();
    p.x_grad = input.grad();
    p.weight_grad = bn->weight.grad();
    p.bias_grad = bn->bias.grad();
    p.running_mean = bn->running_mean.clone();
    p.running_var = bn->running_var.clone();
    return p;
}

/**
 * The layer's copies in two threads on rows [0, split) and [split, N) of every tensor, with a
 * reducer summing over the two, against the layer on all rows with native batch norm.
 */
template <typename Module>
void checkAgainstNative(Module reference, const torch::Tensor& x0, const torch::Tensor& x,
                        const torch::Tensor& upstream, int64_t split, double tolerance) {
    reference->train();
    const auto n = x.size(0);
    Module copies[2] = {std::dynamic_pointer_cast<typename Module::Impl>(reference->clone()),
                        std::dynamic_pointer_cast<typename Module::Impl>(reference->clone())};
    const Pass whole = runPass(reference, x0, x, upstream);

    TwoThreadSum sum;
    const ReplicaSum reducer = nodes::differentiableSum([&sum](torch::Tensor t) { return sum(t); });
    Pass halves[2];
    std::exception_ptr failures[2];
    std::thread threads[2];
    for (int r = 0; r < 2; ++r) {
        const int64_t begin = r == 0 ? 0 : split, end = r == 0 ? split : n;
        threads[r] = std::thread([&, r, begin, end] {
            try {
                ReplicaSumScope replicas(&reducer); // each "process" trains with the sum over both
                halves[r] = runPass(copies[r], x0.slice(0, begin, end), x.slice(0, begin, end),
                                    upstream.slice(0, begin, end));
            } catch (...) {
                failures[r] = std::current_exception();
            }
        });
    }
    for (auto& t : threads)
        t.join();
    for (auto& f : failures)
        if (f)
            std::rethrow_exception(f);

    CHECK(relativeError(torch::cat({halves[0].y, halves[1].y}), whole.y) < tolerance);
    CHECK(relativeError(torch::cat({halves[0].x_grad, halves[1].x_grad}), whole.x_grad) < tolerance);
    // Each process holds the gradient of its own slice's loss; their sum (what allreduce makes) is the
    // whole batch's gradient.
    CHECK(relativeError(halves[0].weight_grad + halves[1].weight_grad, whole.weight_grad) < tolerance);
    CHECK(relativeError(halves[0].bias_grad + halves[1].bias_grad, whole.bias_grad) < tolerance);
    for (const auto& half : halves) {
        CHECK(relativeError(half.running_mean, whole.running_mean) < tolerance);
        CHECK(relativeError(half.running_var, whole.running_var) < tolerance);
    }
}

/** Native batch norm on one slice differs from the whole batch's: the check above is not vacuous. */
template <typename Module>
void checkSliceStatisticsDiffer(Module reference, const torch::Tensor& x, int64_t split) {
    reference->train();
    auto whole = std::dynamic_pointer_cast<typename Module::Impl>(reference->clone());
    auto slice = std::dynamic_pointer_cast<typename Module::Impl>(reference->clone());
    const auto y_whole = whole->forward(x);
    const auto y_slice = slice->forward(x.slice(0, 0, split));
    CHECK(relativeError(y_slice, y_whole.slice(0, 0, split)) > 1e-2);
    CHECK(relativeError(slice->running_var, whole->running_var) > 1e-2);
}

/** A layer with weights and biases away from their 1 and 0 starts, so that their gradients matter. */
template <typename Module> Module randomisedLayer(int64_t channels, torch::Dtype dtype) {
    Module bn(channels);
    bn->to(dtype);
    torch::NoGradGuard no_grad;
    bn->weight.uniform_(0.5, 1.5);
    bn->bias.uniform_(-0.5, 0.5);
    return bn;
}

} // namespace

TEST_CASE("batchNorm over two processes equals BatchNorm2d on the whole batch", "[models][batch_norm]") {
    torch::manual_seed(7);
    for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
        const double tolerance = dtype == torch::kFloat32 ? 1e-5 : 1e-12;
        const auto options = torch::TensorOptions().dtype(dtype);
        // Channels with different means and spreads; 8 items split unevenly (3 + 5) so that the
        // counts must be summed too, not assumed equal.
        const auto scale = torch::tensor({0.5, 2.0, 4.0}, options).view({1, 3, 1, 1});
        const auto shift = torch::tensor({-1.0, 0.0, 3.0}, options).view({1, 3, 1, 1});
        const auto x0 = torch::randn({8, 3, 5, 4}, options) * scale + shift;
        const auto x = torch::randn({8, 3, 5, 4}, options) * scale + shift;
        const auto upstream = torch::randn({8, 3, 5, 4}, options);
        checkAgainstNative(randomisedLayer<torch::nn::BatchNorm2d>(3, dtype), x0, x, upstream, 3, tolerance);
        checkSliceStatisticsDiffer(randomisedLayer<torch::nn::BatchNorm2d>(3, dtype), x, 3);
    }
}

TEST_CASE("batchNorm over two processes equals BatchNorm1d on the whole batch", "[models][batch_norm]") {
    torch::manual_seed(8);
    const auto x0 = torch::randn({10, 6}) * 3 + 1;
    const auto x = torch::randn({10, 6}) * 3 + 1;
    const auto upstream = torch::randn({10, 6});
    checkAgainstNative(randomisedLayer<torch::nn::BatchNorm1d>(6, torch::kFloat32), x0, x, upstream, 5, 1e-5);
    checkSliceStatisticsDiffer(randomisedLayer<torch::nn::BatchNorm1d>(6, torch::kFloat32), x, 5);
}

TEST_CASE("batchNorm without a reducer, or in eval mode, is the module's own forward",
          "[models][batch_norm]") {
    torch::manual_seed(9);
    auto bn = randomisedLayer<torch::nn::BatchNorm2d>(4, torch::kFloat32);
    const auto x = torch::randn({6, 4, 3, 3});
    auto twin = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(bn->clone());
    CHECK(torch::equal(nodes::batchNorm(bn, x), twin->forward(x)));
    CHECK(torch::equal(bn->running_var, twin->running_var));

    // A reducer that would break the result if it were used: eval mode must not call it.
    const ReplicaSum breaking = [](const torch::Tensor& t) { return t * 1000; };
    ReplicaSumScope scope(&breaking);
    bn->eval();
    twin->eval();
    CHECK(torch::equal(nodes::batchNorm(bn, x), twin->forward(x)));
}

} // namespace avgraph::test
