#include "io/media/media_file.h"

#include "graph/error.h"
#include "io/atomic_file.h"
#include "io/media/ffmpeg_support.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
}

#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>

namespace avgraph::host {

namespace fs = std::filesystem;

namespace {

/** "(FFmpeg: Invalid data found when processing input)": what FFmpeg said, for a message. */
std::string said(int code) { return "(FFmpeg: " + ffmpegReason(code) + ")"; }

struct SwsFree {
    void operator()(SwsContext* s) const { sws_freeContext(s); }
};

FramePtr newFrame() {
    FramePtr f(av_frame_alloc());
    if (!f)
        throw std::bad_alloc();
    return f;
}

InputPtr openInput(const fs::path& file, const char* expected) {
    quietFfmpegLog();
    std::error_code ec;
    auto status = fs::status(file, ec);
    if (!fs::exists(status))
        throw fileError(file, std::string("no such file; expected ") + expected);
    if (fs::is_directory(status))
        throw fileError(file, std::string("is a folder; expected ") + expected);
    AVFormatContext* raw = nullptr;
    int err = avformat_open_input(&raw, file.c_str(), nullptr, nullptr);
    if (err < 0)
        throw fileError(file, "cannot open " + said(err) + "; expected " + expected);
    InputPtr input(raw);
    err = avformat_find_stream_info(input.get(), nullptr);
    if (err < 0)
        throw fileError(file, "cannot read the stream information " + said(err) + "; expected " + expected);
    return input;
}

MediaDecoder openDecoder(const fs::path& file, AVMediaType type, const char* expected) {
    MediaDecoder d;
    d.file = file;
    d.input = openInput(file, expected);
    const AVCodec* codec = nullptr;
    int index = av_find_best_stream(d.input.get(), type, -1, -1, &codec, 0);
    const char* what = type == AVMEDIA_TYPE_AUDIO ? "audio" : "video or picture";
    if (index == AVERROR_STREAM_NOT_FOUND)
        throw fileError(file, std::string("has no ") + what + " stream; expected " + expected);
    if (index < 0 || !codec)
        throw fileError(file, std::string("has no ") + what + " stream FFmpeg can decode " +
                                  said(index < 0 ? index : AVERROR_DECODER_NOT_FOUND) + "; expected " +
                                  expected);
    d.stream = d.input->streams[index];
    d.codec.reset(avcodec_alloc_context3(codec));
    if (!d.codec)
        throw std::bad_alloc();
    int err = avcodec_parameters_to_context(d.codec.get(), d.stream->codecpar);
    if (err >= 0) {
        d.codec->pkt_timebase = d.stream->time_base;
        err = avcodec_open2(d.codec.get(), codec, nullptr);
    }
    if (err < 0)
        throw fileError(file, std::string("cannot open the ") + codec->name + " decoder " + said(err));
    return d;
}

/** A decoding error as readMediaAudio words it: the problem, FFmpeg's reason, then the advice. */
[[noreturn]] void failDecoding(const fs::path& file, const DecodingError& e) {
    throw fileError(file, e.problem + (e.ffmpeg_code ? " " + said(e.ffmpeg_code) : "") +
                              (e.advice.empty() ? "" : "; " + e.advice));
}

/**
 * Hands each decoded frame of the decoder's stream to `take`, until the end or until `take` returns false.
 * A DecodingError, the reader's or `take`'s, fails naming the file.
 */
void decodeFrames(MediaDecoder& d, const std::function<bool(AVFrame*)>& take) {
    try {
        FrameReader frames(d);
        while (AVFrame* frame = frames.next())
            if (!take(frame))
                return;
    } catch (const DecodingError& e) {
        failDecoding(d.file, e);
    }
}

bool isYuv(AVPixelFormat format) {
    const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(format);
    return desc && !(desc->flags & AV_PIX_FMT_FLAG_RGB) && desc->nb_components >= 3;
}

bool isFullRangeFormat(AVPixelFormat format) {
    return format == AV_PIX_FMT_YUVJ420P || format == AV_PIX_FMT_YUVJ422P || format == AV_PIX_FMT_YUVJ444P ||
           format == AV_PIX_FMT_YUVJ440P || format == AV_PIX_FMT_YUVJ411P;
}

/** Converts decoded pictures to RGB24 at one output size, keeping its libswscale context between calls. */
class RgbConverter {
public:
    RgbConverter(const fs::path& file, int64_t width, int64_t height)
        : file_(file), width_(width), height_(height) {}

    /** The picture as [3, H, W] uint8 (H, W: the requested size, or the frame's when none was asked). */
    torch::Tensor convert(const AVFrame* frame) {
        const int w = width_ > 0 ? int(width_) : frame->width;
        const int h = height_ > 0 ? int(height_) : frame->height;
        const auto format = static_cast<AVPixelFormat>(frame->format);
        torch::Tensor hwc = torch::empty({h, w, 3}, torch::kUInt8);
        uint8_t* out = hwc.data_ptr<uint8_t>();
        if (format == AV_PIX_FMT_RGB24 && w == frame->width && h == frame->height) {
            // Already what is asked for: copied, so that a PNG written by writePng reads back exactly.
            for (int y = 0; y < h; ++y)
                std::copy_n(frame->data[0] + ptrdiff_t(y) * frame->linesize[0], size_t(w) * 3,
                            out + size_t(y) * size_t(w) * 3);
            return hwc.permute({2, 0, 1}).contiguous();
        }
        // Bicubic, as FFmpeg's scale filter; full chroma interpolation and accurate rounding, since a frame
        // is converted once and its colours are what the models learn from.
        sws_.reset(sws_getCachedContext(sws_.release(), frame->width, frame->height, format, w, h,
                                        AV_PIX_FMT_RGB24, SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT,
                                        nullptr, nullptr, nullptr));
        if (!sws_)
            throw fileError(file_, std::string("libswscale cannot convert ") + nameOf(format) + " " +
                                       std::to_string(frame->width) + "x" + std::to_string(frame->height) +
                                       " to RGB " + std::to_string(w) + "x" + std::to_string(h));
        if (isYuv(format)) {
            // The frame's own matrix (BT.709 for HD video, BT.601 for JPEG) and range, to full-range RGB.
            const int space = frame->colorspace == AVCOL_SPC_UNSPECIFIED ? SWS_CS_DEFAULT : frame->colorspace;
            const int full = frame->color_range == AVCOL_RANGE_JPEG || isFullRangeFormat(format);
            sws_setColorspaceDetails(sws_.get(), sws_getCoefficients(space), full,
                                     sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
        }
        uint8_t* planes[4] = {out, nullptr, nullptr, nullptr};
        int strides[4] = {w * 3, 0, 0, 0};
        sws_scale(sws_.get(), frame->data, frame->linesize, 0, frame->height, planes, strides);
        return hwc.permute({2, 0, 1}).contiguous();
    }

private:
    static const char* nameOf(AVPixelFormat format) {
        const char* name = av_get_pix_fmt_name(format);
        return name ? name : "an unknown pixel format";
    }

    fs::path file_;
    int64_t width_, height_;
    std::unique_ptr<SwsContext, SwsFree> sws_;
};

double seconds(int64_t ts, AVRational base) { return double(ts) * av_q2d(base); }

double streamDuration(const MediaDecoder& d) {
    if (d.stream->duration != AV_NOPTS_VALUE && d.stream->duration > 0)
        return seconds(d.stream->duration, d.stream->time_base);
    if (d.input->duration != AV_NOPTS_VALUE && d.input->duration > 0)
        return double(d.input->duration) / AV_TIME_BASE;
    return 0.0;
}

constexpr const char* kImageExpected = "an image file (JPEG, PNG, BMP, WebP, ...)";
constexpr const char* kVideoExpected = "a video file FFmpeg decodes (MP4, MOV, WebM, MKV, AVI, ...)";
constexpr const char* kAudioExpected = "a media file with an audio stream (WAV, MP3, MP4, MOV, WebM, ...)";

} // namespace

std::string ffmpegReason(int code) {
    char text[AV_ERROR_MAX_STRING_SIZE] = {};
    av_strerror(code, text, sizeof text);
    return text;
}

// Every problem FFmpeg reports reaches the user in an avgraph message with av_strerror's text; its own
// log lines ("[mov,mp4 @ 0x55...] moov atom not found") would only repeat that, unattributed, on stderr,
// and the audio loader's fallback would print them for every file libsndfile cannot read. Quiet, not
// fatal-only: decoders log ordinary bad input at the fatal level ("No JPEG data found in image").
void quietFfmpegLog() {
    static std::once_flag once;
    std::call_once(once, [] { av_log_set_level(AV_LOG_QUIET); });
}

MediaDecoder openAudioDecoder(const fs::path& file) {
    return openDecoder(file, AVMEDIA_TYPE_AUDIO, kAudioExpected);
}

FrameReader::FrameReader(MediaDecoder& decoder)
    : decoder_(&decoder), packet_(av_packet_alloc()), frame_(av_frame_alloc()) {
    if (!packet_ || !frame_)
        throw std::bad_alloc();
}

AVFrame* FrameReader::next() {
    AVCodecContext* codec = decoder_->codec.get();
    av_frame_unref(frame_.get()); // the frame handed out last time
    while (!finished_) {
        int err = avcodec_receive_frame(codec, frame_.get());
        if (err == 0)
            return frame_.get();
        if (err == AVERROR_EOF || (err == AVERROR(EAGAIN) && flushing_)) {
            finished_ = true;
            break;
        }
        if (err != AVERROR(EAGAIN))
            throw DecodingError{std::string("cannot decode the ") + codec->codec->name + " stream", err, ""};
        // The decoder wants input: the next packet of the stream, or the flush after the last one.
        err = av_read_frame(decoder_->input.get(), packet_.get());
        if (err == AVERROR_EOF) {
            avcodec_send_packet(codec, nullptr); // flush: the frames the decoder still holds
            flushing_ = true;
            continue;
        }
        if (err < 0)
            throw DecodingError{"cannot read", err, "the file is truncated or damaged"};
        if (packet_->stream_index != decoder_->stream->index) {
            av_packet_unref(packet_.get());
            continue;
        }
        err = avcodec_send_packet(codec, packet_.get());
        av_packet_unref(packet_.get());
        if (err < 0 && err != AVERROR(EAGAIN))
            throw DecodingError{std::string("cannot decode the ") + codec->codec->name + " stream", err, ""};
    }
    return nullptr;
}

PlanarFloatAudio::~PlanarFloatAudio() { av_channel_layout_uninit(&layout_); }

void PlanarFloatAudio::append(const AVFrame* frame) {
    AVChannelLayout in{};
    if (frame->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC)
        av_channel_layout_default(&in, frame->ch_layout.nb_channels);
    else
        av_channel_layout_copy(&in, &frame->ch_layout);
    // Releases `in` on every way out, the errors' included.
    std::unique_ptr<AVChannelLayout, void (*)(AVChannelLayout*)> release(&in, av_channel_layout_uninit);
    if (!swr_ || frame->format != format_ || frame->sample_rate != rate_ ||
        av_channel_layout_compare(&in, &layout_) != 0) {
        flush();
        const int channels = in.nb_channels;
        if (!channels_.empty() && size_t(channels) != channels_.size())
            throw DecodingError{"the audio stream changes from " + std::to_string(channels_.size()) + " to " +
                                    std::to_string(channels) + " channels",
                                0, "expected a fixed channel count"};
        if (rate_ && frame->sample_rate != rate_)
            throw DecodingError{"the audio stream changes its sample rate from " + std::to_string(rate_) +
                                    " to " + std::to_string(frame->sample_rate) + " Hz",
                                0, "expected a fixed rate"};
        SwrContext* raw = nullptr;
        int err = swr_alloc_set_opts2(&raw, &in, AV_SAMPLE_FMT_FLTP, frame->sample_rate, &in,
                                      AVSampleFormat(frame->format), frame->sample_rate, 0, nullptr);
        swr_.reset(raw);
        if (err >= 0)
            err = swr_init(swr_.get());
        if (err < 0)
            throw DecodingError{"libswresample cannot convert this audio to float", err, ""};
        av_channel_layout_uninit(&layout_);
        av_channel_layout_copy(&layout_, &in);
        format_ = frame->format;
        rate_ = frame->sample_rate;
        channels_.resize(size_t(channels));
        rows_.resize(channels_.size());
    }
    convert(const_cast<const uint8_t**>(frame->extended_data), frame->nb_samples);
}

void PlanarFloatAudio::flush() {
    if (swr_)
        convert(nullptr, 0);
}

void PlanarFloatAudio::convert(const uint8_t** data, int count) {
    const int room = swr_get_out_samples(swr_.get(), count);
    if (room <= 0)
        return;
    const size_t done = channels_[0].size();
    for (size_t c = 0; c < channels_.size(); ++c) {
        channels_[c].resize(done + size_t(room));
        rows_[c] = channels_[c].data() + done;
    }
    const int got = swr_convert(swr_.get(), reinterpret_cast<uint8_t**>(rows_.data()), room, data, count);
    if (got < 0)
        throw DecodingError{"libswresample cannot convert the samples", got, ""};
    for (auto& channel : channels_)
        channel.resize(done + size_t(got));
}

torch::Tensor readImage(const fs::path& file) {
    MediaDecoder d = openDecoder(file, AVMEDIA_TYPE_VIDEO, kImageExpected);
    RgbConverter rgb(file, 0, 0);
    torch::Tensor image;
    decodeFrames(d, [&](AVFrame* frame) {
        image = rgb.convert(frame);
        return false;
    });
    if (!image.defined())
        throw fileError(file, "contains no picture; expected " + std::string(kImageExpected));
    return image;
}

void writePng(const fs::path& file, const torch::Tensor& rgb) {
    if (rgb.dim() != 3 || rgb.size(0) != 3 || rgb.size(1) < 1 || rgb.size(2) < 1)
        throw fileError(
            file, "writePng: expected an RGB image shaped [3, H, W], got " + [&] {
                std::string s = "[";
                for (int64_t i = 0; i < rgb.dim(); ++i)
                    s += (i ? ", " : "") + std::to_string(rgb.size(i));
                return s + "]";
            }());
    torch::Tensor pixels = rgb.detach().to(torch::kCPU);
    if (pixels.is_floating_point())
        pixels = pixels.clamp(0, 255).round();
    else if (pixels.scalar_type() != torch::kUInt8)
        pixels = pixels.clamp(0, 255);
    pixels = pixels.to(torch::kUInt8).permute({1, 2, 0}).contiguous(); // [H, W, 3], as RGB24 lies in memory
    const int h = int(pixels.size(0)), w = int(pixels.size(1));

    quietFfmpegLog();
    const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
    if (!codec)
        throw fileError(file, "this FFmpeg has no PNG encoder");
    CodecPtr enc(avcodec_alloc_context3(codec));
    if (!enc)
        throw std::bad_alloc();
    enc->width = w;
    enc->height = h;
    enc->pix_fmt = AV_PIX_FMT_RGB24;
    enc->time_base = AVRational{1, 1};
    int err = avcodec_open2(enc.get(), codec, nullptr);
    if (err < 0)
        throw fileError(file, "cannot open the PNG encoder " + said(err));
    FramePtr frame = newFrame();
    frame->format = AV_PIX_FMT_RGB24;
    frame->width = w;
    frame->height = h;
    err = av_frame_get_buffer(frame.get(), 0);
    if (err < 0)
        throw fileError(file, "cannot allocate a frame " + said(err));
    const uint8_t* src = pixels.data_ptr<uint8_t>();
    for (int y = 0; y < h; ++y)
        std::copy_n(src + size_t(y) * size_t(w) * 3, size_t(w) * 3,
                    frame->data[0] + ptrdiff_t(y) * frame->linesize[0]);
    frame->pts = 0;
    PacketPtr packet(av_packet_alloc());
    if (!packet)
        throw std::bad_alloc();
    err = avcodec_send_frame(enc.get(), frame.get());
    if (err >= 0)
        err = avcodec_send_frame(enc.get(), nullptr);
    if (err >= 0)
        err = avcodec_receive_packet(enc.get(), packet.get()); // one picture: one packet, the whole PNG
    if (err < 0)
        throw fileError(file, "the PNG encoder failed " + said(err));

    writeAtomically(file, [&](std::ostream& out) {
        out.write(reinterpret_cast<const char*>(packet->data), packet->size);
    });
}

double videoDuration(const fs::path& file) {
    return streamDuration(openDecoder(file, AVMEDIA_TYPE_VIDEO, kVideoExpected));
}

VideoFrames readVideoFrames(const fs::path& file, double fps, int64_t width, int64_t height) {
    if (!(std::isfinite(fps) && fps > 0))
        throw std::invalid_argument(
            file.string() + ": readVideoFrames: fps must be finite and positive, got " + std::to_string(fps));
    if (width < 0 || height < 0 || (width == 0) != (height == 0))
        throw std::invalid_argument(file.string() +
                                    ": readVideoFrames: give both width and height (> 0), or neither (0, 0) "
                                    "for the native size; got " +
                                    std::to_string(width) + "x" + std::to_string(height));
    MediaDecoder d = openDecoder(file, AVMEDIA_TYPE_VIDEO, kVideoExpected);
    VideoFrames result;
    result.duration = streamDuration(d);
    if (!(result.duration > 0))
        throw fileError(file, "declares no duration; expected a video of known length");
    for (int64_t k = 0; (double(k) + 0.5) / fps < result.duration; ++k)
        result.times.push_back((double(k) + 0.5) / fps);
    const size_t count = result.times.size();
    if (count == 0)
        throw fileError(file, "lasts " + std::to_string(result.duration) +
                                  " s, less than half a frame interval at " + std::to_string(fps) +
                                  " frames/s; no frame to sample");

    const AVRational base = d.stream->time_base;
    const double start = d.stream->start_time != AV_NOPTS_VALUE ? seconds(d.stream->start_time, base) : 0.0;
    const double nominal = d.stream->avg_frame_rate.num > 0 ? av_q2d(d.stream->avg_frame_rate) : 25.0;
    RgbConverter rgb(file, width, height);
    std::vector<torch::Tensor> frames;
    frames.reserve(count);
    FramePtr previous = newFrame(); // the frame on screen before the current one
    bool have_previous = false;
    double last_time = -1.0 / nominal;
    const AVFrame* last_emitted = nullptr;

    auto emit = [&](const AVFrame* frame) {
        // A video slower than fps shows one picture at several sample times: convert it once.
        if (frame == last_emitted && !frames.empty())
            frames.push_back(frames.back());
        else
            frames.push_back(rgb.convert(frame));
        last_emitted = frame;
    };
    decodeFrames(d, [&](AVFrame* frame) {
        const int64_t ts = frame->best_effort_timestamp;
        const double t = ts != AV_NOPTS_VALUE ? seconds(ts, base) - start : last_time + 1.0 / nominal;
        last_time = t;
        // Sample times before this frame show the previous one (or this one, before the first frame).
        const AVFrame* shown = have_previous ? previous.get() : frame;
        while (frames.size() < count && result.times[frames.size()] < t)
            emit(shown);
        if (frames.size() == count)
            return false; // every sample time lies before this frame: the rest need not be decoded
        av_frame_unref(previous.get());
        av_frame_move_ref(previous.get(), frame);
        have_previous = true;
        last_emitted = nullptr; // `previous` now holds another picture
        return true;
    });
    if (!have_previous && frames.empty())
        throw fileError(file, "contains no decodable video frame");
    while (frames.size() < count)
        emit(previous.get());
    result.frames = torch::stack(frames);
    return result;
}

MediaAudio readMediaAudio(const fs::path& file) {
    MediaDecoder d = openAudioDecoder(file);
    PlanarFloatAudio audio;
    decodeFrames(d, [&](AVFrame* frame) {
        audio.append(frame);
        return true;
    });
    try {
        audio.flush();
    } catch (const DecodingError& e) {
        failDecoding(file, e);
    }
    const auto& channels = audio.channels();
    if (channels.empty() || channels[0].empty() || audio.rate() <= 0)
        throw fileError(file, "its audio stream yields no samples; expected at least one");

    const int64_t samples = int64_t(channels[0].size());
    MediaAudio result;
    result.samples = torch::empty({int64_t(channels.size()), samples}, torch::kFloat32);
    for (size_t c = 0; c < channels.size(); ++c)
        std::copy(channels[c].begin(), channels[c].end(), result.samples[int64_t(c)].data_ptr<float>());
    result.sample_rate = audio.rate();
    result.format = std::string(d.input->iformat->name) + "/" + d.codec->codec->name;
    return result;
}

} // namespace avgraph::host
