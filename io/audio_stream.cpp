#include "io/audio_stream.h"

#include "io/media/ffmpeg_support.h"
#include "io/sndfile_support.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <vector>

namespace avgraph::host {

namespace fs = std::filesystem;

namespace {

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

/** readAudio's reader (io/sndfile_support.h), asked after each read whether the file ended early. */
class SndfileDecoder final : public Decoder {
public:
    explicit SndfileDecoder(std::unique_ptr<SndfileReader> reader) : reader_(std::move(reader)) {}

    int64_t limit(int64_t max_frames) const override {
        const auto frames = reader_->frames();
        return frames ? std::min(max_frames, *frames - reader_->done()) : max_frames;
    }

    int64_t decode(float* out, int64_t stride, int64_t want, std::optional<DecodeFailure>& failure) override {
        const int64_t done = reader_->read(out, stride, want);
        const auto frames = reader_->frames();
        if (done < want || (frames && reader_->done() == *frames))
            if (auto problem = reader_->endProblem())
                failure = DecodeFailure{*problem};
        return done;
    }

private:
    std::unique_ptr<SndfileReader> reader_;
};

// ---- FFmpeg --------------------------------------------------------------------------------------------

/**
 * The best audio stream of a file, decoded packet by packet in the order readMediaAudio decodes it (same
 * packets, same decoder calls, same conversion to planar float), so the samples are its samples. Only
 * the samples of the last decoded frame wait here between reads.
 */
class FfmpegDecoder final : public Decoder {
public:
    /** @throws std::runtime_error worded as readMediaAudio's, or whose message is FFmpeg's reason alone. */
    explicit FfmpegDecoder(const fs::path& file) : media_(openAudioDecoder(file)), frames_(media_) {
        // The first frame tells the channels and rate the samples really have (HE-AAC doubles the rate
        // its header gives, for one); a stream that yields nothing is as unreadable as readAudio finds it.
        try {
            while (pending().empty() || pending()[0].empty())
                if (!decodeNextFrame())
                    throw std::runtime_error("its audio stream yields no samples");
        } catch (const DecodeFailure& failure) {
            std::string reason = failure.detail; // as readAudio quotes it: FFmpeg's words only
            if (reason.rfind("FFmpeg: ", 0) == 0)
                reason.erase(0, 8);
            throw std::runtime_error(reason);
        }
        format_ = std::string(media_.input->iformat->name) + "/" + media_.codec->codec->name;
    }

    double rate() const { return audio_.rate(); }
    int64_t channels() const { return int64_t(audio_.channels().size()); }
    const std::string& format() const { return format_; }

    int64_t decode(float* out, int64_t stride, int64_t want, std::optional<DecodeFailure>& failure) override {
        int64_t done = 0;
        try {
            while (done < want) {
                const int64_t ready = int64_t(pending()[0].size()) - offset_;
                if (ready == 0) {
                    if (!decodeNextFrame())
                        break;
                    continue;
                }
                const int64_t n = std::min(want - done, ready);
                for (size_t c = 0; c < pending().size(); ++c)
                    std::copy_n(pending()[c].data() + offset_, n, out + int64_t(c) * stride + done);
                offset_ += n;
                done += n;
            }
        } catch (const DecodeFailure& f) {
            failure = f;
        }
        return done;
    }

private:
    /** Decoded samples not yet delivered, [channel][sample], from offset_ on. */
    std::vector<std::vector<float>>& pending() { return audio_.channels(); }

    /**
     * Replaces the (consumed) pending samples with the next decoded frame's; false at the end of the
     * stream. Throws DecodeFailure where readMediaAudio throws.
     */
    bool decodeNextFrame() {
        for (auto& channel : pending())
            channel.clear(); // keeps the capacity: one frame's worth, reused
        offset_ = 0;
        try {
            while (AVFrame* frame = frames_.next()) {
                audio_.append(frame);
                if (!pending().empty() && !pending()[0].empty())
                    return true;
            }
            if (!flushed_) {
                flushed_ = true;
                audio_.flush(); // what libswresample still holds
            }
        } catch (const DecodingError& e) {
            throw DecodeFailure{e.ffmpeg_code ? "FFmpeg: " + ffmpegReason(e.ffmpeg_code) : e.problem};
        }
        return !pending().empty() && !pending()[0].empty();
    }

    MediaDecoder media_;
    FrameReader frames_; // reads media_
    PlanarFloatAudio audio_;
    bool flushed_ = false;
    int64_t offset_ = 0; // samples of pending() already delivered
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
    // Opened as readAudio opens a file, so that both fail alike and name formats alike.
    auto reader = openAudioFile(file, [&] {
        auto decoder = std::make_unique<FfmpegDecoder>(file);
        impl_->rate = decoder->rate();
        impl_->channels = decoder->channels();
        impl_->format = "FFMPEG/" + decoder->format();
        impl_->decoder = std::move(decoder);
    });
    if (!reader)
        return;
    impl_->rate = reader->sampleRate();
    impl_->channels = reader->channels();
    impl_->frames = reader->announced();
    impl_->format = reader->format();
    impl_->decoder = std::make_unique<SndfileDecoder>(std::move(reader));
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
