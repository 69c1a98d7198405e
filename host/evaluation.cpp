// Running a classifier graph over a dataset's clips (host/evaluation.h).
#include "host/evaluation.h"
#include "io/message_text.h"

#include "graph/error.h"
#include "host/datasets/clip_inputs.h"
#include "host/metrics/metrics.h"
#include "host/progress_bar.h"
#include "host/training/batcher.h"
#include "host/training/class_columns.h"
#include "io/audio_input.h"

#include "host/metrics/plots.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <iomanip>
#include <map>
#include <ostream>
#include <sstream>
#include <stdexcept>

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

namespace {

/** The output named `name` (empty: probabilityOutput); an Error listing the outputs when there is none. */
std::string chosenOutput(const Preset& preset, const std::string& name) {
    if (name.empty())
        return probabilityOutput(preset);
    std::vector<std::string> names;
    for (const auto& o : preset.outputs())
        names.push_back(o.name);
    if (std::find(names.begin(), names.end(), name) == names.end())
        throw Error(preset.locate("/outputs"),
                    "no output named \"" + name + "\"; this preset has " + joinNames(names));
    return name;
}

/** column[c]: the output's column of dataset class c (host/training/class_columns.h); errors at the output.
 */
std::vector<int64_t> outputColumns(const Preset& preset, const std::string& output, const Value& value,
                                   const Dataset& ds) {
    const torch::Tensor& t = value.tensor;
    const auto n_classes = static_cast<int64_t>(ds.classes.size());
    if (t.size(1) != n_classes)
        throw Error(preset.locate("/outputs/" + pointerToken(output)),
                    "the model gives " + std::to_string(t.size(1)) + " classes (output \"" + output + "\" " +
                        shapeText(t) + "), the dataset has " + std::to_string(n_classes) + " (" +
                        joinNames(ds.classes) + ")");
    try {
        return training::classColumns(ds.classes, value.class_names);
    } catch (const std::invalid_argument& e) {
        throw Error(preset.locate("/outputs/" + pointerToken(output)), e.what());
    }
}

/** The batch's class probabilities as doubles on the CPU; an Error at the output when they are not. */
torch::Tensor checkedProbabilities(const Preset& preset, const std::string& output, torch::Tensor t) {
    t = t.to(torch::kCPU, torch::kDouble).contiguous();
    if (t.min().item<double>() < 0.0 || t.max().item<double>() > 1.0 ||
        (t.sum(1) - 1.0).abs().max().item<double>() > metrics::kSumTolerance)
        throw Error(preset.locate("/outputs/" + pointerToken(output)),
                    "output \"" + output +
                        "\" does not hold class probabilities (values in [0, 1] summing to 1 per "
                        "clip); end the preset with models.softmax");
    return t;
}

/** The graph's outputs for a batch of clips; an error names the clips. */
std::map<std::string, Value> runClips(Executor& executor, const Dataset& ds, const std::vector<size_t>& clips,
                                      const std::vector<std::map<std::string, Value>>& inputs) {
    try {
        return executor.run(stackClipInputs(inputs));
    } catch (const Error& e) {
        std::string names;
        for (size_t i : clips)
            names += (names.empty() ? "" : ", ") + ds.clips[i].path.string();
        throw Error(e.where(), e.message() + " (clips " + names + ")");
    }
}

} // namespace

metrics::Predictions predictClips(Executor& executor, const Dataset& ds, const std::vector<size_t>& clips,
                                  const std::vector<size_t>& train_clips, int batch_size, bool progress,
                                  const std::string& output_name) {
    const Preset& preset = executor.graph().preset();
    const std::string output = chosenOutput(preset, output_name);
    metrics::Predictions predictions;
    predictions.classes = ds.classes;
    for (size_t i : train_clips) {
        if (!ds.clips[i].city.empty())
            predictions.train_cities.insert(ds.clips[i].city);
        if (!ds.clips[i].device.empty())
            predictions.train_devices.insert(ds.clips[i].device);
    }
    std::vector<int64_t> column; // the model's output column of each dataset class, from the first batch
    ProgressBar bar(clips.size(), progress);
    size_t done = 0;
    using Loaded = std::pair<size_t, std::map<std::string, Value>>; // a clip and its graph inputs
    training::ShapeBatcher<Loaded> batcher(
        static_cast<size_t>(batch_size), [&](const std::vector<Loaded>& batch) {
            std::vector<size_t> batch_clips;
            std::vector<std::map<std::string, Value>> inputs;
            for (const auto& [clip, values] : batch) {
                batch_clips.push_back(clip);
                inputs.push_back(values);
            }
            const Value value = runClips(executor, ds, batch_clips, inputs).at(output);
            if (value.tensor.dim() != 2 || value.tensor.size(0) != static_cast<int64_t>(batch.size()))
                throw Error(preset.locate("/outputs/" + pointerToken(output)),
                            "output \"" + output + "\" has shape " + shapeText(value.tensor) +
                                " for a batch of " + std::to_string(batch.size()) +
                                " clip(s); evaluation needs [batch, classes] class probabilities");
            if (column.empty())
                column = outputColumns(preset, output, value, ds);
            const auto t = checkedProbabilities(preset, output, value.tensor);
            auto a = t.accessor<double, 2>();
            for (size_t b = 0; b < batch_clips.size(); ++b) {
                const Clip& clip = ds.clips[batch_clips[b]];
                std::vector<double> p(column.size());
                for (size_t c = 0; c < column.size(); ++c)
                    p[c] = a[static_cast<int64_t>(b)][column[c]];
                predictions.add(clip.file, clip.label, std::move(p), clip.city, clip.device);
            }
            done += batch_clips.size();
            bar.update(done, ds.clips[batch_clips.back()].path.filename().string());
        });
    for (size_t i : clips) {
        auto values = loadClipInputs(ds.clips[i], preset.inputs());
        auto shape = training::shapeKey(values);
        batcher.add({i, std::move(values)}, std::move(shape));
    }
    batcher.flush();
    bar.finish();
    return predictions;
}

std::optional<EarlyDetection> earlyDetection(const Dataset& ds, const std::vector<size_t>& clips,
                                             const metrics::Predictions& predictions) {
    if (predictions.clips.size() != clips.size())
        return std::nullopt;
    // Each recording's test segments, in time order: (segment index, position in predictions).
    std::map<std::string, std::vector<std::pair<int, size_t>>> recordings;
    double seconds = 0.0;
    for (size_t k = 0; k < clips.size(); ++k) {
        const Clip& c = ds.clips[clips[k]];
        if (c.duration <= 0.0 || c.subsegment < 0 || c.recording.empty())
            return std::nullopt;
        seconds = c.duration;
        recordings[c.recording].push_back({c.subsegment, k});
    }
    size_t longest = 0;
    for (auto& [name, segments] : recordings) {
        std::sort(segments.begin(), segments.end());
        longest = std::max(longest, segments.size());
    }
    if (longest < 2)
        return std::nullopt;
    EarlyDetection curve;
    curve.recordings = recordings.size();
    for (size_t n = 1; n <= longest; ++n) {
        metrics::Predictions p;
        p.classes = predictions.classes;
        p.train_cities = predictions.train_cities;
        p.train_devices = predictions.train_devices;
        for (const auto& [name, segments] : recordings) {
            const size_t m = std::min(n, segments.size());
            std::vector<double> mean(predictions.classes.size(), 0.0);
            for (size_t j = 0; j < m; ++j)
                for (size_t c = 0; c < mean.size(); ++c)
                    mean[c] +=
                        predictions.clips[segments[j].second].probabilities[c] / static_cast<double>(m);
            const auto& first = predictions.clips[segments.front().second];
            p.add(name, first.label, std::move(mean), first.city, first.device);
        }
        curve.seconds.push_back(static_cast<double>(n) * seconds);
        curve.scores.push_back(metrics::computeMetrics(p).overall);
    }
    return curve;
}

void writeEarlyDetection(const std::filesystem::path& dir, const EarlyDetection& curve,
                         const std::string& plot_format, bool plots, std::ostream& out) {
    nlohmann::json j = {{"recordings", curve.recordings}, {"points", nlohmann::json::array()}};
    std::vector<double> accuracy, class_accuracy;
    out << "early detection (" << curve.recordings << " recordings):";
    for (size_t i = 0; i < curve.seconds.size(); ++i) {
        const auto& s = curve.scores[i];
        j["points"].push_back({{"seconds", curve.seconds[i]},
                               {"accuracy", s.accuracy},
                               {"class_average_accuracy", s.class_average_accuracy},
                               {"log_loss", s.log_loss}});
        accuracy.push_back(s.accuracy);
        class_accuracy.push_back(s.class_average_accuracy);
        std::ostringstream point; // a stream of its own: `out` keeps its format
        point << " " << curve.seconds[i] << " s " << std::fixed << std::setprecision(1) << 100.0 * s.accuracy
              << " %" << (i + 1 < curve.seconds.size() ? "," : "\n");
        out << point.str();
    }
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "early_detection.json") << j.dump(2) << "\n";
    if (plots)
        metrics::plotEarlyDetection(dir, curve.seconds,
                                    {{"accuracy", accuracy}, {"class-average accuracy", class_accuracy}},
                                    metrics::parsePlotFormat(plot_format));
}

} // namespace avgraph::host
