#include "io/audio_input.h"

#include "graph/error.h"
#include "io/audio_file.h"
#include "io/input_files.h"
#include "io/media/media_file.h"

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
    throw fileError(file, std::to_string(count) + " sample(s) are not finite, the first at frame " +
                              std::to_string(frame) + " (" +
                              std::to_string(static_cast<double>(frame) / rate) + " s) of channel " +
                              std::to_string(channel) + ": " +
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
