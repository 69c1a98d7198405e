// Running a classifier graph over a dataset's clips (host/evaluation.h).
#include "host/evaluation.h"
#include "host/message_text.h"

#include "graph/error.h"
#include "host/audio_input.h"
#include "host/metrics/metrics.h"
#include "host/progress_bar.h"

#include <algorithm>
#include <map>

namespace avgraph::host {

/** The output that holds the class probabilities: "probabilities", else the only output. */
std::string probabilityOutput(const Preset& preset) {
    std::vector<std::string> names;
    for (const auto& o : preset.outputs())
        names.push_back(o.name);
    if (std::find(names.begin(), names.end(), "probabilities") != names.end())
        return "probabilities";
    if (names.size() == 1)
        return names.front();
    throw Error(preset.locate("/outputs"),
                "evaluation reads class probabilities from the output named \"probabilities\", or "
                "from the only output; this preset has " +
                    (names.empty() ? std::string("no outputs") : "the outputs " + joinNames(names)));
}

metrics::Predictions predictClips(Executor& executor, const Dataset& ds, const std::vector<size_t>& clips,
                                  const std::vector<size_t>& train_clips, int batch_size, bool progress) {
    const Preset& preset = executor.graph().preset();
    if (preset.inputs().size() != 1)
        throw Error(preset.locate("/inputs"),
                    "evaluation feeds audio clips to a preset with one audio input; this preset has " +
                        std::to_string(preset.inputs().size()));
    const PresetInput& input = preset.inputs()[0];
    const std::string output = probabilityOutput(preset);
    metrics::Predictions predictions;
    predictions.classes = ds.classes;
    for (size_t i : train_clips) {
        if (!ds.clips[i].city.empty())
            predictions.train_cities.insert(ds.clips[i].city);
        if (!ds.clips[i].device.empty())
            predictions.train_devices.insert(ds.clips[i].device);
    }

    // column[c]: the model's output column of dataset class c (set from the first batch).
    std::vector<int64_t> column;
    auto mapClasses = [&](const Value& value) {
        const torch::Tensor& t = value.tensor;
        auto n_classes = static_cast<int64_t>(ds.classes.size());
        if (t.size(1) != n_classes)
            throw Error(preset.locate("/outputs/" + pointerToken(output)),
                        "the model gives " + std::to_string(t.size(1)) + " classes (output \"" + output +
                            "\" " + shapeText(t) + "), the dataset has " + std::to_string(n_classes) + " (" +
                            joinNames(ds.classes) + ")");
        column.resize(ds.classes.size());
        if (value.class_names.empty()) { // the model's columns are the dataset's classes in order
            for (int64_t c = 0; c < n_classes; ++c)
                column[c] = c;
            return;
        }
        for (size_t c = 0; c < ds.classes.size(); ++c) {
            auto it = std::find(value.class_names.begin(), value.class_names.end(), ds.classes[c]);
            if (it == value.class_names.end())
                throw Error(preset.locate("/outputs/" + pointerToken(output)),
                            "the dataset's class \"" + ds.classes[c] +
                                "\" is not one of the model's class names (" + joinNames(value.class_names) +
                                ")");
            column[c] = it - value.class_names.begin();
        }
    };

    ProgressBar bar(clips.size(), progress);
    std::vector<Value> pending;
    std::vector<size_t> batch_clips;
    size_t done = 0;
    auto flush = [&] {
        if (pending.empty())
            return;
        std::map<std::string, Value> results;
        try {
            results = executor.run({{input.name, stackClips(pending)}});
        } catch (const Error& e) {
            std::string names;
            for (size_t i : batch_clips)
                names += (names.empty() ? "" : ", ") + ds.clips[i].path.string();
            throw Error(e.where(), e.message() + " (clips " + names + ")");
        }
        const Value& value = results.at(output);
        torch::Tensor t = value.tensor;
        if (t.dim() != 2 || t.size(0) != static_cast<int64_t>(pending.size()))
            throw Error(preset.locate("/outputs/" + pointerToken(output)),
                        "output \"" + output + "\" has shape " + shapeText(t) + " for a batch of " +
                            std::to_string(pending.size()) +
                            " clip(s); evaluation needs [batch, classes] class probabilities");
        if (column.empty())
            mapClasses(value);
        t = t.to(torch::kCPU, torch::kDouble).contiguous();
        if (t.min().item<double>() < 0.0 || t.max().item<double>() > 1.0 ||
            (t.sum(1) - 1.0).abs().max().item<double>() > metrics::kSumTolerance)
            throw Error(preset.locate("/outputs/" + pointerToken(output)),
                        "output \"" + output +
                            "\" does not hold class probabilities (values in [0, 1] summing to 1 per "
                            "clip); end the preset with models.softmax");
        auto a = t.accessor<double, 2>();
        for (size_t b = 0; b < pending.size(); ++b) {
            const Clip& clip = ds.clips[batch_clips[b]];
            std::vector<double> p(column.size());
            for (size_t c = 0; c < column.size(); ++c)
                p[c] = a[static_cast<int64_t>(b)][column[c]];
            predictions.add(clip.file, clip.label, std::move(p), clip.city, clip.device);
        }
        done += pending.size();
        bar.update(done, ds.clips[batch_clips.back()].path.filename().string());
        pending.clear();
        batch_clips.clear();
    };
    for (size_t i : clips) {
        Value clip = loadAudioFor(ds.clips[i].path, input);
        if (!pending.empty() &&
            (!sameShape(pending[0], clip) || static_cast<int>(pending.size()) >= batch_size))
            flush();
        pending.push_back(std::move(clip));
        batch_clips.push_back(i);
    }
    flush();
    bar.finish();

    return predictions;
}

} // namespace avgraph::host
