#pragma once
// What readMediaAudio (io/media/media_file.h) and AudioFileStream's FFmpeg fallback (io/audio_stream.h)
// share, so that a soundtrack streamed packet by packet opens, converts and fails as when it is read whole.
// Internal to io/media/media_file.cpp, which implements it, and io/audio_stream.cpp.

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libswresample/swresample.h>
}

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace avgraph::host {

/** av_strerror's text for an FFmpeg error code ("Invalid data found when processing input"). */
std::string ffmpegReason(int code);

/**
 * Silences FFmpeg's own log, once per process: every problem it reports reaches the user in an avgraph
 * message, and its log lines would only repeat them, unattributed, on stderr.
 */
void quietFfmpegLog();

struct InputCloser {
    void operator()(AVFormatContext* f) const { avformat_close_input(&f); }
};
struct CodecCloser {
    void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameFree {
    void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketFree {
    void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwrFree {
    void operator()(SwrContext* s) const { swr_free(&s); }
};
using InputPtr = std::unique_ptr<AVFormatContext, InputCloser>;
using CodecPtr = std::unique_ptr<AVCodecContext, CodecCloser>;
using FramePtr = std::unique_ptr<AVFrame, FrameFree>;
using PacketPtr = std::unique_ptr<AVPacket, PacketFree>;

/** An opened file and the decoder of one of its streams. */
struct MediaDecoder {
    std::filesystem::path file;
    InputPtr input;
    CodecPtr codec;
    AVStream* stream = nullptr;
};

/**
 * Opens the best audio stream of a file and its decoder, as readMediaAudio does.
 *
 * @throws std::runtime_error worded as readMediaAudio's: the path, the problem with FFmpeg's reason in
 *         "(FFmpeg: ...)", and what was expected.
 */
MediaDecoder openAudioDecoder(const std::filesystem::path& file);

/** Why decoding stopped; each caller words it for its own messages. */
struct DecodingError {
    std::string problem; ///< "cannot decode the aac stream", "the audio stream changes from 2 to 1 channels"
    int ffmpeg_code = 0; ///< FFmpeg's error code where FFmpeg reported the problem, else 0
    std::string
        advice; ///< what readMediaAudio adds: "the file is truncated or damaged", "expected ...", or ""
};

/**
 * The decoded frames of a MediaDecoder's stream, one at a time: every packet of the stream goes through
 * the decoder, then the flush for the frames it still holds. readMediaAudio, readImage, readVideoFrames and
 * AudioFileStream all decode through it, so a file streamed gives the frames it gives when read whole.
 * Decoding errors are errors (DecodingError): a damaged file is reported, not silently shortened.
 */
class FrameReader {
public:
    /** Reads from `decoder`, which must outlive the reader. */
    explicit FrameReader(MediaDecoder& decoder);
    /**
     * The next decoded frame, or nullptr at the end (and after it). The frame is the reader's and stays
     * valid until the next call; its references may be moved out. @throws DecodingError
     */
    AVFrame* next();

private:
    MediaDecoder* decoder_;
    PacketPtr packet_;
    FramePtr frame_;
    bool flushing_ = false, finished_ = false;
};

/**
 * Decoded audio frames converted to planar float32 by libswresample, at the frames' own rate and channel
 * count, appended to one vector per channel. Integer samples are scaled to [-1, 1), as libsndfile does.
 * The converter is set up again when the frames' sample format or channel layout changes; a change in
 * the channel count or the rate is an error, since the samples would no longer be one signal.
 */
class PlanarFloatAudio {
public:
    PlanarFloatAudio() = default;
    ~PlanarFloatAudio();
    PlanarFloatAudio(const PlanarFloatAudio&) = delete;
    PlanarFloatAudio& operator=(const PlanarFloatAudio&) = delete;

    /** Converts a decoded frame and appends its samples. @throws DecodingError */
    void append(const AVFrame* frame);
    /** Appends what libswresample still holds, at the end of the stream. @throws DecodingError */
    void flush();

    /** The samples converted so far, [channel][sample]; the caller may take or clear them. */
    std::vector<std::vector<float>>& channels() { return channels_; }
    const std::vector<std::vector<float>>& channels() const { return channels_; }
    /** The frames' sample rate; 0 before the first frame. */
    int rate() const { return rate_; }

private:
    void convert(const uint8_t** data, int count);

    std::unique_ptr<SwrContext, SwrFree> swr_;
    AVChannelLayout layout_{}; // of the frames swr_ is set up for
    int format_ = -1;
    int rate_ = 0;
    std::vector<std::vector<float>> channels_;
    std::vector<float*> rows_;
};

} // namespace avgraph::host
