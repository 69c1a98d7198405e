// avgraph eval: a classifier preset over a dataset's test split, scored as DCASE scores it
// (metrics.json, report.md, plots and the prediction CSV; docs/evaluation.md).
#include "host/cli/commands.h"

#include "graph/error.h"
#include "host/audio_input.h"
#include "host/datasets/dataset.h"
#include "host/metrics/report.h"
#include "host/progress_bar.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>
#include <map>

namespace avgraph::host {

namespace {

struct EvalSettings {
    GraphOptions graph;
    std::string data;
    std::string format;
    int fold = -1;
    std::string weights;
    std::string out;
    int batch = 8;
    std::string plot_format = "svg";
    bool no_plots = false;
};

std::string shapeText(const torch::Tensor& t) {
    std::string s = "[";
    for (int64_t d = 0; d < t.dim(); ++d)
        s += (d ? ", " : "") + std::to_string(t.size(d));
    return s + "]";
}

std::string joinNames(const std::vector<std::string>& names) {
    std::string s;
    for (const auto& n : names)
        s += (s.empty() ? "" : ", ") + n;
    return s;
}

/** The ids of the preset's trainable nodes, in preset order. */
std::vector<std::string> trainableNodes(const Graph& graph) {
    std::vector<std::string> ids;
    for (size_t v = 0; v < graph.size(); ++v)
        if (!graph.vertex(v).is_input && graph.vertex(v).spec && graph.vertex(v).spec->trainable)
            ids.push_back(graph.vertex(v).id);
    return ids;
}

/** --weights W as `--set <the trainable node>.weights=W`. */
GraphOptions withWeights(const EvalSettings& settings, const GlobalOptions& global) {
    GraphOptions options = settings.graph;
    if (settings.weights.empty())
        return options;
    LoadedGraph probe = loadGraph(options, global);
    auto ids = trainableNodes(*probe.graph);
    Location where = probe.graph->preset().locate("/nodes");
    if (ids.empty())
        throw Error(where, "--weights needs a trainable node (e.g. models.cnn9); this preset has none");
    if (ids.size() > 1)
        throw Error(where, "--weights is ambiguous: the preset has several trainable nodes (" +
                               joinNames(ids) + "); give each its weights with --set NODE.weights=FILE");
    nlohmann::json path = std::filesystem::absolute(settings.weights).string();
    options.overrides.push_back(ids.front() + ".weights=" + path.dump());
    return options;
}

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
                "`avgraph eval` reads class probabilities from the output named \"probabilities\", or "
                "from the only output; this preset has " +
                    (names.empty() ? std::string("no outputs") : "the outputs " + joinNames(names)));
}

void evalCommand(const EvalSettings& settings, const GlobalOptions& global) {
    // The dataset first: its problems are cheaper to find than a model's.
    DatasetOptions data_options;
    if (!settings.format.empty())
        data_options.format = parseFormatName(settings.format);
    Dataset ds = openDataset(settings.data, data_options);
    if (!ds.labelled)
        throw Error({settings.data, "", "", 0, 0},
                    "`avgraph eval` needs labelled clips; this dataset is an evaluation set without labels");
    int fold = settings.fold >= 0 ? settings.fold : defaultFold(ds);
    Split split = splitFold(ds, fold);
    if (split.test.empty())
        throw Error({settings.data, "", "", 0, 0},
                    "the test split" + (fold ? " of fold " + std::to_string(fold) : std::string()) +
                        " is empty");

    LoadedGraph loaded = loadGraph(withWeights(settings, global), global);
    const Preset& preset = loaded.graph->preset();
    if (preset.inputs().size() != 1)
        throw Error(preset.locate("/inputs"),
                    "`avgraph eval` feeds audio clips to a preset with one audio input; this preset has " +
                        std::to_string(preset.inputs().size()));
    const PresetInput& input = preset.inputs()[0];
    const std::string output = probabilityOutput(preset);

    metrics::Predictions predictions;
    predictions.classes = ds.classes;
    for (size_t i : split.train) {
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

    ProgressBar progress(split.test.size(), stderrIsTerminal());
    std::vector<Value> batch;
    std::vector<size_t> batch_clips;
    size_t done = 0;
    auto flush = [&] {
        if (batch.empty())
            return;
        std::map<std::string, Value> results;
        try {
            results = loaded.executor->run({{input.name, stackClips(batch)}});
        } catch (const Error& e) {
            std::string names;
            for (size_t i : batch_clips)
                names += (names.empty() ? "" : ", ") + ds.clips[i].path.string();
            throw Error(e.where(), e.message() + " (clips " + names + ")");
        }
        const Value& value = results.at(output);
        torch::Tensor t = value.tensor;
        if (t.dim() != 2 || t.size(0) != static_cast<int64_t>(batch.size()))
            throw Error(preset.locate("/outputs/" + pointerToken(output)),
                        "output \"" + output + "\" has shape " + shapeText(t) + " for a batch of " +
                            std::to_string(batch.size()) +
                            " clip(s); `avgraph eval` needs [batch, classes] class probabilities");
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
        for (size_t b = 0; b < batch.size(); ++b) {
            const Clip& clip = ds.clips[batch_clips[b]];
            std::vector<double> p(column.size());
            for (size_t c = 0; c < column.size(); ++c)
                p[c] = a[static_cast<int64_t>(b)][column[c]];
            predictions.add(clip.file, clip.label, std::move(p), clip.city, clip.device);
        }
        done += batch.size();
        progress.update(done, ds.clips[batch_clips.back()].path.filename().string());
        batch.clear();
        batch_clips.clear();
    };
    for (size_t i : split.test) {
        Value clip = loadAudioFor(ds.clips[i].path, input);
        if (!batch.empty() &&
            (!sameShape(batch[0], clip) || static_cast<int>(batch.size()) >= settings.batch))
            flush();
        batch.push_back(std::move(clip));
        batch_clips.push_back(i);
    }
    flush();
    progress.finish();

    metrics::ReportOptions options;
    options.plot_format = metrics::parsePlotFormat(settings.plot_format);
    options.plots = !settings.no_plots;
    options.write_predictions = true;
    options.source = settings.graph.preset + (settings.weights.empty() ? "" : " with " + settings.weights) +
                     " on " + settings.data +
                     (fold ? " (fold " + std::to_string(fold) + " test)" : std::string(" (test)"));
    metrics::printReportSummary(std::cout, metrics::writeReport(settings.out, predictions, options));
}

} // namespace

void addEvalCommand(CLI::App& app, const GlobalOptions& global) {
    auto settings = std::make_shared<EvalSettings>();
    CLI::App* cmd = app.add_subcommand(
        "eval", "Score a classifier preset on a dataset's test split: metrics.json, report.md, plots, "
                "predictions.csv");
    addGraphOptions(*cmd, settings->graph, true);
    cmd->add_option("--data", settings->data, "Dataset folder, or its metadata / list file")->required();
    std::string names;
    for (const auto& n : formatNames())
        names += (names.empty() ? "" : ", ") + n;
    cmd->add_option("--format", settings->format, "Dataset layout (default: detected): " + names)
        ->check(CLI::IsMember(formatNames()));
    cmd->add_option("--fold", settings->fold, "Evaluate on the test split of this fold (default: the first)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--weights", settings->weights,
                    "Weights of the preset's trainable node (--set NODE.weights=FILE for several)")
        ->check(CLI::ExistingFile);
    cmd->add_option("-o,--out", settings->out,
                    "Output folder: metrics.json, report.md, plots/, predictions.csv")
        ->required();
    cmd->add_option("--batch", settings->batch, "Clips of equal length per batch")
        ->default_val(8)
        ->check(CLI::Range(1, 4096));
    cmd->add_option("--plot-format", settings->plot_format, "svg or png")
        ->default_val("svg")
        ->check(CLI::IsMember({"svg", "png"}));
    cmd->add_flag("--no-plots", settings->no_plots, "Write no plots (no gnuplot needed)");
    cmd->callback([settings, &global] { evalCommand(*settings, global); });
}

} // namespace avgraph::host
