#pragma once
/**
 * LogMelAnalysis: audio to a log-mel spectrogram in dB, offline or block by block, as
 * librosa.power_to_db(librosa.feature.melspectrogram(y, ...)) computes it. It is the whole
 * computation of features.logmel, kept apart so that nodes built on the log-mel (features.mfcc from
 * audio) run exactly the same path, with the window and filterbank computed once.
 *
 * Not synchronised, like the nodes that own it: one call at a time.
 */
#include "nodes/features/spectral.h"

#include <map>

namespace avgraph::nodes {

class LogMelAnalysis {
public:
    LogMelAnalysis(const StftSettings& stft, const MelSettings& mel, const DbSettings& db);

    const StftSettings& stft() const { return stft_; }
    const DbSettings& db() const { return db_; }

    /**
     * The log-mel of whole clips: `audio` [batch, channel, sample] at `sample_rate` gives
     * [batch, channel, n_mels, frame] in the audio's dtype and device. top_db clips each clip against
     * its own maximum.
     * @throws std::invalid_argument when the mel range does not fit the sample rate, or the signal is
     *         empty (see `spectrogram`).
     */
    torch::Tensor offline(const torch::Tensor& audio, double sample_rate);

    /**
     * The log-mel frames that the next block of a stream completes (see StftStream), and with `end` also
     * those that the end of the signal completes. top_db is not applied: a stream never sees the clip's
     * maximum, so the caller refuses to stream with it or defers it (StreamSpec::defer_top_db).
     */
    torch::Tensor push(const torch::Tensor& block, double sample_rate, bool end = false);
    /** Checks the mel range against a sample rate known before any audio, and makes its filterbank. */
    void prepare(double sample_rate);
    /** Forgets the stream's past. */
    void reset() { stream_.reset(); }
    /** The stream's look-ahead in samples, that of features.stft. */
    int64_t latency() const { return stream_.latency(); }

private:
    const torch::Tensor& window(const torch::Tensor& like);
    /** librosa's float32 mel matrix for this sample rate, made once. */
    const Filterbank& filterbank(double sample_rate);

    StftSettings stft_;
    MelSettings mel_;
    DbSettings db_;
    StftStream stream_;
    ConstantCache windows_;
    std::map<double, Filterbank> filterbanks_;
};

} // namespace avgraph::nodes
