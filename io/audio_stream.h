#pragma once
// Decoding an audio file block by block, for recordings too long to hold in memory at once.
//
// readAudio (io/audio_file.h) decodes a whole file into one tensor, which is right for dataset clips
// and wrong for a night of field recording: hours of 48 kHz stereo are gigabytes of float32. A stream
// decodes with the same libraries, the same scaling and the same fallback to FFmpeg, so that the blocks
// of a file, concatenated, are exactly readAudio's samples; only what one block needs sits in memory.
//
//     avgraph::host::AudioFileStream stream("night.wav");
//     while (true) {
//         torch::Tensor block = stream.read(65536);   // [channels, n] float32
//         if (block.size(1) == 0)
//             break;                                   // the end of the file
//         ...
//     }
//
// A file that breaks off (a truncated WAV, a damaged Ogg page, a codec error) delivers what decoded
// cleanly first; the read after that throws, naming the file and the time where decoding stopped, so a
// user can tell how much of a long recording was analysed.

#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace avgraph::host {

/** Decodes an audio file block by block, so hours of audio never sit in memory at once. */
class AudioFileStream {
public:
    /**
     * Opens with libsndfile; a file libsndfile cannot open is decoded with FFmpeg (its best audio stream,
     * as readMediaAudio does, but one packet at a time; the first frame is decoded here already, because
     * a stream's true channel count and rate are the decoded frames', not always its header's).
     *
     * @throws std::runtime_error starting with the path, worded as readAudio's: missing file, a folder,
     *         neither decoder opens it (both reasons included), a header without channels, rate or frames.
     */
    explicit AudioFileStream(const std::filesystem::path& file);
    ~AudioFileStream();
    AudioFileStream(AudioFileStream&&) noexcept;
    AudioFileStream& operator=(AudioFileStream&&) noexcept;

    const std::filesystem::path& path() const;
    /** Frames per second as the file declares it (FFmpeg: as its decoded frames carry it). */
    double sampleRate() const;
    int64_t channels() const;
    /**
     * Frames the header announces, when it does: libsndfile's count (for a cut-off WAV, the larger count of
     * its data chunk header); nullopt for FFmpeg, whose durations are estimates, and for an Ogg stream
     * whose last page libsndfile cannot find.
     */
    std::optional<int64_t> frames() const;
    /** Container and encoding as DecodedAudio::format names them: "WAV/PCM_16", "FFMPEG/<container>/<codec>".
     */
    std::string format() const;

    /**
     * The next up to `max_frames` frames as float32 [channels, n], contiguous, scaled as readAudio scales
     * them (integer PCM divided by its full scale, float passed on unchanged). n == max_frames until the
     * end; n == 0 only at the end of the stream, and every read after the end returns n == 0 again. A
     * block of `max_frames` frames is allocated, so the caller's block size bounds the memory.
     *
     * @throws std::runtime_error naming the file and the time where decoding stopped, e.g.
     *         "<path>: decoding stopped at 0:12.480 (sample 199680 of 480000 the header announces): the
     *         file is truncated or damaged", when the file ends before its header's frame count (a WAV's
     *         data chunk size counts), an Ogg stream ends without its last page, or libsndfile or FFmpeg
     *         reports an error. The frames decoded before
     *         are delivered first: the read that meets the problem returns them, the next one throws (and
     *         so does every one after it). std::invalid_argument for max_frames < 1.
     */
    torch::Tensor read(int64_t max_frames);

    /** Frames delivered so far. */
    int64_t position() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/**
 * A time in seconds as people read it in messages: "1:02:03.250" from an hour on (h:mm:ss.mmm),
 * "0:12.480" under it (m:ss.mmm), rounded to the millisecond. Negative times get a leading '-';
 * infinities and NaN are written as "inf" and "nan".
 */
std::string clockTime(double seconds);

} // namespace avgraph::host
