#pragma once
/**
 * Gammatone DSP: the computations behind features.gammatone, reproducing the Python `gammatone`
 * package (detly/gammatone, a port of Dan Ellis's gammatonegram; see ../shared/golden/README.md):
 *   - `gammatoneCentreFreqs`  filters.centre_freqs (Slaney's ERBSpace), returned low to high
 *   - `erbFilterCoefficients` filters.make_erb_filters: Slaney's 4th-order ERB filters as 4 biquads
 *   - `GammatoneIirStream`    gtgram.gtgram: the IIR filterbank, then the RMS over each window
 *   - `gammatoneFftWeights`   fftweight.fft_weights
 *   - `specgramWindow`        fftweight.specgram_window (Ellis's Hann centred in the FFT)
 *   - `fftGammatonegram`      fftweight.fft_gtgram: weights @ |FFT| / n_fft
 *
 * The IIR filterbank runs in float64 on the CPU as a tight loop over samples, which is the right tool
 * here, not tensor ops: a recursive filter is sequential in time, LibTorch 1.13 has no IIR operation
 * (torchaudio's lfilter is not part of it), and a tensor formulation would need several ops per sample.
 * Eight bands run side by side in SIMD registers, and groups of bands, clips and channels run in
 * parallel (at::parallel_for). Each frame's RMS is accumulated as the samples come, so memory does not
 * grow with the signal, and streaming gives the offline result bit for bit. float64 matters: in float32
 * the poles of the low bands sit so close to the unit circle that the output is off by up to 1.2e-3 of
 * each band's maximum (README section 4.6). The FFT approximation uses batched tensor ops (one rfft over
 * all frames, one matmul) on the signal's device and dtype.
 */
#include "nodes/features/spectral.h"

#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace avgraph::nodes {

/** The gammatonegram parameters, with window and hop in samples (the package takes seconds). */
struct GammatoneSettings {
    int64_t n_bands = 64;
    double fmin = 50.0;
    std::optional<double> fmax; ///< nullopt: sr / 2
    int64_t win_length = 1024;  ///< samples averaged into one frame ('iir'); Hann length ('fft')
    int64_t hop_length = 512;
    int64_t n_fft = 2048; ///< FFT size of the 'fft' method (the package: fftSizeFor(win_length))
    double power = 1.0;   ///< exponent applied to each value: 1 the package's RMS amplitude, 2 mean power
};

/** The package's FFT size for a window: 2^ceil(log2(2 * win_length)), 2048 for 1024. */
int64_t fftSizeFor(int64_t win_length);

/**
 * The package's erb_space(low, high, num): `num` frequencies uniform on the Glasberg-Moore ERB scale,
 * from just below `high` down to `low` (high to low, as the package returns them).
 */
std::vector<double> erbSpace(double low_hz, double high_hz, int64_t num);

/** Centre frequencies of the bands, low to high: erb_space(fmin, fmax, n_bands) reversed. */
std::vector<double> gammatoneCentreFreqs(double sample_rate, const GammatoneSettings& settings);

/**
 * make_erb_filters(sr, centre_freqs, width=1): [band, 10] float64 rows [A0, A11, A12, A13, A14, A2, B0,
 * B1, B2, gain], one per centre frequency in the order given.
 */
torch::Tensor erbFilterCoefficients(double sample_rate, const std::vector<double>& centre_freqs);

/** fft_weights(n_fft, sr, n_bands, 1, fmin, fmax, 1 + n_fft/2)[0]: [band, 1 + n_fft/2] float64, low to high.
 */
torch::Tensor gammatoneFftWeights(double sample_rate, const GammatoneSettings& settings);

/** The frames of the 'fft' method as STFT settings: n_fft samples every hop_length, no padding, magnitude. */
StftSettings fftFrameSettings(const GammatoneSettings& settings);

/** specgram_window(n_fft, win_length): a Hann of win_length centred on sample n_fft/2 of n_fft, float64. */
torch::Tensor specgramWindow(int64_t n_fft, int64_t win_length);

/** Frames of `frame_length` samples every `hop` that fit in `n_samples`: 1 + (n - frame_length) / hop, or 0.
 */
int64_t gammatoneFrameCount(int64_t n_samples, int64_t frame_length, int64_t hop);

/**
 * The 'iir' gammatonegram of consecutive blocks of a signal: each band's ERB filter (four cascaded
 * biquads in transposed direct form II, as scipy.signal.lfilter, divided by the gain), squared, and
 * frame t = sqrt(mean of samples [t*hop, t*hop + win_length)) ** power. The filters carry their state across
 * blocks, so frame t is produced by the block that brings the samples received to t*hop + win_length
 * or more and equals the offline frame. Blocks [..., sample] may have any length >= 1; the leading
 * sizes and the sample rate must not change within a stream.
 */
class GammatoneIirStream {
public:
    explicit GammatoneIirStream(const GammatoneSettings& settings = {});

    int64_t latency() const { return settings_.win_length; }
    /** Filters `block` and returns the frames now complete, [..., band, frame] in its dtype and device. */
    torch::Tensor push(const torch::Tensor& block, double sample_rate);
    void reset();

private:
    static constexpr int kLanes = 8; ///< bands filtered side by side

    /** Coefficients of kLanes bands, lane l = band group * kLanes + l (make_erb_filters' columns). */
    struct LaneCoefs {
        double b0[kLanes]{};    ///< A0
        double b1[4][kLanes]{}; ///< A11, A12, A13, A14: one per biquad
        double b2[kLanes]{};    ///< A2
        double a1[kLanes]{};    ///< B1
        double a2[kLanes]{};    ///< B2
        double gain[kLanes]{};
    };
    /** The state of one group of bands of one series (clip and channel). */
    struct Group {
        double z1[4][kLanes]{};
        double z2[4][kLanes]{};
        std::vector<double> sums; ///< [slot][lane]: sums of squared output of the frames under way
    };
    /** Frames that can be under way at once: ceil(win_length / hop_length). */
    int64_t openFrameSlots() const {
        return (settings_.win_length + settings_.hop_length - 1) / settings_.hop_length;
    }
    void setCoefficients(double sample_rate);

    GammatoneSettings settings_;
    double sample_rate_ = 0.0;
    std::vector<LaneCoefs> coefs_; ///< [band group], low to high
    std::vector<int64_t> lead_;
    std::vector<Group> groups_; ///< [series * band group]
    int64_t received_ = 0;      ///< samples received
    int64_t next_frame_ = 0;    ///< frames produced
};

/**
 * gtgram(y, sr, win_length/sr, hop_length/sr, n_bands, fmin) ** power for `signal` [..., sample]:
 * [..., band, frame] with 1 + (samples - win_length) / hop_length frames, in the signal's dtype and device.
 * @throws std::invalid_argument when the signal is shorter than win_length.
 */
torch::Tensor gammatonegram(const torch::Tensor& signal, double sample_rate,
                            const GammatoneSettings& settings);

/**
 * (weights @ |FFT(frame * window)| / n_fft) ** power for frames of n_fft samples every hop_length, no
 * padding: `signal` [..., sample] -> [..., band, frame], 1 + (samples - n_fft) / hop_length frames. `weights`
 * and `window` in the signal's dtype and device.
 * @throws std::invalid_argument when the signal is shorter than n_fft.
 */
torch::Tensor fftGammatonegram(const torch::Tensor& signal, const torch::Tensor& weights,
                               const torch::Tensor& window, const GammatoneSettings& settings,
                               const BandedFilterbank* banded = nullptr);

/**
 * (weights @ magnitude / n_fft) ** power: the bands of |FFT| frames [..., bin, frame] -> [..., band, frame].
 * `banded`, the same weights as a BandedFilterbank, is used for float32 CPU frames: each band of each
 * frame is then summed in one fixed order, whatever the number of frames and the CPU, so a stream cut
 * into any blocks gives the offline bits. (A BLAS matmul picks its kernel and blocking from the matrix
 * sizes and the CPU: on an AMD EPYC, 8 frames at a time and a whole clip differed by 1.1e-6 of the
 * maximum.)
 */
torch::Tensor fftBands(const torch::Tensor& magnitude, const torch::Tensor& weights,
                       const GammatoneSettings& settings, const BandedFilterbank* banded = nullptr);

} // namespace avgraph::nodes
