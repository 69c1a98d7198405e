#pragma once
/**
 * Spectral DSP on tensors: the computations behind features.stft, features.mel,
 * features.power_to_db and features.logmel, as plain functions so that several nodes share them.
 *
 * Everything here reproduces librosa 0.10 (see ../shared/golden/README.md for the reference
 * outputs and tolerances):
 *   - `hannWindow`        scipy.signal.get_window("hann", n, fftbins=True)
 *   - `padSignal`         np.pad(y, (left, right), mode="constant" | "reflect"), short signals included
 *   - `spectrogram`       np.abs(librosa.stft(y, ...)) ** power
 *   - `melFilterbank`     librosa.filters.mel(...), computed in float64
 *   - `powerToDb`         librosa.power_to_db(S, ref, amin, top_db), one maximum per clip
 *   - `StftStream`        the frames of `spectrogram`, block by block
 *
 * Signals are tensors whose last dimension is time ([..., sample]); spectra put the frequency bin
 * before the frame ([..., bin, frame]), like librosa. Only tensor ops are used, so the functions run
 * on whatever device their input is on; constants (windows, filterbanks) are made in float64 on the
 * CPU and then converted to the caller's dtype and device. float32 signals on the CPU take the fused
 * FFTW path of cpu_spectrum.h instead, which gives the same values several times faster.
 */
#include "nodes/features/cpu_spectrum.h"

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>

namespace avgraph::nodes {

/** numpy's np.pi, as the reference implementations compute with it. */
constexpr double kPi = 3.141592653589793;

/**
 * A filterbank over FFT bins (mel triangles, gammatone weights) in both the forms the two paths use:
 * the dense [rows, bins] float32 matrix for LibTorch's matmul, and its bands for the CPU fast path.
 */
struct Filterbank {
    torch::Tensor dense; ///< [rows, bins], float32 on the CPU
    BandedFilterbank banded;

    explicit Filterbank(const torch::Tensor& matrix);
    Filterbank() = default;
};

// ---------------------------------------------------------------------------------------------
// STFT

/** How the signal is extended beyond its ends when frames are centred (librosa's pad_mode). */
enum class PadMode { Constant, Reflect };

/** The STFT parameters, named as in librosa.stft. */
struct StftSettings {
    int64_t n_fft = 2048;
    int64_t hop_length = 512;
    int64_t win_length = 2048; ///< <= n_fft; the window is zero-padded to n_fft, centred
    bool center = true;        ///< pad n_fft/2 samples on both sides so frame t is centred on t*hop
    PadMode pad_mode = PadMode::Constant;
    double power = 2.0; ///< exponent applied to the magnitude: 1 magnitude, 2 power

    int64_t bins() const { return n_fft / 2 + 1; }
    /** Samples added before the signal (n_fft/2 when centred). */
    int64_t padding() const { return center ? n_fft / 2 : 0; }
};

/**
 * Periodic Hann window of `length` samples (the DFT-even window that scipy's get_window("hann",
 * length, fftbins=True) returns), computed in float64. A window of one sample is [1], as in scipy.
 */
torch::Tensor hannWindow(int64_t length, const torch::TensorOptions& options = torch::kFloat64);

/** The Hann window of `win_length` zero-padded to `n_fft` with the window centred, as librosa does. */
torch::Tensor stftWindow(const StftSettings& settings, const torch::TensorOptions& options);

/**
 * Extends the last dimension by `left` and `right` samples as np.pad does: zeros for Constant, a
 * mirror image without repeating the edge sample for Reflect. Unlike torch's reflection padding,
 * Reflect accepts padding longer than the signal: like numpy it keeps reflecting back and forth (a
 * one-sample signal is repeated).
 */
torch::Tensor padSignal(const torch::Tensor& signal, int64_t left, int64_t right, PadMode mode);

/**
 * The signal padded for centred frames as librosa.stft pads it: n_fft/2 samples on both sides (none
 * when not centred), zeros or a mirror image. For Reflect, librosa mirrors the tail from the stretch that
 * the last frames cover rather than from the whole signal; the two differ in the last padded samples
 * when that stretch is at most n_fft/2 long (for instance hop = n_fft/2 and a multiple of hop samples),
 * and this follows librosa there too.
 */
torch::Tensor centrePad(const torch::Tensor& signal, const StftSettings& settings);

/** The samples centrePad puts before and after the signal, [..., padding] each. */
std::pair<torch::Tensor, torch::Tensor> centrePadEdges(const torch::Tensor& signal,
                                                       const StftSettings& settings);

/** Throws the offline STFT's error for a signal of `n` samples that gives no frame (center = false). */
void requireOneFrame(int64_t n, const StftSettings& settings);

/**
 * The samples centrePad puts after a signal of `n` samples whose last min(n, n_fft/2 + 1) samples are
 * `last`: all the tail padding needs, so a stream can end like the offline STFT.
 */
torch::Tensor centreTail(const torch::Tensor& last, int64_t n, const StftSettings& settings);

/**
 * Frames librosa.stft produces for a signal of `n_samples`: 1 + (n_samples + 2*padding - n_fft) / hop,
 * or 0 when the (padded) signal is shorter than one window.
 */
int64_t stftFrameCount(int64_t n_samples, const StftSettings& settings);

/**
 * |STFT|^power of frames that are already padded: frame t covers samples [t*hop, t*hop + n_fft) of
 * `padded` [..., samples]; `window` has n_fft samples. Returns [..., bin, frame] with
 * 1 + (samples - n_fft) / hop frames (the caller makes sure samples >= n_fft). No scaling: an
 * unnormalised FFT and no window normalisation, like librosa. With a `filterbank`, returns
 * filterbank x power, [..., row, frame], fused with the FFT on the CPU fast path.
 */
torch::Tensor framesToPower(const torch::Tensor& padded, const torch::Tensor& window,
                            const StftSettings& settings, const Filterbank* filterbank = nullptr);

/**
 * np.abs(librosa.stft(signal, n_fft, hop_length, win_length, window="hann", center, pad_mode)) ** power
 * for `signal` [..., sample], giving [..., bin, frame] in the signal's dtype and device.
 *
 * @throws std::invalid_argument when the signal is empty or, with center=false, shorter than n_fft
 *         (librosa raises the same); with center=true a signal shorter than n_fft gives one or more
 *         frames of the padded signal, as librosa does (it only warns).
 */
torch::Tensor spectrogram(const torch::Tensor& signal, const torch::Tensor& window,
                          const StftSettings& settings, const Filterbank* filterbank = nullptr);

/**
 * The frames of `spectrogram`, computed from consecutive blocks of a signal.
 *
 * Frame t is produced by the block that brings the number of samples received to t*hop + latency()
 * or more, and equals frame t of `spectrogram` over the whole signal, since it only needs samples that
 * have arrived: with centred frames the left padding is known from the start (zeros, or for Reflect
 * the mirror of samples 1..n_fft/2, so Reflect waits for one more sample), while the frames that reach
 * into the right padding are never produced: a stream has no end. Blocks may have any length >= 1;
 * their leading dimensions (batch, channel) must not change within a stream.
 */
class StftStream {
public:
    explicit StftStream(const StftSettings& settings = {});

    /** Samples of look-ahead: n_fft - n_fft/2 centred (plus one for the first Reflect frame), n_fft not. */
    int64_t latency() const;
    /**
     * Appends `block` [..., sample] and returns the frames now complete, [..., bin, frame] (maybe 0
     * frames), or [..., row, frame] through `filterbank`.
     */
    torch::Tensor push(const torch::Tensor& block, const torch::Tensor& window,
                       const Filterbank* filterbank = nullptr);
    /**
     * The end of the signal: the frames that its end padding completes (zeros, or the mirror of its last
     * samples, as the offline STFT pads), so that all the pushed frames and these equal the offline ones.
     */
    torch::Tensor finish(const torch::Tensor& window, const Filterbank* filterbank = nullptr);
    /** Forgets the past: the next block starts a new signal. */
    void reset();

private:
    StftSettings settings_;
    torch::Tensor pending_;    ///< padded signal from the first sample of the next frame on
    torch::Tensor last_;       ///< the signal's last n_fft/2 + 1 samples (centred, reflect padding)
    int64_t received_ = 0;     ///< samples of the signal received so far
    int64_t next_frame_ = 0;   ///< index of the next frame to produce
    int64_t skip_ = 0;         ///< samples still to drop before the next frame (hop > n_fft)
    bool head_padded_ = false; ///< the left padding has been put in front of pending_
};

// ---------------------------------------------------------------------------------------------
// Mel

/** librosa.filters.mel's parameters besides sr and n_fft. */
struct MelSettings {
    int64_t n_mels = 128;
    double fmin = 0.0;
    std::optional<double> fmax; ///< nullopt: sr / 2
    bool htk = false;           ///< HTK formula instead of Slaney's (linear below 1 kHz, log above)
    bool slaney_norm = true; ///< norm="slaney": divide each triangle by its width in Hz (2 / (f[i+2] - f[i]))
};

/** Hz to mel, as librosa.hz_to_mel (Slaney's auditory-toolbox scale unless `htk`). */
double hzToMel(double hz, bool htk);
/** Mel to Hz, the inverse of hzToMel, as librosa.mel_to_hz. */
double melToHz(double mel, bool htk);

/**
 * librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels, fmin, fmax, htk, norm, dtype): [n_mels, 1 + n_fft/2].
 *
 * The triangles are computed in float64. For dtype float32 the result is rounded the way librosa's
 * default dtype=np.float32 rounds it (each triangle rounded to float32, then scaled by the Slaney norm in
 * float64 and rounded again), which is the matrix librosa.feature.melspectrogram uses; float64 gives
 * librosa's dtype=np.float64. The frequency range must lie in [0, sr/2] with fmin < fmax (checked by
 * the nodes). A triangle too narrow to cover an FFT bin leaves its row all zero, as in librosa
 * (which warns); its mel power is then 0.
 */
torch::Tensor melFilterbank(double sample_rate, int64_t n_fft, const MelSettings& settings,
                            torch::ScalarType dtype = torch::kFloat32);

/** `filterbank` [row, bin] applied to `spectrum` [..., bin, frame]: [..., row, frame]. */
torch::Tensor applyFilterbank(const Filterbank& filterbank, const torch::Tensor& spectrum);

// ---------------------------------------------------------------------------------------------
// Decibels

/** librosa.power_to_db's parameters; `ref` is a fixed value (librosa also takes a function). */
struct DbSettings {
    double ref = 1.0;
    double amin = 1e-10;
    std::optional<double> top_db = 80.0; ///< nullopt: no clipping
};

/**
 * 10*log10(max(amin, S)) - 10*log10(max(amin, |ref|)), then, with top_db, max(x, max(x) - top_db).
 *
 * librosa takes the maximum over the whole array it is given, i.e. over one clip (all its channels,
 * bins and frames). Here the leading dimension of `power` is the batch, so the maximum is taken per
 * batch item over all remaining dimensions: each clip is clipped against its own maximum, exactly as
 * if librosa were called on that clip alone, whatever else is in the batch.
 */
torch::Tensor powerToDb(const torch::Tensor& power, const DbSettings& settings);

// ---------------------------------------------------------------------------------------------

/**
 * The constant tensors a node derives from its parameters (windows, filterbanks), kept per device,
 * dtype, sample rate and size so they are computed once. Not synchronised: the engine never runs
 * one node from two threads at once, and each node owns its cache.
 */
class ConstantCache {
public:
    template <typename Make>
    const torch::Tensor& get(const torch::TensorOptions& options, double sample_rate, int64_t size,
                             Make&& make) {
        Key key{options.device().str(), static_cast<int>(options.dtype().toScalarType()), sample_rate, size};
        auto it = tensors_.find(key);
        if (it == tensors_.end())
            it = tensors_.emplace(key, make().to(options)).first;
        return it->second;
    }

private:
    using Key = std::tuple<std::string, int, double, int64_t>;
    std::map<Key, torch::Tensor> tensors_;
};

} // namespace avgraph::nodes
