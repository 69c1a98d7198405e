#pragma once
/**
 * Constant-Q transforms on tensors: the computations behind features.cqt, as librosa 0.10 makes them.
 *
 *   - CqtMethod::Full    np.abs(librosa.cqt(y, ...)): recursive downsampling (Schörkhuber & Klapuri
 *                        2010). One octave of FFT-domain filters is applied to an STFT (rectangular
 *                        window) of the signal; the signal is then halved in rate and the hop with it,
 *                        so the same n_fft serves the next octave down.
 *   - CqtMethod::Pseudo  librosa.pseudo_cqt: one Hann-windowed STFT long enough for the lowest filter,
 *                        times the magnitudes of all filters.
 *   - CqtMethod::Hybrid  librosa.hybrid_cqt: pseudo-CQT for the bins whose filters fit in two hops,
 *                        the full CQT for the rest.
 *
 * The filters (librosa.filters.wavelet: windowed complex exponentials, normalised, centred in a power
 * of two, FFT'd and sparsified by dropping the `sparsity` quantile of each row's magnitude) are built
 * once, in float64, by a ConstantQ for one sample rate, and applied in the signal's dtype.
 *
 * Octave decimation (`CqtResampler`) follows librosa.resample(y, orig_sr=factor, target_sr=1,
 * res_type, scale=True): either libsoxr at SOXR_HQ, called the way python-soxr does (librosa's
 * default 'soxr_hq'), or scipy.signal.resample's FFT method ('fft'), which is exactly specified.
 */
#include "nodes/features/spectral.h"

#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace avgraph::nodes {

enum class CqtMethod { Full, Pseudo, Hybrid };
enum class CqtResampler { SoxrHq, Fft };
/** The filter windows (scipy.signal.get_window names, periodic). */
enum class CqtWindow { Hann, Hamming, Blackman, Boxcar };

/** librosa.note_to_hz("C1"), the default lowest frequency. */
constexpr double kC1Hz = 32.70319566257483;

/** librosa.cqt's parameters, with its defaults. */
struct CqtSettings {
    CqtMethod method = CqtMethod::Full;
    int64_t hop_length = 512;
    double fmin = kC1Hz;
    int64_t n_bins = 84;
    int64_t bins_per_octave = 12;
    double tuning = 0.0; ///< in fractions of a bin: the bins move to fmin * 2^(tuning / bins_per_octave)
    double filter_scale = 1.0;
    std::optional<double> norm = 1.0; ///< p of the p-norm each filter is divided by; nullopt: none
    double sparsity = 0.01;
    CqtWindow window = CqtWindow::Hann;
    bool scale = true; ///< divide by sqrt(filter length) (full), by sqrt(n_fft) (pseudo)
    PadMode pad_mode = PadMode::Constant;
    CqtResampler res_type = CqtResampler::SoxrHq;
};

/** Centre frequency of each bin: fmin * 2^(tuning / bins_per_octave) * 2^(k / bins_per_octave). */
std::vector<double> cqtFrequencies(const CqtSettings& settings);

/**
 * librosa.resample(y, orig_sr=factor, target_sr=1, res_type, scale=True) on the last dimension:
 * [..., n] -> [..., ceil(n / factor)], multiplied by sqrt(factor). SoxrHq runs libsoxr (SOXR_HQ, in
 * chunks of max(1000, 48000 * factor) samples, then a flush, as python-soxr) and pads or trims its
 * output to ceil(n / factor) like librosa; Fft is scipy.signal.resample. CPU tensors only for SoxrHq.
 */
torch::Tensor decimate(const torch::Tensor& signal, int64_t factor, CqtResampler resampler);

/**
 * A constant-Q transform for one sample rate and dtype: its filters are built once, here, and applied
 * to any number of signals.
 */
class ConstantQ {
public:
    /**
     * @throws std::invalid_argument when the filters reach above the Nyquist frequency (full and hybrid,
     *         as librosa raises), or when the bins are not strictly positive frequencies.
     */
    ConstantQ(double sample_rate, const CqtSettings& settings, const torch::TensorOptions& options);

    /** |CQT| of `signal` [..., sample]: [..., n_bins, frame] with 1 + samples / hop_length frames. */
    torch::Tensor operator()(const torch::Tensor& signal) const;

    /** Pseudo-CQT only: the n_fft of its single STFT (Hann window of n_fft samples). */
    int64_t pseudoFftSize() const;
    /** Pseudo-CQT only: the bins from |STFT| frames [..., 1 + n_fft/2, frame]: [..., n_bins, frame]. */
    torch::Tensor pseudoFromMagnitude(const torch::Tensor& magnitude) const;
    /** Pseudo-CQT only: the STFT settings of its single STFT. */
    StftSettings pseudoStft() const;

    struct Octave;
    struct Full;
    struct Pseudo;

private:
    CqtSettings settings_;
    std::shared_ptr<const Full> full_;     ///< full CQT (the low bins for hybrid)
    std::shared_ptr<const Pseudo> pseudo_; ///< pseudo-CQT (the high bins for hybrid)
};

} // namespace avgraph::nodes
