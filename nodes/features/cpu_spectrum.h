#pragma once
/**
 * The CPU fast path of the spectral nodes: framing, windowing, FFT, |X|^power and a banded filterbank
 * fused in one pass over cache-sized chunks of frames, for float32 tensors on the CPU.
 *
 * Why not LibTorch's own ops here: at::stft runs pocketfft and then materialises the complex spectrum;
 * squaring it and the dense mel matmul each stream the whole spectrum through memory again. On a
 * 10-minute 16 kHz file that chain takes about 430 ms, far from the throughput the feature nodes promise.
 * FFTW (Debian's libfftw3, the FFT most audio software uses) with plans measured once per size is
 * about 2x faster than pocketfft for these sizes, and keeping each chunk's spectrum in cache while it is
 * squared and mel-filtered avoids the memory traffic. Other dtypes and devices (float64, CUDA) keep the
 * LibTorch path in spectral.cpp; both give librosa's result within the golden tolerances.
 */
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace avgraph::nodes {

/**
 * A filterbank whose rows are non-zero only over one contiguous run of bins each (mel triangles,
 * gammatone FFT weights): row r is `weights[offsets[r] .. offsets[r] + (last[r] - first[r]))` over bins
 * [first[r], last[r]). Applying it costs the number of non-zeros, not rows x bins.
 */
struct BandedFilterbank {
    int64_t rows = 0;
    int64_t bins = 0;
    std::vector<int64_t> first, last, offsets;
    std::vector<float> weights;

    /** The band structure of a dense [rows, bins] matrix (converted to float32 on the CPU). */
    static BandedFilterbank fromDense(const torch::Tensor& dense);
};

/** True when the fast path applies: a float32 CPU tensor. */
bool cpuFastPath(const torch::Tensor& t);

/**
 * A signal extended at both ends without copying it: `head`, `body` and `tail`, each [rows, samples]
 * (float32, CPU), read as if concatenated along the samples.
 */
struct PaddedSignal {
    torch::Tensor head, body, tail;
};

/**
 * |FFT(window * frame)|^power of the frames of `padded` (float32, CPU): frame t covers samples
 * [t*hop, t*hop + n_fft) of head + body + tail. With a filterbank the result is filterbank x power, [rows,
 * fb.rows, frames]; without, the power spectrum [rows, n_fft/2 + 1, frames]. `window` has n_fft float32
 * values. Runs on LibTorch's intra-op threads (at::parallel_for over chunks of frames).
 */
torch::Tensor cpuFramePower(const PaddedSignal& padded, const torch::Tensor& window, int64_t n_fft,
                            int64_t hop, double power, const BandedFilterbank* filterbank);

/** `filterbank` applied to `spectrum` [..., bins, frames] (float32, CPU): [..., rows, frames]. */
torch::Tensor cpuApplyFilterbank(const BandedFilterbank& filterbank, const torch::Tensor& spectrum);

} // namespace avgraph::nodes
