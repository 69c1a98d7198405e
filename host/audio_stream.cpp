#include "host/audio_stream.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libswresample/swresample.h>
}

#include <sndfile.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace avgraph::host {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const fs::path& file, const std::string& what) {
    throw std::runtime_error(file.string() + ": " + what);
}

/** Why decoding broke off, for the message read() builds around it ("" when there is nothing to add). */
struct DecodeFailure {
    std::string detail;
};

/** A decoder behind the stream, filling rows of planar float32. */
class Decoder {
public:
    virtual ~Decoder() = default;
    /**
     * Decodes up to `want` frames into `out` (channel c's row at out + c * stride). Fewer frames mean the
     * end of the stream, or a failure when `failure` is set: the frames before it are good.
     */
    virtual int64_t decode(float* out, int64_t stride, int64_t want,
                           std::optional<DecodeFailure>& failure) = 0;
    /** The most frames a read should ask for, so that a known length bounds the block's allocation. */
    virtual int64_t limit(int64_t max_frames) const { return max_frames; }
};

// ---- libsndfile ----------------------------------------------------------------------------------------

struct SndfileCloser {
    void operator()(SNDFILE* f) const { sf_close(f); }
};
using SndfilePtr = std::unique_ptr<SNDFILE, SndfileCloser>;

// The names readAudio gives (python-soundfile's, i.e. the SF_FORMAT_* suffixes), kept in step with
// host/audio_file.cpp's tables; the tests compare format() with readAudio's on every file they stream.
struct FormatName {
    int code;
    const char* name;
};

constexpr FormatName kMajorNames[] = {
    {SF_FORMAT_WAV, "WAV"}, {SF_FORMAT_AIFF, "AIFF"},   {SF_FORMAT_AU, "AU"},     {SF_FORMAT_RAW, "RAW"},
    {SF_FORMAT_W64, "W64"}, {SF_FORMAT_WAVEX, "WAVEX"}, {SF_FORMAT_FLAC, "FLAC"}, {SF_FORMAT_CAF, "CAF"},
    {SF_FORMAT_OGG, "OGG"}, {SF_FORMAT_RF64, "RF64"},   {SF_FORMAT_MPEG, "MP3"},  {SF_FORMAT_NIST, "NIST"},
    {SF_FORMAT_VOC, "VOC"}, {SF_FORMAT_IRCAM, "IRCAM"}, {SF_FORMAT_MAT4, "MAT4"}, {SF_FORMAT_MAT5, "MAT5"},
};

constexpr FormatName kSubtypeNames[] = {
    {SF_FORMAT_PCM_S8, "PCM_S8"},
    {SF_FORMAT_PCM_16, "PCM_16"},
    {SF_FORMAT_PCM_24, "PCM_24"},
    {SF_FORMAT_PCM_32, "PCM_32"},
    {SF_FORMAT_PCM_U8, "PCM_U8"},
    {SF_FORMAT_FLOAT, "FLOAT"},
    {SF_FORMAT_DOUBLE, "DOUBLE"},
    {SF_FORMAT_ULAW, "ULAW"},
    {SF_FORMAT_ALAW, "ALAW"},
    {SF_FORMAT_IMA_ADPCM, "IMA_ADPCM"},
    {SF_FORMAT_MS_ADPCM, "MS_ADPCM"},
    {SF_FORMAT_GSM610, "GSM610"},
    {SF_FORMAT_VORBIS, "VORBIS"},
    {SF_FORMAT_OPUS, "OPUS"},
    {SF_FORMAT_ALAC_16, "ALAC_16"},
    {SF_FORMAT_ALAC_20, "ALAC_20"},
    {SF_FORMAT_ALAC_24, "ALAC_24"},
    {SF_FORMAT_ALAC_32, "ALAC_32"},
    {SF_FORMAT_MPEG_LAYER_I, "MPEG_LAYER_I"},
    {SF_FORMAT_MPEG_LAYER_II, "MPEG_LAYER_II"},
    {SF_FORMAT_MPEG_LAYER_III, "MPEG_LAYER_III"},
};

template <size_t N> std::string nameOf(int code, const FormatName (&table)[N]) {
    for (const auto& entry : table)
        if (entry.code == code)
            return entry.name;
    SF_FORMAT_INFO info{};
    info.format = code;
    if (sf_command(nullptr, SFC_GET_FORMAT_INFO, &info, sizeof info) != 0 || !info.name)
        return "unknown";
    return info.name;
}

std::string formatName(int format) {
    return nameOf(format & SF_FORMAT_TYPEMASK, kMajorNames) + "/" +
           nameOf(format & SF_FORMAT_SUBMASK, kSubtypeNames);
}

/**
 * The frames a WAV's data chunk header announces, when it states a real size: libsndfile trims a data
 * chunk that runs past the end of the file to what is there without a word, so a cut-off recording would
 * look complete. nullopt for other containers, a streamed WAV's "unknown" size (0 or 0xFFFFFFFF) and
 * anything unexpected; the caller compares only for uncompressed encodings, where a block is one frame.
 */
std::optional<int64_t> wavHeaderFrames(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    auto u32 = [](const unsigned char* p) {
        return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
    };
    unsigned char riff[12];
    if (!in.read(reinterpret_cast<char*>(riff), sizeof riff))
        return std::nullopt;
    const std::string id(reinterpret_cast<char*>(riff), 4);
    if ((id != "RIFF" && id != "RF64" && id != "BW64") || std::memcmp(riff + 8, "WAVE", 4) != 0)
        return std::nullopt;
    uint64_t ds64_data_bytes = 0; // RF64 keeps the 64-bit data size in its ds64 chunk
    uint32_t block_align = 0;
    // A few chunks precede the data (fmt, fact, bext, LIST, JUNK...); a bound stops on garbage.
    for (int chunk = 0; chunk < 64; ++chunk) {
        unsigned char head[8];
        if (!in.read(reinterpret_cast<char*>(head), sizeof head))
            return std::nullopt;
        const std::string name(reinterpret_cast<char*>(head), 4);
        const uint32_t size = u32(head + 4);
        if (name == "data") {
            uint64_t bytes = size;
            if (size == 0xFFFFFFFFu)
                bytes = ds64_data_bytes;
            if (bytes == 0 || block_align == 0)
                return std::nullopt;
            return int64_t(bytes / block_align);
        }
        const std::streamoff next = in.tellg() + std::streamoff(size) + std::streamoff(size & 1);
        if (name == "ds64" && size >= 16) {
            unsigned char sizes[16];
            if (!in.read(reinterpret_cast<char*>(sizes), sizeof sizes))
                return std::nullopt;
            ds64_data_bytes = uint64_t(u32(sizes + 8)) | uint64_t(u32(sizes + 12)) << 32;
        } else if (name == "fmt " && size >= 14) {
            unsigned char fmt[14];
            if (!in.read(reinterpret_cast<char*>(fmt), sizeof fmt))
                return std::nullopt;
            block_align = uint32_t(fmt[12]) | uint32_t(fmt[13]) << 8;
        }
        if (!in.seekg(next))
            return std::nullopt;
    }
    return std::nullopt;
}

bool isUncompressed(int format) {
    switch (format & SF_FORMAT_SUBMASK) {
    case SF_FORMAT_PCM_S8:
    case SF_FORMAT_PCM_U8:
    case SF_FORMAT_PCM_16:
    case SF_FORMAT_PCM_24:
    case SF_FORMAT_PCM_32:
    case SF_FORMAT_FLOAT:
    case SF_FORMAT_DOUBLE:
    case SF_FORMAT_ULAW:
    case SF_FORMAT_ALAW:
        return true;
    default:
        return false;
    }
}

// Frames per libsndfile call when de-interleaving, as readAudio reads: the staging buffer stays in cache.
constexpr int64_t kChunkFrames = 16384;

class SndfileDecoder final : public Decoder {
public:
    SndfileDecoder(const fs::path& file, SndfilePtr sf, const SF_INFO& info)
        : sf_(std::move(sf)), channels_(info.channels) {
        if (info.frames != SF_COUNT_MAX)
            frames_ = info.frames;
        const int major = info.format & SF_FORMAT_TYPEMASK;
        if ((major == SF_FORMAT_WAV || major == SF_FORMAT_WAVEX || major == SF_FORMAT_RF64) &&
            isUncompressed(info.format))
            if (auto announced = wavHeaderFrames(file); announced && *announced > info.frames)
                announced_ = *announced;
        ogg_ = major == SF_FORMAT_OGG;
        // Integer PCM to [-1, 1) as readAudio has it (libsndfile's default, set so it does not hang on it).
        sf_command(sf_.get(), SFC_SET_NORM_FLOAT, nullptr, SF_TRUE);
    }

    /** The frames the header announces: a cut-off WAV's data chunk size, else libsndfile's count. */
    std::optional<int64_t> announced() const { return announced_ ? announced_ : frames_; }
    int64_t limit(int64_t max_frames) const override {
        return frames_ ? std::min(max_frames, *frames_ - done_) : max_frames;
    }

    int64_t decode(float* out, int64_t stride, int64_t want, std::optional<DecodeFailure>& failure) override {
        int64_t done = 0;
        while (done < want) {
            const int64_t ask = channels_ == 1 ? want - done : std::min(want - done, kChunkFrames);
            sf_count_t got;
            if (channels_ == 1) {
                got = sf_readf_float(sf_.get(), out + done, ask); // already in tensor layout
            } else {
                chunk_.resize(size_t(std::min(want, kChunkFrames) * channels_));
                got = sf_readf_float(sf_.get(), chunk_.data(), ask);
                for (int64_t c = 0; c < channels_ && got > 0; ++c) {
                    float* row = out + c * stride + done;
                    const float* src = chunk_.data() + c;
                    for (sf_count_t i = 0; i < got; ++i)
                        row[i] = src[i * channels_];
                }
            }
            // A short read is the end or an error, whose words the next call would clear: keep them now.
            if (got < ask && sf_error(sf_.get()))
                said_ = "libsndfile: " + std::string(sf_strerror(sf_.get()));
            if (got <= 0)
                break;
            done += got;
        }
        done_ += done;
        if (done < want || (frames_ && done_ == *frames_))
            failure = endFailure();
        return done;
    }

private:
    /** Whether the stream ended where it should: as readAudio judges it, plus cut-off WAVs and Oggs. */
    std::optional<DecodeFailure> endFailure() const {
        // Fewer frames than announced, or libsndfile's own error (a damaged FLAC frame, say).
        if (auto expected = announced(); (expected && done_ < *expected) || !said_.empty())
            return DecodeFailure{said_};
        if (ogg_) {
            // A cut-off Ogg file has no final page, so libsndfile cannot tell its length (frames() is
            // unknown) and decodes up to the cut without an error; only its log says what happened.
            char log[16384] = {};
            sf_command(sf_.get(), SFC_GET_LOG_INFO, log, sizeof log);
            const char* ended = std::strstr(log, "ended unexpectedly");
            if (ended) {
                const char* start = ended;
                while (start > log && start[-1] != '\n' && start[-1] != ':')
                    --start;
                while (*start == ' ')
                    ++start;
                std::string line(start, std::strcspn(start, "\n"));
                while (!line.empty() && (line.back() == '.' || line.back() == ' '))
                    line.pop_back();
                return DecodeFailure{"libsndfile: " + line};
            }
        }
        return std::nullopt;
    }

    SndfilePtr sf_;
    int64_t channels_;
    std::optional<int64_t> frames_;    // libsndfile's count, when it knows one
    std::optional<int64_t> announced_; // a WAV data chunk's larger count
    bool ogg_ = false;
    int64_t done_ = 0;
    std::string said_; // libsndfile's error where a read came back short
    std::vector<float> chunk_;
};

// ---- FFmpeg --------------------------------------------------------------------------------------------

std::string ffmpegReason(int code) {
    char text[AV_ERROR_MAX_STRING_SIZE] = {};
    av_strerror(code, text, sizeof text);
    return text;
}

// As host/media/media_file.cpp: FFmpeg's own log lines would only repeat, unattributed, what the messages
// say, and the fallback would print them for every file libsndfile cannot read.
void quietFfmpegLog() {
    static std::once_flag once;
    std::call_once(once, [] { av_log_set_level(AV_LOG_QUIET); });
}

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

/** Why FFmpeg cannot open a file, worded as readAudio quotes readMediaAudio's reasons. */
struct OpenFailure {
    std::string reason;
};

/**
 * The best audio stream of a file, decoded packet by packet in the order readMediaAudio decodes it (same
 * packets, same decoder calls, same libswresample conversion to planar float), so the samples are its
 * samples. Only the samples of the last decoded frame wait here between reads.
 */
class FfmpegDecoder final : public Decoder {
public:
    explicit FfmpegDecoder(const fs::path& file) {
        quietFfmpegLog();
        AVFormatContext* raw = nullptr;
        int err = avformat_open_input(&raw, file.c_str(), nullptr, nullptr);
        if (err < 0)
            throw OpenFailure{ffmpegReason(err)};
        input_.reset(raw);
        err = avformat_find_stream_info(input_.get(), nullptr);
        if (err < 0)
            throw OpenFailure{ffmpegReason(err)};
        const AVCodec* codec = nullptr;
        const int index = av_find_best_stream(input_.get(), AVMEDIA_TYPE_AUDIO, -1, -1, &codec, 0);
        if (index == AVERROR_STREAM_NOT_FOUND)
            throw OpenFailure{"has no audio stream"};
        if (index < 0 || !codec)
            throw OpenFailure{ffmpegReason(index < 0 ? index : AVERROR_DECODER_NOT_FOUND)};
        stream_ = input_->streams[index];
        codec_.reset(avcodec_alloc_context3(codec));
        packet_.reset(av_packet_alloc());
        frame_.reset(av_frame_alloc());
        if (!codec_ || !packet_ || !frame_)
            throw std::bad_alloc();
        err = avcodec_parameters_to_context(codec_.get(), stream_->codecpar);
        if (err >= 0) {
            codec_->pkt_timebase = stream_->time_base;
            err = avcodec_open2(codec_.get(), codec, nullptr);
        }
        if (err < 0)
            throw OpenFailure{ffmpegReason(err)};
        // The first frame tells the channels and rate the samples really have (HE-AAC doubles the rate
        // its header gives, for one); a stream that yields nothing is as unreadable as readAudio finds it.
        try {
            while (pending_.empty() || pending_[0].empty())
                if (!decodeNextFrame())
                    throw OpenFailure{"its audio stream yields no samples"};
        } catch (const DecodeFailure& failure) {
            std::string reason = failure.detail; // as readAudio quotes it: FFmpeg's words only
            if (reason.rfind("FFmpeg: ", 0) == 0)
                reason.erase(0, 8);
            throw OpenFailure{reason};
        }
        format_ = std::string(input_->iformat->name) + "/" + codec_->codec->name;
    }

    ~FfmpegDecoder() override { av_channel_layout_uninit(&layout_); }

    double rate() const { return rate_; }
    int64_t channels() const { return int64_t(pending_.size()); }
    const std::string& format() const { return format_; }

    int64_t decode(float* out, int64_t stride, int64_t want, std::optional<DecodeFailure>& failure) override {
        int64_t done = 0;
        try {
            while (done < want) {
                const int64_t ready = int64_t(pending_[0].size()) - offset_;
                if (ready == 0) {
                    if (!decodeNextFrame())
                        break;
                    continue;
                }
                const int64_t n = std::min(want - done, ready);
                for (size_t c = 0; c < pending_.size(); ++c)
                    std::copy_n(pending_[c].data() + offset_, n, out + int64_t(c) * stride + done);
                offset_ += n;
                done += n;
            }
        } catch (const DecodeFailure& f) {
            failure = f;
        }
        return done;
    }

private:
    /**
     * Replaces the (consumed) pending samples with the next decoded frame's; false at the end of the
     * stream. Throws DecodeFailure where readMediaAudio throws.
     */
    bool decodeNextFrame() {
        for (auto& channel : pending_)
            channel.clear(); // keeps the capacity: one frame's worth, reused
        offset_ = 0;
        while (!finished_) {
            int err = avcodec_receive_frame(codec_.get(), frame_.get());
            if (err == 0) {
                convertFrame(frame_.get());
                av_frame_unref(frame_.get());
                if (!pending_.empty() && !pending_[0].empty())
                    return true;
                continue;
            }
            if (err == AVERROR_EOF || (err == AVERROR(EAGAIN) && flushing_)) {
                finished_ = true;
                if (swr_)
                    convert(nullptr, 0); // what libswresample still holds
                break;
            }
            if (err != AVERROR(EAGAIN))
                throw DecodeFailure{"FFmpeg: " + ffmpegReason(err)};
            // The decoder wants input: the next packet of our stream, or the flush after the last one.
            err = av_read_frame(input_.get(), packet_.get());
            if (err == AVERROR_EOF) {
                avcodec_send_packet(codec_.get(), nullptr);
                flushing_ = true;
                continue;
            }
            if (err < 0)
                throw DecodeFailure{"FFmpeg: " + ffmpegReason(err)};
            if (packet_->stream_index != stream_->index) {
                av_packet_unref(packet_.get());
                continue;
            }
            err = avcodec_send_packet(codec_.get(), packet_.get());
            av_packet_unref(packet_.get());
            if (err < 0 && err != AVERROR(EAGAIN))
                throw DecodeFailure{"FFmpeg: " + ffmpegReason(err)};
        }
        return !pending_.empty() && !pending_[0].empty();
    }

    /** readMediaAudio's conversion: planar float at the frame's own rate, set up again if the input changes.
     */
    void convertFrame(AVFrame* frame) {
        AVChannelLayout in{};
        if (frame->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC)
            av_channel_layout_default(&in, frame->ch_layout.nb_channels);
        else
            av_channel_layout_copy(&in, &frame->ch_layout);
        if (!swr_ || frame->format != format_code_ || frame->sample_rate != rate_ ||
            av_channel_layout_compare(&in, &layout_) != 0) {
            if (swr_)
                convert(nullptr, 0);
            const int channels = in.nb_channels;
            if (!pending_.empty() && size_t(channels) != pending_.size()) {
                av_channel_layout_uninit(&in);
                throw DecodeFailure{"the audio stream changes from " + std::to_string(pending_.size()) +
                                    " to " + std::to_string(channels) + " channels"};
            }
            if (rate_ && frame->sample_rate != rate_) {
                av_channel_layout_uninit(&in);
                throw DecodeFailure{"the audio stream changes its sample rate from " + std::to_string(rate_) +
                                    " to " + std::to_string(frame->sample_rate) + " Hz"};
            }
            SwrContext* raw = nullptr;
            int err = swr_alloc_set_opts2(&raw, &in, AV_SAMPLE_FMT_FLTP, frame->sample_rate, &in,
                                          AVSampleFormat(frame->format), frame->sample_rate, 0, nullptr);
            swr_.reset(raw);
            if (err >= 0)
                err = swr_init(swr_.get());
            if (err < 0) {
                av_channel_layout_uninit(&in);
                throw DecodeFailure{"FFmpeg: " + ffmpegReason(err)};
            }
            av_channel_layout_uninit(&layout_);
            av_channel_layout_copy(&layout_, &in);
            format_code_ = frame->format;
            rate_ = frame->sample_rate;
            pending_.resize(size_t(channels));
            rows_.resize(pending_.size());
        }
        av_channel_layout_uninit(&in);
        convert(const_cast<const uint8_t**>(frame->extended_data), frame->nb_samples);
    }

    /** Converts `count` input samples (nullptr: flush) and appends them to the pending samples. */
    void convert(const uint8_t** data, int count) {
        const int room = swr_get_out_samples(swr_.get(), count);
        if (room <= 0)
            return;
        const size_t done = pending_[0].size();
        for (size_t c = 0; c < pending_.size(); ++c) {
            pending_[c].resize(done + size_t(room));
            rows_[c] = pending_[c].data() + done;
        }
        const int got = swr_convert(swr_.get(), reinterpret_cast<uint8_t**>(rows_.data()), room, data, count);
        if (got < 0)
            throw DecodeFailure{"FFmpeg: " + ffmpegReason(got)};
        for (auto& channel : pending_)
            channel.resize(done + size_t(got));
    }

    std::unique_ptr<AVFormatContext, InputCloser> input_;
    std::unique_ptr<AVCodecContext, CodecCloser> codec_;
    std::unique_ptr<AVPacket, PacketFree> packet_;
    std::unique_ptr<AVFrame, FrameFree> frame_;
    std::unique_ptr<SwrContext, SwrFree> swr_;
    AVStream* stream_ = nullptr;
    AVChannelLayout layout_{}; // of the frames swr_ is set up for
    int format_code_ = -1;
    int rate_ = 0;
    bool flushing_ = false, finished_ = false;
    std::vector<std::vector<float>> pending_; // decoded, not yet delivered: [channel][sample]
    int64_t offset_ = 0;                      // samples of pending_ already delivered
    std::vector<float*> rows_;
    std::string format_;
};

} // namespace

// ---- the stream ----------------------------------------------------------------------------------------

struct AudioFileStream::Impl {
    fs::path file;
    double rate = 0.0;
    int64_t channels = 0;
    std::optional<int64_t> frames;
    std::string format;
    std::unique_ptr<Decoder> decoder;
    int64_t position = 0;
    bool ended = false;
    std::optional<std::string> failure; // thrown by every read once the good part is delivered
};

AudioFileStream::AudioFileStream(const fs::path& file) : impl_(std::make_unique<Impl>()) {
    impl_->file = file;
    std::error_code ec;
    auto status = fs::status(file, ec);
    if (ec && ec != std::errc::no_such_file_or_directory)
        fail(file, "cannot access: " + ec.message() + "; expected a readable audio file");
    if (!fs::exists(status))
        fail(file, "no such file; expected an audio file (WAV, FLAC, Ogg, ...)");
    if (fs::is_directory(status))
        fail(file, "is a folder; expected an audio file (WAV, FLAC, Ogg, ...)");

    SF_INFO info{};
    SndfilePtr sf(sf_open(file.c_str(), SFM_READ, &info));
    if (!sf) {
        const std::string sndfile_reason = sf_strerror(nullptr);
        try {
            auto decoder = std::make_unique<FfmpegDecoder>(file);
            impl_->rate = decoder->rate();
            impl_->channels = decoder->channels();
            impl_->format = "FFMPEG/" + decoder->format();
            impl_->decoder = std::move(decoder);
            return;
        } catch (const OpenFailure& failure) {
            fail(file,
                 "cannot open as audio (libsndfile: " + sndfile_reason + "; FFmpeg: " + failure.reason +
                     "); expected a readable audio file (WAV, FLAC, Ogg, MP3, ...) or a video with sound");
        }
    }
    if (info.channels <= 0)
        fail(file, "declares " + std::to_string(info.channels) + " channels; expected at least one");
    if (info.samplerate <= 0)
        fail(file, "declares a sample rate of " + std::to_string(info.samplerate) +
                       " Hz; expected a positive rate");
    auto decoder = std::make_unique<SndfileDecoder>(file, std::move(sf), info);
    if (info.frames <= 0) {
        auto announced = decoder->announced();
        fail(file, "contains no audio frames" +
                       (announced && *announced > 0 ? " of the " + std::to_string(*announced) +
                                                          " its header announces; the file is truncated"
                                                    : std::string("; expected at least one frame of audio")));
    }
    impl_->rate = info.samplerate;
    impl_->channels = info.channels;
    impl_->frames = decoder->announced();
    impl_->format = formatName(info.format);
    impl_->decoder = std::move(decoder);
}

AudioFileStream::~AudioFileStream() = default;
AudioFileStream::AudioFileStream(AudioFileStream&&) noexcept = default;
AudioFileStream& AudioFileStream::operator=(AudioFileStream&&) noexcept = default;

const fs::path& AudioFileStream::path() const { return impl_->file; }
double AudioFileStream::sampleRate() const { return impl_->rate; }
int64_t AudioFileStream::channels() const { return impl_->channels; }
std::optional<int64_t> AudioFileStream::frames() const { return impl_->frames; }
std::string AudioFileStream::format() const { return impl_->format; }
int64_t AudioFileStream::position() const { return impl_->position; }

torch::Tensor AudioFileStream::read(int64_t max_frames) {
    Impl& s = *impl_;
    if (max_frames < 1)
        throw std::invalid_argument(s.file.string() +
                                    ": AudioFileStream::read: max_frames must be at least 1, got " +
                                    std::to_string(max_frames));
    if (s.failure)
        throw std::runtime_error(*s.failure);
    if (s.ended)
        return torch::empty({s.channels, 0}, torch::kFloat32);

    const int64_t want = s.decoder->limit(max_frames);
    torch::Tensor block = torch::empty({s.channels, want}, torch::kFloat32);
    std::optional<DecodeFailure> failure;
    const int64_t got = s.decoder->decode(block.data_ptr<float>(), want, want, failure);
    s.position += got;
    if (failure) {
        std::string where = "sample " + std::to_string(s.position);
        if (s.frames)
            where += " of " + std::to_string(*s.frames) + " the header announces";
        if (!failure->detail.empty())
            where += "; " + failure->detail;
        s.failure = s.file.string() + ": decoding stopped at " + clockTime(double(s.position) / s.rate) +
                    " (" + where + "): the file is truncated or damaged";
        if (got == 0)
            throw std::runtime_error(*s.failure);
    } else if (got < want || got == 0) {
        s.ended = true;
    }
    if (got < want)
        block = block.narrow(1, 0, got).clone(at::MemoryFormat::Contiguous);
    return block;
}

std::string clockTime(double seconds) {
    if (std::isnan(seconds))
        return "nan";
    if (std::isinf(seconds))
        return seconds < 0 ? "-inf" : "inf";
    const std::string sign = seconds < 0 ? "-" : "";
    // Rounded once, to whole milliseconds, so that 59.9996 s reads "1:00.000", never "0:60.000".
    const long long ms = std::llround(std::fabs(seconds) * 1000.0);
    const long long s = ms / 1000, m = s / 60, h = m / 60;
    char text[64];
    if (h > 0)
        std::snprintf(text, sizeof text, "%lld:%02lld:%02lld.%03lld", h, m % 60, s % 60, ms % 1000);
    else
        std::snprintf(text, sizeof text, "%lld:%02lld.%03lld", m, s % 60, ms % 1000);
    return sign + text;
}

} // namespace avgraph::host
