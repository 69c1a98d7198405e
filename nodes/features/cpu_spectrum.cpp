#include "nodes/features/cpu_spectrum.h"

#include <ATen/Parallel.h>
#include <fftw3.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

namespace avgraph::nodes {

namespace {

/** Frames transformed together: their spectra (bins x chunk floats) stay in the L2 cache. */
constexpr int64_t kChunk = 32;

/**
 * One real-to-complex plan per FFT size for the whole process. FFTW's planner is not thread-safe,
 * hence the lock; executing a plan on other (equally aligned) arrays is, so threads share plans. Plans
 * live as long as the process. They are estimated, not measured: FFTW_MEASURE picks its algorithm by
 * timing candidates, so two runs could round differently, and the same input must give the same bits
 * every time (a measured plan is also ~0.1 s of start-up for ~10% faster transforms).
 */
fftwf_plan realFftPlan(int64_t n_fft) {
    static std::mutex mutex;
    static std::map<int64_t, fftwf_plan> plans;
    std::lock_guard<std::mutex> lock(mutex);
    auto it = plans.find(n_fft);
    if (it != plans.end())
        return it->second;
    const int n = static_cast<int>(n_fft);
    float* in = fftwf_alloc_real(static_cast<size_t>(n));
    fftwf_complex* out = fftwf_alloc_complex(static_cast<size_t>(n / 2 + 1));
    fftwf_plan plan = fftwf_plan_dft_r2c_1d(n, in, out, FFTW_ESTIMATE);
    fftwf_free(in);
    fftwf_free(out);
    if (!plan)
        throw std::runtime_error("FFTW could not plan a real FFT of " + std::to_string(n) + " points");
    plans.emplace(n_fft, plan);
    return plan;
}

/** FFTW-aligned scratch memory (new-array execution needs the planner's alignment). */
struct FftwDeleter {
    void operator()(void* p) const { fftwf_free(p); }
};
template <typename T> std::unique_ptr<T, FftwDeleter> fftwBuffer(int64_t count) {
    return std::unique_ptr<T, FftwDeleter>(
        static_cast<T*>(fftwf_malloc(sizeof(T) * static_cast<size_t>(count))));
}

// The inner loops get an AVX2 clone beside the baseline (SSE2) one, picked at load time, so one binary
// runs everywhere and uses the wider vectors where the CPU has them.
#define AVGRAPH_SIMD_CLONES __attribute__((target_clones("avx2", "default")))

/** GCC/Clang vector of 8 floats: explicit partial sums let the dot product vectorise without -ffast-math. */
typedef float Float8 __attribute__((vector_size(32)));

AVGRAPH_SIMD_CLONES void multiply(float* dst, const float* a, const float* b, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
        dst[i] = a[i] * b[i];
}

/** |z|^power of `bins` interleaved complex values. */
AVGRAPH_SIMD_CLONES void magnitudePower(float* dst, const float* z, int64_t bins, double power) {
    for (int64_t k = 0; k < bins; ++k)
        dst[k] = z[2 * k] * z[2 * k] + z[2 * k + 1] * z[2 * k + 1];
    if (power == 2.0)
        return;
    for (int64_t k = 0; k < bins; ++k)
        dst[k] = power == 1.0 ? std::sqrt(dst[k])
                              : static_cast<float>(std::pow(std::sqrt(static_cast<double>(dst[k])), power));
}

inline float dot(const float* a, const float* b, int64_t n) {
    Float8 acc = {};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        Float8 x, y;
        std::memcpy(&x, a + i, sizeof x);
        std::memcpy(&y, b + i, sizeof y);
        acc += x * y;
    }
    float sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; ++i)
        sum += a[i] * b[i];
    return sum;
}

AVGRAPH_SIMD_CLONES void axpy(float* y, float a, const float* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
        y[i] += a * x[i];
}

/**
 * out[r * out_stride + b] = band r of `fb` . power[b * bins ...] for the `count` frames of a chunk whose
 * power spectra are rows of `power`; one clone for the whole loop, so that `dot` is inlined in it.
 */
AVGRAPH_SIMD_CLONES void filterChunk(const BandedFilterbank& fb, const float* power, int64_t bins,
                                     int64_t count, float* out, int64_t out_stride) {
    for (int64_t r = 0; r < fb.rows; ++r) {
        const auto band = static_cast<size_t>(r);
        const float* weights = fb.weights.data() + fb.offsets[band];
        const int64_t first = fb.first[band];
        const int64_t width = fb.last[band] - first;
        for (int64_t b = 0; b < count; ++b)
            out[r * out_stride + b] = dot(weights, power + b * bins + first, width);
    }
}

/** acc[b] = sum over the band of row r of weight * spectrum[k][b], for b < count (spectrum rows stride). */
void applyBand(const BandedFilterbank& fb, int64_t r, const float* spectrum, int64_t stride, int64_t count,
               float* acc) {
    std::fill(acc, acc + count, 0.0f);
    const auto row = static_cast<size_t>(r);
    const float* w = fb.weights.data() + fb.offsets[row];
    for (int64_t k = fb.first[row]; k < fb.last[row]; ++k, ++w)
        axpy(acc, *w, spectrum + k * stride, count);
}

} // namespace

BandedFilterbank BandedFilterbank::fromDense(const torch::Tensor& dense) {
    if (dense.dim() != 2)
        throw std::invalid_argument("a filterbank is a [rows, bins] matrix");
    auto m = dense.to(torch::kCPU, torch::kFloat32).contiguous();
    BandedFilterbank fb;
    fb.rows = m.size(0);
    fb.bins = m.size(1);
    const float* data = m.data_ptr<float>();
    for (int64_t r = 0; r < fb.rows; ++r) {
        const float* row = data + r * fb.bins;
        int64_t first = 0, last = fb.bins;
        while (first < fb.bins && row[first] == 0.0f)
            ++first;
        while (last > first && row[last - 1] == 0.0f)
            --last;
        fb.first.push_back(first);
        fb.last.push_back(last);
        fb.offsets.push_back(static_cast<int64_t>(fb.weights.size()));
        fb.weights.insert(fb.weights.end(), row + first, row + last);
    }
    return fb;
}

bool cpuFastPath(const torch::Tensor& t) { return t.device().is_cpu() && t.scalar_type() == torch::kFloat32; }

torch::Tensor cpuFramePower(const PaddedSignal& padded, const torch::Tensor& window_in, int64_t n_fft,
                            int64_t hop, double power, const BandedFilterbank* filterbank) {
    const auto head = padded.head.contiguous();
    const auto body = padded.body.contiguous();
    const auto tail = padded.tail.contiguous();
    const auto window = window_in.to(torch::kFloat32).contiguous();
    const int64_t rows = body.size(0);
    const int64_t head_n = head.size(1), body_n = body.size(1), tail_n = tail.size(1);
    const int64_t samples = head_n + body_n + tail_n;
    const int64_t bins = n_fft / 2 + 1;
    const int64_t frames = samples >= n_fft ? 1 + (samples - n_fft) / hop : 0;
    if (filterbank && filterbank->bins != bins)
        throw std::invalid_argument("a filterbank over " + std::to_string(filterbank->bins) +
                                    " bins cannot filter spectra of " + std::to_string(bins) + " bins");
    const int64_t out_rows = filterbank ? filterbank->rows : bins;
    auto result = torch::empty({rows, out_rows, frames}, body.options());
    if (frames == 0 || rows == 0)
        return result;

    const fftwf_plan plan = realFftPlan(n_fft);
    const float* head_x = head.data_ptr<float>();
    const float* body_x = body.data_ptr<float>();
    const float* tail_x = tail.data_ptr<float>();
    const float* w = window.data_ptr<float>();
    float* out = result.data_ptr<float>();
    const int64_t chunks = (frames + kChunk - 1) / kChunk;

    at::parallel_for(0, rows * chunks, 1, [&](int64_t begin, int64_t end) {
        auto in = fftwBuffer<float>(n_fft);
        auto spectrum = fftwBuffer<fftwf_complex>(bins);
        std::vector<float> chunk(static_cast<size_t>(bins * kChunk)); // [frame in chunk][bin]
        for (int64_t task = begin; task < end; ++task) {
            const int64_t row = task / chunks;
            const int64_t f0 = (task % chunks) * kChunk;
            const int64_t count = std::min(kChunk, frames - f0);
            const float* h = head_x + row * head_n;
            const float* x = body_x + row * body_n;
            const float* t = tail_x + row * tail_n;
            for (int64_t b = 0; b < count; ++b) {
                const int64_t start = (f0 + b) * hop;
                if (start >= head_n && start + n_fft <= head_n + body_n) {
                    multiply(in.get(), x + (start - head_n), w, n_fft);
                } else { // a frame reaching into the padding
                    for (int64_t i = 0; i < n_fft; ++i) {
                        const int64_t j = start + i;
                        const float sample = j < head_n            ? h[j]
                                             : j < head_n + body_n ? x[j - head_n]
                                                                   : t[j - head_n - body_n];
                        in.get()[i] = sample * w[i];
                    }
                }
                fftwf_execute_dft_r2c(plan, in.get(), spectrum.get());
                magnitudePower(chunk.data() + b * bins, &spectrum.get()[0][0], bins, power);
            }
            float* dst = out + row * out_rows * frames + f0;
            if (filterbank) {
                filterChunk(*filterbank, chunk.data(), bins, count, dst, frames);
            } else {
                for (int64_t k = 0; k < bins; ++k)
                    for (int64_t b = 0; b < count; ++b)
                        dst[k * frames + b] = chunk[static_cast<size_t>(b * bins + k)];
            }
        }
    });
    return result;
}

torch::Tensor cpuApplyFilterbank(const BandedFilterbank& filterbank, const torch::Tensor& spectrum_in) {
    const auto spectrum = spectrum_in.contiguous();
    const int64_t bins = spectrum.size(-2);
    const int64_t frames = spectrum.size(-1);
    if (bins != filterbank.bins)
        throw std::invalid_argument("a filterbank over " + std::to_string(filterbank.bins) +
                                    " bins cannot filter spectra of " + std::to_string(bins) + " bins");
    auto sizes = spectrum.sizes().vec();
    sizes[sizes.size() - 2] = filterbank.rows;
    auto result = torch::empty(sizes, spectrum.options());
    const int64_t lead = bins > 0 ? spectrum.numel() / (bins * std::max<int64_t>(frames, 1)) : 0;
    if (frames == 0 || lead == 0)
        return result.zero_();
    const float* s = spectrum.data_ptr<float>();
    float* out = result.data_ptr<float>();
    at::parallel_for(0, lead * filterbank.rows, 1, [&](int64_t begin, int64_t end) {
        for (int64_t task = begin; task < end; ++task) {
            const int64_t item = task / filterbank.rows;
            const int64_t r = task % filterbank.rows;
            applyBand(filterbank, r, s + item * bins * frames, frames, frames,
                      out + (item * filterbank.rows + r) * frames);
        }
    });
    return result;
}

} // namespace avgraph::nodes
