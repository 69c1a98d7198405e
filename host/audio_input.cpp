#include "host/audio_input.h"

#include "graph/error.h"
#include "host/audio_file.h"
#include "host/input_files.h"
#include "host/media/media_file.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>
#include <utility>

namespace avgraph::host {

namespace {
/**
 * NaN or infinite samples would turn every frame that contains them, and with top_db every value of
 * the clip, into NaN without a word; librosa refuses such buffers too (util.valid_audio).
 */
void requireFinite(const std::filesystem::path& file, const torch::Tensor& samples, double rate) {
    auto bad = torch::logical_not(torch::isfinite(samples));
    if (!bad.any().item<bool>())
        return;
    const int64_t count = bad.sum().item<int64_t>();
    auto first = bad.nonzero()[0]; // [channel, frame]
    const int64_t channel = first[0].item<int64_t>();
    const int64_t frame = first[1].item<int64_t>();
    const double value = samples[channel][frame].item<double>();
    throw Error({file.string(), "", "", 0, 0},
                std::to_string(count) + " sample(s) are not finite, the first at frame " +
                    std::to_string(frame) + " (" + std::to_string(static_cast<double>(frame) / rate) +
                    " s) of channel " + std::to_string(channel) + ": " +
                    (std::isnan(value) ? "NaN"
                     : value > 0       ? "+inf"
                                       : "-inf") +
                    "; expected finite samples (repair or drop the file)");
}
} // namespace

Value audioValue(const torch::Tensor& samples, double sample_rate) {
    Value v;
    v.tensor = samples.unsqueeze(0);
    v.kind = Kind::Audio;
    v.sample_rate = sample_rate;
    v.axes = {"batch", "channel", "sample"};
    return v;
}

Value loadAudioFor(const std::filesystem::path& file, const PresetInput& input) {
    if (input.kind != Kind::Audio)
        throw Error({file.string(), "", input.name, 0, 0}, "the preset's input '" + input.name + "' takes " +
                                                               std::string(kindName(input.kind)) +
                                                               ", not audio files");
    DecodedAudio audio;
    try {
        audio = readAudio(file);
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        throw Error({}, e.what()); // readAudio's messages start with the file already
    }
    torch::Tensor samples = audio.samples;
    double rate = audio.sample_rate;
    requireFinite(file, samples, rate);
    if (input.sample_rate && *input.sample_rate != rate) {
        samples = resample(samples, rate, *input.sample_rate);
        rate = *input.sample_rate;
    }
    return audioValue(samples, rate);
}

Value loadImageFor(const std::filesystem::path& file, const PresetInput& input) {
    if (input.kind != Kind::Image)
        throw Error({file.string(), "", input.name, 0, 0}, "the preset's input '" + input.name + "' takes " +
                                                               std::string(kindName(input.kind)) +
                                                               ", not image files");
    torch::Tensor rgb;
    try {
        rgb = readImage(file);
    } catch (const std::exception& e) {
        throw Error({}, e.what()); // readImage's messages start with the file already
    }
    Value v;
    v.tensor = rgb.to(torch::kFloat32).unsqueeze(0);
    v.kind = Kind::Image;
    v.axes = {"batch", "channel", "row", "col"};
    return v;
}

namespace {

/** A stretch of a decoded clip: samples [start, start + duration) seconds, zeros past either end. */
Value audioStretch(const Value& whole, double start, double duration) {
    if (duration <= 0.0 && start <= 0.0)
        return whole;
    const double rate = whole.sample_rate;
    const auto& t = whole.tensor; // [1, channels, samples]
    const int64_t total = t.size(-1);
    const int64_t from = std::llround(start * rate);
    const int64_t n = duration > 0.0 ? std::max<int64_t>(1, std::llround(duration * rate)) : total - from;
    auto out = torch::zeros({t.size(0), t.size(1), std::max<int64_t>(n, 1)}, t.options());
    const int64_t a = std::max<int64_t>(from, 0), b = std::min<int64_t>(from + n, total);
    if (b > a)
        out.narrow(-1, a - from, b - a).copy_(t.narrow(-1, a, b - a));
    return whole.withTensor(out);
}

} // namespace

std::map<std::string, Value> loadClipInputs(const Clip& clip, const std::vector<PresetInput>& inputs) {
    // One decoded file of each kind is kept: the segments of a recording come one after another.
    thread_local std::pair<std::string, Value> last_audio;
    thread_local std::pair<std::string, VideoFrames> last_video;
    std::map<std::string, Value> values;
    for (const auto& input : inputs) {
        if (input.kind == Kind::Audio) {
            const std::string key =
                clip.path.string() + "|" + std::to_string(input.sample_rate.value_or(0.0));
            if (last_audio.first != key)
                last_audio = {key, loadAudioFor(clip.path, input)};
            values[input.name] = audioStretch(last_audio.second, clip.start, clip.duration);
        } else if (input.kind == Kind::Image) {
            const auto& file = clip.video.empty() ? clip.path : clip.video;
            if (isImageFileName(file)) {
                values[input.name] = loadImageFor(file, input);
                continue;
            }
            // Frames one segment apart, each at a segment's middle: segment k's picture is frame k.
            double span = clip.duration;
            try {
                if (span <= 0.0)
                    span = videoDuration(file);
                const std::string key = file.string() + "|" + std::to_string(span);
                if (last_video.first != key)
                    last_video = {key, readVideoFrames(file, 1.0 / span)};
            } catch (const Error&) {
                throw;
            } catch (const std::exception& e) {
                throw Error({file.string(), "", input.name, 0, 0}, e.what());
            }
            const auto& frames = last_video.second.frames; // [n, 3, H, W] uint8
            const int64_t k = std::clamp<int64_t>(static_cast<int64_t>(std::floor(clip.start / span + 1e-9)),
                                                  0, frames.size(0) - 1);
            Value v;
            v.tensor = frames[k].to(torch::kFloat32).unsqueeze(0);
            v.kind = Kind::Image;
            v.axes = {"batch", "channel", "row", "col"};
            values[input.name] = std::move(v);
        } else {
            throw Error({clip.path.string(), "", input.name, 0, 0},
                        "the preset's input '" + input.name + "' takes " + std::string(kindName(input.kind)) +
                            "; dataset clips feed audio and image inputs only");
        }
    }
    return values;
}

bool sameShape(const Value& a, const Value& b) {
    return a.sample_rate == b.sample_rate && a.tensor.sizes() == b.tensor.sizes();
}

Value stackClips(const std::vector<Value>& clips) {
    if (clips.size() == 1)
        return clips[0];
    std::vector<torch::Tensor> ts;
    for (const auto& c : clips)
        ts.push_back(c.tensor);
    return clips[0].withTensor(torch::cat(ts, 0));
}

bool sameShapes(const std::map<std::string, Value>& a, const std::map<std::string, Value>& b) {
    if (a.size() != b.size())
        return false;
    for (const auto& [name, v] : a)
        if (!b.count(name) || !sameShape(v, b.at(name)))
            return false;
    return true;
}

std::map<std::string, Value> stackClipInputs(const std::vector<std::map<std::string, Value>>& clips) {
    std::map<std::string, Value> out;
    for (const auto& [name, unused] : clips.front()) {
        std::vector<Value> values;
        for (const auto& c : clips)
            values.push_back(c.at(name));
        out[name] = stackClips(values);
    }
    return out;
}

} // namespace avgraph::host
