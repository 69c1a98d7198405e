// avgraph report: metrics.json, report.md and plots from a prediction CSV (the file `avgraph eval`
// writes), and learning curves from a training run's log.jsonl.
#include "host/cli/commands.h"

#include "host/metrics/report.h"

#include <iostream>

namespace avgraph::host {

namespace {

struct ReportSettings {
    std::string predictions;
    std::string out;
    std::string log;
    std::string plot_format = "svg";
    std::string train_cities;
    std::string train_devices;
    bool no_plots = false;
};

void reportCommand(const ReportSettings& settings) {
    metrics::Predictions predictions = metrics::readPredictionsCsv(settings.predictions);
    predictions.train_cities = metrics::splitList(settings.train_cities);
    predictions.train_devices = metrics::splitList(settings.train_devices);
    metrics::ReportOptions options;
    options.plot_format = metrics::parsePlotFormat(settings.plot_format);
    options.plots = !settings.no_plots;
    if (!settings.log.empty())
        options.training_log = settings.log;
    options.write_predictions = false; // the input is the prediction CSV
    options.source = settings.predictions;
    metrics::printReportSummary(std::cout, metrics::writeReport(settings.out, predictions, options));
}

} // namespace

void addReportCommand(CLI::App& app, const GlobalOptions&) {
    auto settings = std::make_shared<ReportSettings>();
    CLI::App* cmd = app.add_subcommand(
        "report", "Metrics (DCASE accuracy and log loss), report.md and plots from a prediction CSV");
    cmd->add_option("--predictions", settings->predictions,
                    "Prediction CSV: tab-separated filename, scene_label, one probability column per class, "
                    "true_label[, city][, device]")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("-o,--out", settings->out, "Output folder: metrics.json, report.md, plots/")->required();
    cmd->add_option("--log", settings->log, "A training run's log.jsonl, for the learning curves")
        ->check(CLI::ExistingFile);
    cmd->add_option("--plot-format", settings->plot_format, "svg or png")
        ->default_val("svg")
        ->check(CLI::IsMember({"svg", "png"}));
    cmd->add_option("--train-cities", settings->train_cities,
                    "Cities of the training set, comma-separated, for the seen / unseen city breakdown");
    cmd->add_option("--train-devices", settings->train_devices,
                    "Devices of the training set, comma-separated, for the seen / unseen device breakdown");
    cmd->add_flag("--no-plots", settings->no_plots, "Write metrics.json and report.md only (no gnuplot)");
    cmd->callback([settings] { reportCommand(*settings); });
}

} // namespace avgraph::host
