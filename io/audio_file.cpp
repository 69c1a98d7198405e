#include "io/audio_file.h"

#include "graph/error.h"
#include "io/media/media_file.h"
#include "io/sndfile_support.h"

#include <sndfile.h>
#include <soxr.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <stdexcept>
#include <vector>

namespace avgraph::host {

namespace fs = std::filesystem;

namespace {

// The short names python-soundfile uses (they are the SF_FORMAT_* suffixes), so that reports read the
// same as users' Python tooling. libsndfile's own descriptions ("Signed 24 bit PCM") are the fallback.
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

std::string libsndfileFormatName(int format) {
    SF_FORMAT_INFO info{};
    info.format = format;
    if (sf_command(nullptr, SFC_GET_FORMAT_INFO, &info, sizeof info) != 0 || !info.name)
        return "unknown";
    return info.name;
}

template <size_t N> std::string nameOf(int code, const FormatName (&table)[N]) {
    for (const auto& entry : table)
        if (entry.code == code)
            return entry.name;
    return libsndfileFormatName(code);
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

/**
 * What FFmpeg said in an error of readMediaAudio's ("<path>: cannot open (FFmpeg: reason); expected ..."):
 * the reason in "(FFmpeg: ...)", or the message's middle when the problem was found before FFmpeg spoke.
 * A message that is FFmpeg's reason alone comes back unchanged.
 */
std::string ffmpegReasonIn(const fs::path& file, std::string message) {
    const std::string prefix = file.string() + ": ";
    if (message.compare(0, prefix.size(), prefix) == 0)
        message.erase(0, prefix.size());
    const size_t said = message.find("(FFmpeg: ");
    const size_t end = message.find(')', said);
    if (said != std::string::npos && end != std::string::npos)
        return message.substr(said + 9, end - said - 9);
    if (const size_t expected = message.find("; expected"); expected != std::string::npos)
        message.erase(expected);
    return message;
}

// Frames per read when de-interleaving: large enough that libsndfile's per-call cost vanishes, small
// enough that the interleaved staging buffer stays in cache instead of doubling the clip's memory.
constexpr int64_t kChunkFrames = 16384;

} // namespace

std::string sndfileFormatName(int format) {
    return nameOf(format & SF_FORMAT_TYPEMASK, kMajorNames) + "/" +
           nameOf(format & SF_FORMAT_SUBMASK, kSubtypeNames);
}

SndfileReader::SndfileReader(const fs::path& file, SndfilePtr sf, const SF_INFO& info)
    : sf_(std::move(sf)), rate_(info.samplerate), channels_(info.channels), format_(info.format) {
    if (info.frames != SF_COUNT_MAX)
        frames_ = info.frames;
    const int major = info.format & SF_FORMAT_TYPEMASK;
    if ((major == SF_FORMAT_WAV || major == SF_FORMAT_WAVEX || major == SF_FORMAT_RF64) &&
        isUncompressed(info.format))
        if (auto from_header = wavHeaderFrames(file); from_header && *from_header > info.frames)
            announced_ = *from_header;
    // Float reads of integer PCM are scaled to [-1, 1) by libsndfile already (SFC_SET_NORM_FLOAT is on by
    // default); set it anyway so the documented contract does not hang on a library default.
    sf_command(sf_.get(), SFC_SET_NORM_FLOAT, nullptr, SF_TRUE);
}

int64_t SndfileReader::read(float* out, int64_t stride, int64_t want) {
    int64_t done = 0;
    while (done < want) {
        const int64_t ask = channels_ == 1 ? want - done : std::min(want - done, kChunkFrames);
        sf_count_t got;
        if (channels_ == 1) {
            got = sf_readf_float(sf_.get(), out + done, ask); // mono is already in tensor layout
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
    return done;
}

std::optional<std::string> SndfileReader::endProblem() const {
    // Fewer frames than announced, or libsndfile's own error (a damaged FLAC frame, say).
    if (auto expected = announced(); (expected && done_ < *expected) || !said_.empty())
        return said_;
    if ((format_ & SF_FORMAT_TYPEMASK) == SF_FORMAT_OGG) {
        // A cut-off Ogg file has no final page, so libsndfile cannot tell its length (frames() is
        // unknown) and decodes up to the cut without an error; only its log says what happened.
        char log[16384] = {};
        sf_command(sf_.get(), SFC_GET_LOG_INFO, log, sizeof log);
        if (const char* ended = std::strstr(log, "ended unexpectedly")) {
            const char* start = ended;
            while (start > log && start[-1] != '\n' && start[-1] != ':')
                --start;
            while (*start == ' ')
                ++start;
            std::string line(start, std::strcspn(start, "\n"));
            while (!line.empty() && (line.back() == '.' || line.back() == ' '))
                line.pop_back();
            return "libsndfile: " + line;
        }
    }
    return std::nullopt;
}

std::unique_ptr<SndfileReader> openAudioFile(const fs::path& file, const std::function<void()>& use_ffmpeg) {
    std::error_code ec;
    auto status = fs::status(file, ec);
    if (ec && ec != std::errc::no_such_file_or_directory)
        throw fileError(file, "cannot access: " + ec.message() + "; expected a readable audio file");
    if (!fs::exists(status))
        throw fileError(file, "no such file; expected an audio file (WAV, FLAC, Ogg, ...)");
    if (fs::is_directory(status))
        throw fileError(file, "is a folder; expected an audio file (WAV, FLAC, Ogg, ...)");

    SF_INFO info{};
    SndfilePtr sf(sf_open(file.c_str(), SFM_READ, &info));
    if (!sf) {
        // Not a format libsndfile reads (MP4, MOV, WebM, AAC, ...): FFmpeg decodes the file's best audio
        // stream instead, so that videos' soundtracks work wherever audio files do.
        const std::string sndfile_reason = sf_strerror(nullptr);
        try {
            use_ffmpeg();
            return nullptr;
        } catch (const std::exception& e) {
            throw fileError(
                file,
                "cannot open as audio (libsndfile: " + sndfile_reason +
                    "; FFmpeg: " + ffmpegReasonIn(file, e.what()) +
                    "); expected a readable audio file (WAV, FLAC, Ogg, MP3, ...) or a video with sound");
        }
    }
    if (info.channels <= 0)
        throw fileError(file,
                        "declares " + std::to_string(info.channels) + " channels; expected at least one");
    if (info.samplerate <= 0)
        throw fileError(file, "declares a sample rate of " + std::to_string(info.samplerate) +
                                  " Hz; expected a positive rate");
    auto reader = std::make_unique<SndfileReader>(file, std::move(sf), info);
    if (info.frames <= 0) {
        auto announced = reader->announced();
        throw fileError(file, "contains no audio frames" +
                                  (announced && *announced > 0
                                       ? " of the " + std::to_string(*announced) +
                                             " its header announces; the file is truncated"
                                       : std::string("; expected at least one frame of audio")));
    }
    return reader;
}

DecodedAudio readAudio(const fs::path& file) {
    DecodedAudio result;
    auto reader = openAudioFile(file, [&] {
        MediaAudio media = readMediaAudio(file);
        result.samples = std::move(media.samples);
        result.sample_rate = media.sample_rate;
        result.format = "FFMPEG/" + media.format;
    });
    if (!reader)
        return result;

    const int64_t channels = reader->channels();
    torch::Tensor samples;
    if (auto frames = reader->frames()) {
        if (*frames > std::numeric_limits<int64_t>::max() / channels / int64_t(sizeof(float)))
            throw fileError(file,
                            "announces " + std::to_string(*frames) + " frames, too many to hold in memory");
        samples = torch::empty({channels, *frames}, torch::kFloat32);
        reader->read(samples.data_ptr<float>(), *frames, *frames);
    } else {
        // libsndfile cannot tell the length (an Ogg stream without its last page): read to the end in
        // blocks, for endProblem to judge how it ended.
        constexpr int64_t kBlockFrames = int64_t(1) << 18;
        std::vector<torch::Tensor> blocks;
        while (true) {
            torch::Tensor block = torch::empty({channels, kBlockFrames}, torch::kFloat32);
            const int64_t got = reader->read(block.data_ptr<float>(), kBlockFrames, kBlockFrames);
            blocks.push_back(block.narrow(1, 0, got));
            if (got < kBlockFrames)
                break;
        }
        samples = torch::cat(blocks, 1);
    }
    if (auto problem = reader->endProblem()) {
        const std::string done = std::to_string(reader->done());
        const std::string said = problem->empty() ? "" : " (" + *problem + ")";
        if (auto announced = reader->announced())
            throw fileError(file, "yielded only " + done + " of the " + std::to_string(*announced) +
                                      " frames its header announces" + said +
                                      "; the file is truncated or damaged");
        throw fileError(file, "yielded only " + done + " frames before it broke off" + said +
                                  "; the file is truncated or damaged");
    }
    if (samples.size(1) == 0)
        throw fileError(file, "contains no audio frames; expected at least one frame of audio");

    result.samples = std::move(samples);
    result.sample_rate = reader->sampleRate();
    result.format = reader->format();
    return result;
}

torch::Tensor resample(const torch::Tensor& samples, double from_rate, double to_rate) {
    if (samples.dim() != 2)
        throw std::invalid_argument("resample: expected samples shaped [channels, frames], got " +
                                    std::to_string(samples.dim()) + " dimensions");
    if (!(std::isfinite(from_rate) && from_rate > 0 && std::isfinite(to_rate) && to_rate > 0))
        throw std::invalid_argument("resample: sample rates must be finite and positive, got " +
                                    std::to_string(from_rate) + " Hz to " + std::to_string(to_rate) + " Hz");
    if (from_rate == to_rate)
        return samples;

    torch::Tensor in = samples.to(torch::kCPU, torch::kFloat32).contiguous();
    const int64_t channels = in.size(0);
    const int64_t frames = in.size(1);
    // llround rounds halves away from zero, i.e. up for these positive lengths.
    const int64_t out_frames = std::llround(double(frames) * to_rate / from_rate);
    torch::Tensor out = torch::zeros({channels, out_frames}, torch::kFloat32);
    if (channels == 0 || frames == 0 || out_frames == 0)
        return out;

    std::vector<const float*> in_rows(static_cast<size_t>(channels));
    std::vector<float*> out_rows(static_cast<size_t>(channels));
    for (int64_t c = 0; c < channels; ++c) {
        in_rows[size_t(c)] = in.data_ptr<float>() + c * frames;
        out_rows[size_t(c)] = out.data_ptr<float>() + c * out_frames;
    }
    // Split-channel I/O reads and writes the tensor rows in place: no interleaving copies. One thread, so
    // that libsoxr's OpenMP workers do not compete with LibTorch's intra-op pool.
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_S, SOXR_FLOAT32_S);
    soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
    soxr_runtime_spec_t runtime = soxr_runtime_spec(1);
    size_t in_done = 0;
    size_t out_done = 0;
    // soxr_oneshot flushes the filter at the end of the input, so the tail is complete. Should libsoxr
    // ever emit one frame fewer than the rounded length, the zero-initialised tail stays silent.
    soxr_error_t error =
        soxr_oneshot(from_rate, to_rate, unsigned(channels), in_rows.data(), size_t(frames), &in_done,
                     out_rows.data(), size_t(out_frames), &out_done, &io, &quality, &runtime);
    if (error)
        throw std::runtime_error("resample: libsoxr failed to resample from " + std::to_string(from_rate) +
                                 " Hz to " + std::to_string(to_rate) + " Hz: " + error);
    return out;
}

} // namespace avgraph::host
