#include "host/audio_file.h"

#include "host/media/media_file.h"

#include <sndfile.h>
#include <soxr.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <vector>

namespace avgraph::host {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const fs::path& file, const std::string& what) {
    throw std::runtime_error(file.string() + ": " + what);
}

struct SndfileCloser {
    void operator()(SNDFILE* f) const { sf_close(f); }
};
using SndfilePtr = std::unique_ptr<SNDFILE, SndfileCloser>;

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

std::string formatName(int format) {
    return nameOf(format & SF_FORMAT_TYPEMASK, kMajorNames) + "/" +
           nameOf(format & SF_FORMAT_SUBMASK, kSubtypeNames);
}

// Frames per read when de-interleaving: large enough that libsndfile's per-call cost vanishes, small
// enough that the interleaved staging buffer stays in cache instead of doubling the clip's memory.
constexpr sf_count_t kChunkFrames = 16384;

} // namespace

DecodedAudio readAudio(const fs::path& file) {
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
        // Not a format libsndfile reads (MP4, MOV, WebM, AAC, ...): FFmpeg decodes the file's best audio
        // stream instead, so that videos' soundtracks work wherever audio files do.
        const std::string sndfile_reason = sf_strerror(nullptr);
        try {
            MediaAudio media = readMediaAudio(file);
            DecodedAudio result;
            result.samples = std::move(media.samples);
            result.sample_rate = media.sample_rate;
            result.format = "FFMPEG/" + media.format;
            return result;
        } catch (const std::exception& e) {
            // readMediaAudio's message starts with the path and ends with what it expected: keep what
            // FFmpeg said ("(FFmpeg: reason)"), or the message's middle when the problem was found before.
            std::string ffmpeg_reason = e.what();
            const std::string prefix = file.string() + ": ";
            if (ffmpeg_reason.compare(0, prefix.size(), prefix) == 0)
                ffmpeg_reason.erase(0, prefix.size());
            const size_t said = ffmpeg_reason.find("(FFmpeg: ");
            const size_t end = ffmpeg_reason.find(')', said);
            if (said != std::string::npos && end != std::string::npos)
                ffmpeg_reason = ffmpeg_reason.substr(said + 9, end - said - 9);
            else if (const size_t expected = ffmpeg_reason.find("; expected"); expected != std::string::npos)
                ffmpeg_reason.erase(expected);
            fail(file,
                 "cannot open as audio (libsndfile: " + sndfile_reason + "; FFmpeg: " + ffmpeg_reason +
                     "); expected a readable audio file (WAV, FLAC, Ogg, MP3, ...) or a video with sound");
        }
    }
    if (info.channels <= 0)
        fail(file, "declares " + std::to_string(info.channels) + " channels; expected at least one");
    if (info.samplerate <= 0)
        fail(file, "declares a sample rate of " + std::to_string(info.samplerate) +
                       " Hz; expected a positive rate");
    if (info.frames <= 0)
        fail(file, "contains no audio frames; expected at least one frame of audio");
    // libsndfile reports SF_COUNT_MAX when it cannot know the length; refusing beats a giant allocation.
    const int64_t channels = info.channels;
    if (info.frames > std::numeric_limits<int64_t>::max() / channels / int64_t(sizeof(float)))
        fail(file, "announces " + std::to_string(info.frames) + " frames, too many to hold in memory");

    const int64_t frames = info.frames;
    // Float reads of integer PCM are scaled to [-1, 1) by libsndfile already (SFC_SET_NORM_FLOAT is on by
    // default); set it anyway so the documented contract does not hang on a library default.
    sf_command(sf.get(), SFC_SET_NORM_FLOAT, nullptr, SF_TRUE);

    torch::Tensor samples = torch::empty({channels, frames}, torch::kFloat32);
    float* out = samples.data_ptr<float>();
    int64_t done = 0;
    if (channels == 1) {
        // Mono is already in tensor layout: decode straight into it.
        done = sf_readf_float(sf.get(), out, frames);
    } else {
        std::vector<float> chunk(size_t(std::min<int64_t>(frames, kChunkFrames) * channels));
        while (done < frames) {
            sf_count_t want = std::min<int64_t>(frames - done, kChunkFrames);
            sf_count_t got = sf_readf_float(sf.get(), chunk.data(), want);
            if (got <= 0)
                break;
            for (int64_t c = 0; c < channels; ++c) {
                float* row = out + c * frames + done;
                const float* src = chunk.data() + c;
                for (sf_count_t i = 0; i < got; ++i)
                    row[i] = src[i * channels];
            }
            done += got;
        }
    }
    if (done < frames) {
        std::string reason =
            sf_error(sf.get()) ? " (libsndfile: " + std::string(sf_strerror(sf.get())) + ")" : "";
        fail(file, "yielded only " + std::to_string(done) + " of the " + std::to_string(frames) +
                       " frames its header announces" + reason + "; the file is truncated or damaged");
    }

    DecodedAudio result;
    result.samples = std::move(samples);
    result.sample_rate = info.samplerate;
    result.format = formatName(info.format);
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
