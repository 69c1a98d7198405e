#pragma once
// Decoding audio files (and the sound of videos) into tensors, and changing their sample rate.
//
// The host is the only place that touches files: nodes receive tensors. Decoding uses libsndfile (WAV,
// FLAC, Ogg Vorbis/Opus, AIFF, ... whatever the installed libsndfile supports) and resampling uses
// libsoxr, the resampler librosa uses by default (`res_type='soxr_hq'`), so features computed after a
// rate change stay comparable with librosa's.
//
//     auto audio = avgraph::host::readAudio("clip.ogg");          // [channels, frames] float32
//     auto at16k = avgraph::host::resample(audio.samples, audio.sample_rate, 16000);

#include <torch/torch.h>

#include <filesystem>
#include <string>

namespace avgraph::host {

/** One decoded file, as it was stored: no mixing, no rate change, no clipping. */
struct DecodedAudio {
    /** float32 [channels, frames], contiguous, so each channel is one row ready for the graph. */
    torch::Tensor samples;
    /** Frames per second as the file declares it; kept as double because graph rates are doubles. */
    double sample_rate = 0.0;
    /** Container and encoding, e.g. "OGG/VORBIS", "WAV/PCM_24", "WAV/FLOAT": for logs and reports. */
    std::string format;
};

/**
 * Reads a whole audio file with libsndfile.
 *
 * Samples are floats as `sf_readf_float` delivers them: integer PCM is divided by its full scale
 * (so 16-bit -32768 becomes -1.0 and 8-bit unsigned is centred on 0), float files are passed on
 * unchanged. Nothing is clipped, and NaN or Inf samples from a float file are passed through too:
 * whether they are an error is for the graph's nodes to decide, not for the decoder.
 *
 * A file libsndfile cannot open (MP4, MOV, WebM, MP3 in an older libsndfile, AAC, ...) is decoded with
 * FFmpeg instead (io/media/media_file.h, readMediaAudio: its best audio stream, at its own rate, as
 * float); `format` is then "FFMPEG/<container>/<codec>", e.g. "FFMPEG/mov,mp4,m4a,3gp,3g2,mj2/aac".
 *
 * @throws avgraph::Error (a std::runtime_error) whose message starts with the path when the path is missing or a folder,
 *         the file cannot be opened by libsndfile nor FFmpeg (both reasons are included), it contains no
 *         audio frames, it yields fewer frames than its header announces (truncated or damaged; for a WAV,
 *         its data chunk's size counts, which libsndfile would quietly trim to what is there), or an Ogg
 *         stream breaks off without its last page.
 */
DecodedAudio readAudio(const std::filesystem::path& file);

/**
 * Resamples every channel of `samples` from `from_rate` to `to_rate` with libsoxr at SOXR_HQ quality
 * (20-bit precision, linear phase), the quality of librosa's default `soxr_hq`.
 *
 * The output has round(N * to_rate / from_rate) frames (halves round up), which is also the number
 * libsoxr itself emits once the end of the input is flushed; the signal is treated as silent before
 * its first and after its last sample, so the first and last few dozen output samples carry the
 * filter's edge transients. All channels go through one resampler in split-channel mode, which
 * gives the same result as resampling each channel alone.
 *
 * @param samples [channels, frames]; converted to contiguous CPU float32 first if it is not.
 * @return `samples` itself (same storage, not a copy) when the rates are equal, since nothing changes.
 * @throws std::invalid_argument for a tensor that is not 2-D or a rate that is not finite and positive;
 *         std::runtime_error if libsoxr reports an error.
 */
torch::Tensor resample(const torch::Tensor& samples, double from_rate, double to_rate);

} // namespace avgraph::host
