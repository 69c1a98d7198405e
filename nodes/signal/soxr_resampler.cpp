#include "nodes/signal/soxr_resampler.h"

#include <soxr.h>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <stdexcept>
#include <tuple>
#include <vector>

namespace avgraph::nodes {

namespace {

unsigned long recipeOf(ResampleQuality quality) {
    switch (quality) {
    case ResampleQuality::Quick:
        return SOXR_QQ;
    case ResampleQuality::Low:
        return SOXR_LQ;
    case ResampleQuality::Medium:
        return SOXR_MQ;
    case ResampleQuality::High:
        return SOXR_HQ;
    case ResampleQuality::VeryHigh:
        return SOXR_VHQ;
    }
    return SOXR_HQ;
}

/** float64 stays float64; every other dtype is resampled in float32. */
torch::ScalarType workingType(torch::ScalarType dtype) {
    return dtype == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

soxr_io_spec_t ioSpec(torch::ScalarType dtype) {
    return dtype == torch::kFloat64 ? soxr_io_spec(SOXR_FLOAT64_S, SOXR_FLOAT64_S)
                                    : soxr_io_spec(SOXR_FLOAT32_S, SOXR_FLOAT32_S);
}

void checkRates(double from_rate, double to_rate) {
    if (!(std::isfinite(from_rate) && from_rate > 0 && std::isfinite(to_rate) && to_rate > 0))
        throw std::invalid_argument("sample rates must be finite and positive, got " +
                                    std::to_string(from_rate) + " Hz to " + std::to_string(to_rate) + " Hz");
}

/** Pointers to the rows of a contiguous [channels, n] tensor, as split-channel I/O wants them. */
template <typename Pointer> std::vector<Pointer> rowPointers(const torch::Tensor& t, int64_t offset = 0) {
    std::vector<Pointer> rows(static_cast<size_t>(t.size(0)));
    auto* base = static_cast<char*>(t.data_ptr());
    const int64_t row_bytes = t.size(1) * static_cast<int64_t>(t.element_size());
    for (size_t c = 0; c < rows.size(); ++c)
        rows[c] =
            base + static_cast<int64_t>(c) * row_bytes + offset * static_cast<int64_t>(t.element_size());
    return rows;
}

} // namespace

std::optional<ResampleQuality> resampleQualityFromName(std::string_view name) {
    if (name == "quick")
        return ResampleQuality::Quick;
    if (name == "low")
        return ResampleQuality::Low;
    if (name == "medium")
        return ResampleQuality::Medium;
    if (name == "high")
        return ResampleQuality::High;
    if (name == "very_high")
        return ResampleQuality::VeryHigh;
    return std::nullopt;
}

int64_t resampledLength(int64_t n_samples, double from_rate, double to_rate) {
    // The same expression as librosa: n * ratio with the ratio rounded first.
    return static_cast<int64_t>(std::ceil(static_cast<double>(n_samples) * (to_rate / from_rate)));
}

torch::Tensor resampleSignal(const torch::Tensor& signal, double from_rate, double to_rate,
                             ResampleQuality quality) {
    checkRates(from_rate, to_rate);
    if (from_rate == to_rate)
        return signal;
    if (signal.dim() < 1)
        throw std::invalid_argument("expected a signal [..., sample], got a scalar");
    const auto dtype = workingType(signal.scalar_type());
    const int64_t n = signal.size(-1);
    const int64_t rows = n > 0 ? signal.numel() / n : 0;
    auto in = signal.detach().to(torch::kCPU, dtype).reshape({rows, n}).contiguous();
    const int64_t out_n = resampledLength(n, from_rate, to_rate);
    auto out = torch::zeros({rows, out_n}, torch::TensorOptions().dtype(dtype));
    if (rows > 0 && n > 0 && out_n > 0) {
        auto in_rows = rowPointers<const void*>(in);
        auto out_rows = rowPointers<void*>(out);
        soxr_io_spec_t io = ioSpec(dtype);
        soxr_quality_spec_t q = soxr_quality_spec(recipeOf(quality), 0);
        soxr_runtime_spec_t runtime = soxr_runtime_spec(1); // LibTorch owns the cores
        size_t in_done = 0, out_done = 0;
        // soxr_oneshot flushes the end; what it does not fill stays zero, as librosa's fix_length pads.
        soxr_error_t error = soxr_oneshot(from_rate, to_rate, static_cast<unsigned>(rows), in_rows.data(),
                                          static_cast<size_t>(n), &in_done, out_rows.data(),
                                          static_cast<size_t>(out_n), &out_done, &io, &q, &runtime);
        if (error)
            throw std::runtime_error("libsoxr failed to resample from " + std::to_string(from_rate) +
                                     " Hz to " + std::to_string(to_rate) + " Hz: " + error);
    }
    auto sizes = signal.sizes().vec();
    sizes.back() = out_n;
    return out.view(sizes).to(signal.device(), signal.scalar_type());
}

// ---------------------------------------------------------------------------------------------

struct ResampleStream::Soxr {
    soxr_t handle = nullptr;
    ~Soxr() {
        if (handle)
            soxr_delete(handle);
    }
};

namespace {

soxr_t createSoxr(double from_rate, double to_rate, ResampleQuality quality, int64_t channels,
                  torch::ScalarType dtype) {
    soxr_io_spec_t io = ioSpec(dtype);
    soxr_quality_spec_t q = soxr_quality_spec(recipeOf(quality), 0);
    soxr_runtime_spec_t runtime = soxr_runtime_spec(1);
    soxr_error_t error = nullptr;
    soxr_t s = soxr_create(from_rate, to_rate, static_cast<unsigned>(channels), &error, &io, &q, &runtime);
    if (error || !s)
        throw std::runtime_error("libsoxr cannot resample from " + std::to_string(from_rate) + " Hz to " +
                                 std::to_string(to_rate) + " Hz: " + (error ? error : "unknown error"));
    return s;
}

} // namespace

int64_t ResampleStream::measureLatency(double from_rate, double to_rate, ResampleQuality quality) {
    checkRates(from_rate, to_rate);
    if (from_rate == to_rate)
        return 0;
    static std::mutex mutex;
    static std::map<std::tuple<double, double, int>, int64_t> cache;
    const auto key = std::make_tuple(from_rate, to_rate, static_cast<int>(quality));
    std::lock_guard<std::mutex> lock(mutex);
    if (auto it = cache.find(key); it != cache.end())
        return it->second;
    Soxr probe;
    probe.handle = createSoxr(from_rate, to_rate, quality, 1, torch::kFloat32);
    const double ratio = to_rate / from_rate;
    const float silence = 0.0f;
    std::vector<float> sink(4096);
    double worst = 0.0; // in output samples
    for (int i = 0; i < (1 << 17); ++i) {
        const float* in = &silence;
        float* out = sink.data();
        size_t in_done = 0, out_done = 0;
        soxr_process(probe.handle, &in, 1, &in_done, &out, sink.size(), &out_done);
        worst = std::max(worst, soxr_delay(probe.handle));
    }
    // Released after n inputs: floor((n - L) * ratio) + 1 samples; libsoxr has n * ratio - delay of them
    // ready, so L >= (delay + 1) / ratio suffices.
    const auto latency = static_cast<int64_t>(std::ceil((worst + 1.0) / ratio)) + 2;
    cache.emplace(key, latency);
    return latency;
}

ResampleStream::ResampleStream(double from_rate, double to_rate, ResampleQuality quality, int64_t channels,
                               torch::ScalarType dtype)
    : soxr_(std::make_unique<Soxr>()), from_rate_(from_rate), to_rate_(to_rate), ratio_(to_rate / from_rate),
      channels_(channels), dtype_(workingType(dtype)), latency_(measureLatency(from_rate, to_rate, quality)) {
    if (channels < 1)
        throw std::invalid_argument("a resampling stream needs at least one channel");
    soxr_->handle = createSoxr(from_rate, to_rate, quality, channels, dtype_);
    held_ = torch::zeros({channels, 0}, torch::TensorOptions().dtype(dtype_));
}

ResampleStream::~ResampleStream() = default;

torch::Tensor ResampleStream::push(const torch::Tensor& block) {
    if (block.dim() != 2 || block.size(0) != channels_)
        throw std::invalid_argument("expected a block of " + std::to_string(channels_) + " rows, got " +
                                    std::to_string(block.dim() == 2 ? block.size(0) : block.dim()) +
                                    (block.dim() == 2 ? " rows" : " dimensions"));
    auto in = block.detach().to(torch::kCPU, dtype_).contiguous();
    const int64_t n = in.size(1);
    // What libsoxr can give for n more inputs, plus whatever it still holds from earlier blocks.
    const int64_t capacity = static_cast<int64_t>(std::ceil(static_cast<double>(n) * ratio_)) + 1024;
    std::vector<torch::Tensor> parts{held_};
    int64_t consumed = 0;
    for (;;) {
        auto out = torch::empty({channels_, capacity}, in.options());
        auto in_rows = rowPointers<const void*>(in, consumed);
        auto out_rows = rowPointers<void*>(out);
        size_t in_done = 0, out_done = 0;
        soxr_error_t error =
            soxr_process(soxr_->handle, in_rows.data(), static_cast<size_t>(n - consumed), &in_done,
                         out_rows.data(), static_cast<size_t>(capacity), &out_done);
        if (error)
            throw std::runtime_error(std::string("libsoxr failed while streaming: ") + error);
        consumed += static_cast<int64_t>(in_done);
        parts.push_back(out.narrow(1, 0, static_cast<int64_t>(out_done)));
        if (consumed == n && static_cast<int64_t>(out_done) < capacity)
            break;
    }
    held_ = torch::cat(parts, 1);
    received_ += n;
    const int64_t due =
        received_ >= latency_
            ? static_cast<int64_t>(std::floor(static_cast<double>(received_ - latency_) * ratio_)) + 1
            : 0;
    const int64_t now = std::clamp<int64_t>(due - released_, 0, held_.size(1));
    auto released = held_.narrow(1, 0, now).clone();
    held_ = held_.narrow(1, now, held_.size(1) - now);
    released_ += now;
    return released;
}

torch::Tensor ResampleStream::finish() {
    std::vector<torch::Tensor> parts{held_};
    const int64_t capacity = 1 << 14;
    for (;;) { // a null input tells libsoxr the signal has ended: it drains its filter, as soxr_oneshot does
        auto out = torch::empty({channels_, capacity}, held_.options());
        auto out_rows = rowPointers<void*>(out);
        size_t out_done = 0;
        soxr_error_t error = soxr_process(soxr_->handle, nullptr, 0, nullptr, out_rows.data(),
                                          static_cast<size_t>(capacity), &out_done);
        if (error)
            throw std::runtime_error(std::string("libsoxr failed while flushing a stream: ") + error);
        parts.push_back(out.narrow(1, 0, static_cast<int64_t>(out_done)));
        if (out_done == 0)
            break;
    }
    auto rest = torch::cat(parts, 1);
    // As resampleSignal: cut, or zero-padded, to the length librosa gives.
    const int64_t due = std::max<int64_t>(0, resampledLength(received_, from_rate_, to_rate_) - released_);
    auto tail = torch::zeros({channels_, due}, held_.options());
    const int64_t have = std::min(due, rest.size(1));
    tail.narrow(1, 0, have).copy_(rest.narrow(1, 0, have));
    held_ = held_.narrow(1, 0, 0);
    released_ += due;
    return tail;
}

} // namespace avgraph::nodes
