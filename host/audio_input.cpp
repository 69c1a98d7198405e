#include "host/audio_input.h"

#include "graph/error.h"
#include "host/audio_file.h"

namespace avgraph::host {

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
    if (input.sample_rate && *input.sample_rate != rate) {
        samples = resample(samples, rate, *input.sample_rate);
        rate = *input.sample_rate;
    }
    Value v;
    v.tensor = samples.unsqueeze(0);
    v.kind = Kind::Audio;
    v.sample_rate = rate;
    v.axes = {"batch", "channel", "sample"};
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

} // namespace avgraph::host
