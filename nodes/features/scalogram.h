#pragma once
/**
 * features.scalogram: the "long-term scalogram" of Chen et al. (DCASE 2021 task 1B), read as wavelet
 * filters applied to a long-window STFT (see docs/features.md, "Scalogram").
 *
 * Each of n_bins analytic Morlet (Gabor) wavelets is a Gaussian in frequency of unit peak,
 *
 *     g_k(f) = exp(-(f - f_k)^2 / (2 sigma_k^2)),
 *     f_k = fmin * r^(k+1),  r = (fmax / fmin)^(1 / (n_bins + 1)),   k = 0 .. n_bins - 1,
 *     FWHM_k = 2 sqrt(2 ln 2) sigma_k = filter_scale * f_k * (r - 1) + gamma,
 *
 * i.e. geometric centres strictly inside (fmin, fmax), constant Q = 1 / (r - 1) as librosa's CQT (which
 * writes r = 2^(1/bins_per_octave)) widened by gamma Hz as librosa's VQT, so that the narrow low wavelets
 * still cover a bin of the STFT. The scalogram of a frame is
 *
 *     S[k, t] = sum_b g_k(f_b)^power |X[b, t]|^power,    f_b = b * sr / n_fft,
 *
 * with X the STFT of features.stft: for power 2 the energy of the frame filtered by wavelet k (Parseval),
 * for power 1 the pseudo-CQT-style magnitude.
 */
#include "graph/registry.h"

#include <torch/types.h>

#include <optional>

namespace avgraph::nodes {

/** The wavelets' parameters besides the STFT's. */
struct WaveletSettings {
    int64_t n_bins = 290;
    double fmin = 32.703195662574764; ///< C1, librosa's CQT default
    std::optional<double> fmax;       ///< nullopt: sr / 2
    double filter_scale = 1.0;
    std::optional<double> gamma; ///< Hz added to every bandwidth; nullopt: sr / n_fft (one STFT bin)
};

/** f_k for k = 0 .. n_bins - 1, in Hz (float64). */
torch::Tensor waveletFrequencies(double sample_rate, const WaveletSettings& settings);

/** g_k(f_b) for the bins of an n_fft STFT: [n_bins, 1 + n_fft/2], float64 on the CPU. */
torch::Tensor waveletFilterbank(double sample_rate, int64_t n_fft, const WaveletSettings& settings);

/** features.scalogram: audio -> wavelet filterbank on |STFT|^power. */
NodeSpec scalogramNodeSpec();

} // namespace avgraph::nodes
