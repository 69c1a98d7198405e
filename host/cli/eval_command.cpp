// avgraph eval: a classifier preset over a dataset's test split, scored as DCASE scores it
// (metrics.json, report.md, plots and the prediction CSV; docs/evaluation.md).
#include "host/cli/commands.h"
#include "io/message_text.h"

#include "graph/error.h"
#include "host/datasets/dataset.h"
#include "host/evaluation.h"
#include "host/metrics/report.h"
#include "host/progress_bar.h"
#include "io/trained_weights.h"

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
    double segment = 1.0;
    std::string output;
};

/** --weights W as the `NODE.weights=` overrides io/trained_weights.h derives from a file or run folder. */
GraphOptions withWeights(const EvalSettings& settings, const GlobalOptions& global) {
    GraphOptions options = settings.graph;
    if (settings.weights.empty())
        return options;
    GraphOptions probe_options = options; // only reads which nodes are trainable: no precision to choose
    probe_options.precision.clear();
    LoadedGraph probe = loadGraph(probe_options, global);
    for (auto& o : weightsOverrides(settings.weights, *probe.graph))
        options.overrides.push_back(std::move(o));
    return options;
}

void evalCommand(const EvalSettings& settings, const GlobalOptions& global) {
    // The dataset first: its problems are cheaper to find than a model's.
    DatasetOptions data_options;
    if (!settings.format.empty())
        data_options.format = parseFormatName(settings.format);
    data_options.segment_seconds = settings.segment;
    Dataset ds = openDataset(settings.data, data_options);
    if (!ds.labelled)
        throw fileError(
            settings.data,
            "`avgraph eval` needs labelled clips; this dataset is an evaluation set without labels");
    int fold = settings.fold >= 0 ? settings.fold : defaultFold(ds);
    Split split = splitFold(ds, fold);
    if (split.test.empty())
        throw fileError(settings.data, "the test split" +
                                           (fold ? " of fold " + std::to_string(fold) : std::string()) +
                                           " is empty");

    LoadedGraph loaded = loadGraph(withWeights(settings, global), global);
    metrics::Predictions predictions = predictClips(*loaded.executor, ds, split.test, split.train,
                                                    settings.batch, stderrIsTerminal(), settings.output);

    metrics::ReportOptions options;
    options.plot_format = metrics::parsePlotFormat(settings.plot_format);
    options.plots = !settings.no_plots;
    options.write_predictions = true;
    options.source = settings.graph.preset + (settings.weights.empty() ? "" : " with " + settings.weights) +
                     " on " + settings.data +
                     (fold ? " (fold " + std::to_string(fold) + " test)" : std::string(" (test)"));
    metrics::printReportSummary(std::cout, metrics::writeReport(settings.out, predictions, options));
    if (auto curve = earlyDetection(ds, split.test, predictions))
        writeEarlyDetection(settings.out, *curve, settings.plot_format, !settings.no_plots, std::cout);
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
                    "Weights of the preset's trainable node, or the run folder of `avgraph train` (its "
                    "weights.json gives every trained node's)")
        ->check(CLI::ExistingPath);
    cmd->add_option("--output", settings->output,
                    "The output holding the class probabilities (default: \"probabilities\", else the only "
                    "one), e.g. one branch of a fusion preset");
    cmd->add_option("--segment", settings->segment,
                    "Audio-visual datasets: seconds of each segment the recordings are cut into (default 1)")
        ->check(CLI::PositiveNumber);
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
