#include "host/datasets/clip_inputs.h"

#include "graph/error.h"
#include "io/audio_input.h"
#include "io/input_files.h"
#include "io/media/media_file.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

namespace avgraph::host {

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

} // namespace avgraph::host
