#pragma once
/**
 * Resampling with libsoxr, offline and block by block: the DSP behind signal.resample.
 *
 *     auto y = resampleSignal(x, 44100, 16000, ResampleQuality::High);   // [..., sample]
 *
 *     ResampleStream stream(44100, 16000, ResampleQuality::High, channels, torch::kFloat32);
 *     auto part = stream.push(block);   // [channels, n] -> [channels, m]
 *
 * Both use libsoxr's linear-phase recipes (the `soxr_qq` ... `soxr_vhq` of librosa and python-soxr),
 * one thread, and one resampler for all rows in split-channel mode, which gives the same result as
 * resampling each row alone. Floating-point signals are resampled in float64 when they are float64
 * and in float32 otherwise, on the CPU; the result goes back to the input's device.
 */
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace avgraph::nodes {

/** libsoxr's recipes: SOXR_QQ (cubic), SOXR_LQ, SOXR_MQ (16 bit), SOXR_HQ (20 bit), SOXR_VHQ (28 bit). */
enum class ResampleQuality { Quick, Low, Medium, High, VeryHigh };

/** "quick", "low", "medium", "high", "very_high". */
std::optional<ResampleQuality> resampleQualityFromName(std::string_view name);

/** ceil(n * (to_rate / from_rate)): the length librosa.resample gives (its fix_length). */
int64_t resampledLength(int64_t n_samples, double from_rate, double to_rate);

/**
 * librosa.resample(y, orig_sr=from_rate, target_sr=to_rate, res_type='soxr_*') for `signal`
 * [..., sample]: libsoxr with its end flushed, then cut or zero-padded to resampledLength samples as
 * librosa's fix_length does. The signal is taken as silent before its start and after its end.
 * Returns `signal` itself when the rates are equal.
 */
torch::Tensor resampleSignal(const torch::Tensor& signal, double from_rate, double to_rate,
                             ResampleQuality quality);

/**
 * The samples of `resampleSignal` from consecutive blocks.
 *
 * libsoxr holds back output until its filter and its internal chunk have enough input, so how much a
 * block yields varies. The stream evens that out: once n input samples have arrived it has released
 * exactly the output samples j with j / ratio + latency() <= n (ratio = to_rate / from_rate), each
 * equal to sample j of the offline result (libsoxr is deterministic whatever the block sizes). The
 * latency is the largest delay libsoxr reports (soxr_delay, converted to input samples) while it is fed
 * silence one sample at a time for 2^17 samples, plus 2 samples of margin for the fractional phases
 * that probe did not meet; it depends only on the rates and the quality. The tail that only a flush
 * gives comes from `finish`, at the end of the signal.
 */
class ResampleStream {
public:
    ResampleStream(double from_rate, double to_rate, ResampleQuality quality, int64_t channels,
                   torch::ScalarType dtype);
    ~ResampleStream();
    ResampleStream(const ResampleStream&) = delete;
    ResampleStream& operator=(const ResampleStream&) = delete;

    /** Input samples between an input sample and the output released for it. */
    int64_t latency() const { return latency_; }
    /** Appends `block` [channels, n] (any n >= 0) and returns the output now released, [channels, m]. */
    torch::Tensor push(const torch::Tensor& block);
    /**
     * The end of the signal: flushes libsoxr and returns the rest of the offline result, so that all the
     * pushed output and this have resampledLength(samples pushed) samples, as resampleSignal gives.
     */
    torch::Tensor finish();

    int64_t channels() const { return channels_; }
    torch::ScalarType dtype() const { return dtype_; }

    /** The latency of a stream with these settings (cached per rates and quality). */
    static int64_t measureLatency(double from_rate, double to_rate, ResampleQuality quality);

private:
    struct Soxr;
    std::unique_ptr<Soxr> soxr_;
    double from_rate_, to_rate_;
    double ratio_;
    int64_t channels_;
    torch::ScalarType dtype_;
    int64_t latency_;
    int64_t received_ = 0; ///< input samples pushed
    int64_t released_ = 0; ///< output samples returned
    torch::Tensor held_;   ///< output from libsoxr not yet released, [channels, k]
};

} // namespace avgraph::nodes
