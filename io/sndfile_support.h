#pragma once
// What readAudio (io/audio_file.h) and AudioFileStream (io/audio_stream.h) share about libsndfile, so
// that a file streamed block by block opens, decodes, is named and fails exactly as when it is read whole.
// Internal to io/audio_file.cpp, which implements it, and io/audio_stream.cpp.
//
// libsndfile says nothing when a file breaks off in two common cases: it trims a WAV data chunk that runs
// past the end of the file to what is there, and it decodes an Ogg stream without its last page up to the
// cut without an error. SndfileReader checks both, so a truncated recording is never taken for a whole one.

#include <sndfile.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace avgraph::host {

struct SndfileCloser {
    void operator()(SNDFILE* f) const { sf_close(f); }
};
using SndfilePtr = std::unique_ptr<SNDFILE, SndfileCloser>;

/** Container and encoding of a libsndfile format code as DecodedAudio::format names them ("WAV/PCM_16"). */
std::string sndfileFormatName(int format);

/** An audio file opened with libsndfile, read into rows of planar float32 scaled as readAudio documents. */
class SndfileReader {
public:
    SndfileReader(const std::filesystem::path& file, SndfilePtr sf, const SF_INFO& info);

    double sampleRate() const { return rate_; }
    int64_t channels() const { return channels_; }
    std::string format() const { return sndfileFormatName(format_); }
    /** libsndfile's frame count; nullopt when it cannot tell (an Ogg stream whose last page is missing). */
    std::optional<int64_t> frames() const { return frames_; }
    /** The frames the header announces: a cut-off WAV's larger data chunk count, else frames(). */
    std::optional<int64_t> announced() const { return announced_ ? announced_ : frames_; }
    /** Frames read so far. */
    int64_t done() const { return done_; }

    /**
     * Reads up to `want` frames into `out` (channel c's row at out + c * stride). Fewer frames mean the end
     * of the file or an error, which endProblem() then tells apart.
     */
    int64_t read(float* out, int64_t stride, int64_t want);

    /**
     * Why the file ended before it should have, once a read came back short or frames() are read: nullopt
     * when it ended where it should; else libsndfile's words ("libsndfile: ..."), or "" when it gave none
     * and fewer frames than announced() came.
     */
    std::optional<std::string> endProblem() const;

private:
    SndfilePtr sf_;
    double rate_;
    int64_t channels_;
    int format_;
    std::optional<int64_t> frames_;
    std::optional<int64_t> announced_; // a WAV data chunk's count, when larger than libsndfile's
    int64_t done_ = 0;
    std::string said_; // libsndfile's error where a read came back short
    std::vector<float> chunk_;
};

/**
 * Opens an audio file as readAudio and AudioFileStream do, with their checks and their words: a path that
 * is missing or a folder, a header without channels, rate or frames (one whose WAV data chunk announces
 * frames that are not there says it is truncated). A file libsndfile cannot open is handed to `use_ffmpeg`
 * instead, and nullptr comes back. When `use_ffmpeg` throws, the error names libsndfile's and FFmpeg's
 * reasons; it may throw readMediaAudio's errors (io/media/media_file.h), from which the reason is taken,
 * or an exception whose message is FFmpeg's reason alone.
 *
 * @throws std::runtime_error starting with the path.
 */
std::unique_ptr<SndfileReader> openAudioFile(const std::filesystem::path& file,
                                             const std::function<void()>& use_ffmpeg);

} // namespace avgraph::host
