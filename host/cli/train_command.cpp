// avgraph train: fits a preset's trainable nodes on a dataset fold (or every fold: cross-validation),
// then scores the trained graph on the fold's test split (docs/training.md).
#include "host/cli/commands.h"

#include "graph/error.h"
#include "host/datasets/dataset.h"
#include "host/evaluation.h"
#include "host/metrics/report.h"
#include "host/progress_bar.h"
#include "host/training/distributed.h"
#include "host/training/trainer.h"
#include "nodes/models/batch_norm.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace avgraph::host {

namespace fs = std::filesystem;

namespace {

struct TrainSettings {
    GraphOptions graph;
    std::string data;
    std::string format;
    std::string fold;
    std::string out;
    int epochs = 0;
    long long seed = -1;
    bool resume = false;
    bool no_eval = false;
    int eval_batch = 8;
    std::string plot_format = "svg";
    bool no_plots = false;
};

/** One fold's outcome, for the cross-validation table. */
struct FoldOutcome {
    int fold = 0;
    metrics::Metrics metrics;
    training::TrainResult training;
};

std::string percent(double x) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(2) << 100.0 * x;
    return s.str();
}

double mean(const std::vector<double>& x) {
    double s = 0.0;
    for (double v : x)
        s += v;
    return x.empty() ? 0.0 : s / static_cast<double>(x.size());
}

/** Sample standard deviation (n - 1), as cross-validation results are usually reported. */
double stddev(const std::vector<double>& x) {
    if (x.size() < 2)
        return 0.0;
    double m = mean(x), s = 0.0;
    for (double v : x)
        s += (v - m) * (v - m);
    return std::sqrt(s / static_cast<double>(x.size() - 1));
}

class TrainCommand {
public:
    TrainCommand(const TrainSettings& settings, const GlobalOptions& global)
        : settings_(settings), global_(global) {}

    void run() {
        // Data-parallel when launched as ranks of a group (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT).
        dp_ = training::DataParallel::fromEnvironment();
        if (dp_) {
            collective_.rank = dp_->rank();
            collective_.world_size = dp_->worldSize();
            collective_.allreduce_sum = [this](std::vector<torch::Tensor>& t) { dp_->allreduceSum(t); };
            collective_.broadcast = [this](std::vector<torch::Tensor>& t) { dp_->broadcast(t, 0); };
            nodes::setBatchStatsReducer(dp_->batchStatsReducer());
        }
        struct ResetReducer {
            ~ResetReducer() { nodes::setBatchStatsReducer({}); }
        } reset_reducer;
        leader_ = collective_.rank == 0;

        DatasetOptions data_options;
        if (!settings_.format.empty())
            data_options.format = parseFormatName(settings_.format);
        ds_ = openDataset(settings_.data, data_options);
        if (!ds_.labelled)
            throw Error(
                {settings_.data, "", "", 0, 0},
                "`avgraph train` needs labelled clips; this dataset is an evaluation set without labels");

        // The train section first: its seed decides the networks' initial weights.
        Preset preset = Preset::load(settings_.graph.preset, settings_.graph.overrides);
        config_ = training::parseTrainConfig(preset);
        if (settings_.epochs > 0)
            config_.epochs = settings_.epochs;
        if (settings_.seed >= 0)
            config_.seed = static_cast<unsigned>(settings_.seed);

        // The front end that computes (and caches) features for every fold.
        front_ = loadGraph(settings_.graph, global_);
        training::Trainer probe(*front_.graph, *front_.executor, config_);
        const auto& inputs = front_.graph->preset().inputs();
        if (inputs.size() != 1)
            throw Error(
                front_.graph->preset().locate("/inputs"),
                "`avgraph train` feeds audio clips to a preset with one audio input; this preset has " +
                    std::to_string(inputs.size()));
        const fs::path run_dir = settings_.out;
        cache_ = std::make_unique<training::FeatureCache>(*front_.executor, inputs[0], probe.boundary(),
                                                          config_.cache, run_dir / "features");

        std::vector<int> folds;
        if (settings_.fold == "all") {
            folds = ds_.folds;
            if (folds.empty())
                throw Error(
                    {settings_.data, "", "", 0, 0},
                    "--fold all runs a cross-validation over the dataset's folds; this dataset has none");
        } else if (settings_.fold.empty()) {
            folds = {defaultFold(ds_)};
        } else {
            try {
                size_t used = 0;
                folds = {std::stoi(settings_.fold, &used)};
                if (used != settings_.fold.size() || folds[0] < 0)
                    throw std::invalid_argument("");
            } catch (const std::exception&) {
                throw Error({}, "--fold takes a fold number or \"all\", got \"" + settings_.fold + "\"");
            }
        }

        const bool cv = settings_.fold == "all";
        std::vector<FoldOutcome> outcomes;
        for (int fold : folds) {
            fs::path dir = cv ? run_dir / ("fold" + std::to_string(fold)) : run_dir;
            if (cv && leader_)
                std::cerr << "== fold " << fold << " of " << folds.size() << " ==\n";
            outcomes.push_back(trainFold(fold, dir));
        }
        if (cv && !settings_.no_eval && leader_)
            writeCrossValidation(run_dir, outcomes);
    }

private:
    FoldOutcome trainFold(int fold, const fs::path& dir) {
        Split split = splitFold(ds_, fold);
        if (config_.validation.fraction > 0.0)
            split = holdOutValidation(ds_, split, config_.validation.fraction, config_.seed);

        torch::manual_seed(config_.seed);
        LoadedGraph loaded = loadGraph(settings_.graph, global_);
        training::Trainer trainer(*loaded.graph, *loaded.executor, config_, collective_);
        training::TrainOptions options;
        options.run_dir = dir;
        options.resume = settings_.resume;
        options.description = fs::absolute(settings_.graph.preset).string() + " on " +
                              fs::absolute(settings_.data).string() + " fold " + std::to_string(fold);
        FoldOutcome outcome;
        outcome.fold = fold;
        outcome.training = trainer.fit(ds_, split, *cache_, options);
        if (!leader_) // the other ranks only help train; rank 0 reports and evaluates
            return outcome;
        const auto& r = outcome.training;
        std::ostringstream line; // a stream of its own: std::cout's format stays as the report expects
        line << "trained " << r.epochs_run << " epochs";
        if (r.samples_per_second > 0.0)
            line << " (" << std::fixed << std::setprecision(1) << r.samples_per_second << " samples/s)";
        line << "; kept epoch " << r.best_epoch << "\n";
        std::cout << line.str();
        for (const auto& w : r.weights)
            std::cout << "wrote " << w.string() << "\n";

        if (settings_.no_eval || split.test.empty())
            return outcome;
        auto predictions = predictClips(*loaded.executor, ds_, split.test, split.train, settings_.eval_batch,
                                        stderrIsTerminal());
        metrics::ReportOptions report;
        report.plot_format = metrics::parsePlotFormat(settings_.plot_format);
        report.plots = !settings_.no_plots;
        report.training_log = dir / "log.jsonl";
        report.source = settings_.graph.preset + " trained on " + settings_.data + " (fold " +
                        std::to_string(fold) + " test)";
        auto result = metrics::writeReport(dir / "eval", predictions, report);
        metrics::printReportSummary(std::cout, result);
        outcome.metrics = result.metrics;
        return outcome;
    }

    void writeCrossValidation(const fs::path& dir, const std::vector<FoldOutcome>& outcomes) {
        std::vector<double> acc, class_acc, loss;
        double seconds = 0.0;
        nlohmann::json folds = nlohmann::json::array();
        std::ostringstream table;
        table << "| fold | accuracy | class-average accuracy | log loss | epochs | training time (s) |\n"
              << "|---|---|---|---|---|---|\n";
        for (const auto& o : outcomes) {
            const auto& s = o.metrics.overall;
            acc.push_back(s.accuracy);
            class_acc.push_back(s.class_average_accuracy);
            loss.push_back(s.log_loss);
            seconds += o.training.seconds;
            folds.push_back({{"fold", o.fold},
                             {"accuracy", s.accuracy},
                             {"class_average_accuracy", s.class_average_accuracy},
                             {"log_loss", s.log_loss},
                             {"epochs", o.training.epochs_run},
                             {"seconds", o.training.seconds},
                             {"samples_per_second", o.training.samples_per_second}});
            table << "| " << o.fold << " | " << percent(s.accuracy) << " % | "
                  << percent(s.class_average_accuracy) << " % | " << std::fixed << std::setprecision(3)
                  << s.log_loss << " | " << o.training.epochs_run << " | " << std::setprecision(0)
                  << o.training.seconds << " |\n";
        }
        table << "| **mean ± sd** | **" << percent(mean(acc)) << " ± " << percent(stddev(acc)) << " %** | "
              << percent(mean(class_acc)) << " ± " << percent(stddev(class_acc)) << " % | "
              << std::setprecision(3) << mean(loss) << " ± " << stddev(loss) << " | | "
              << std::setprecision(0) << seconds << " |\n";
        nlohmann::json summary = {{"preset", settings_.graph.preset},
                                  {"data", settings_.data},
                                  {"folds", folds},
                                  {"accuracy_mean", mean(acc)},
                                  {"accuracy_sd", stddev(acc)},
                                  {"class_average_accuracy_mean", mean(class_acc)},
                                  {"log_loss_mean", mean(loss)},
                                  {"training_seconds", seconds},
                                  {"train", config_.toJson()}};
        std::ofstream(dir / "cv.json") << summary.dump(2) << "\n";
        std::ofstream(dir / "cv.md") << "# Cross-validation: " << settings_.graph.preset << " on "
                                     << settings_.data << "\n\n"
                                     << table.str();
        std::cout << "\n"
                  << table.str() << "wrote " << (dir / "cv.md").string() << "\nwrote "
                  << (dir / "cv.json").string() << "\n";
    }

    const TrainSettings& settings_;
    const GlobalOptions& global_;
    Dataset ds_;
    training::TrainConfig config_;
    LoadedGraph front_;
    std::unique_ptr<training::DataParallel> dp_;
    training::Collective collective_;
    bool leader_ = true;
    std::unique_ptr<training::FeatureCache> cache_;
};

} // namespace

void addTrainCommand(CLI::App& app, const GlobalOptions& global) {
    auto settings = std::make_shared<TrainSettings>();
    CLI::App* cmd = app.add_subcommand(
        "train", "Train a preset's trainable nodes on a dataset fold (or every fold with --fold all), then "
                 "score it on the fold's test split");
    addGraphOptions(*cmd, settings->graph, true);
    cmd->add_option("--data", settings->data, "Dataset folder, or its metadata / list file")->required();
    cmd->add_option("--format", settings->format, "Dataset layout (default: detected)")
        ->check(CLI::IsMember(formatNames()));
    cmd->add_option("--fold", settings->fold,
                    "Train on the other folds and test on this one; \"all\": 5-fold style cross-validation "
                    "(default: the first fold)");
    cmd->add_option(
           "-o,--out", settings->out,
           "Run folder: log.jsonl, checkpoint.pt, weights.pt, eval/ (with --fold all: foldK/ each, cv.md)")
        ->required();
    cmd->add_option("--epochs", settings->epochs, "Override /train/epochs")->check(CLI::Range(1, 100000));
    cmd->add_option("--seed", settings->seed, "Override /train/seed")->check(CLI::NonNegativeNumber);
    cmd->add_flag("--resume", settings->resume, "Continue the run in --out from its last checkpoint");
    cmd->add_flag("--no-eval", settings->no_eval, "Only train: no evaluation on the test split");
    cmd->add_option("--plot-format", settings->plot_format, "svg or png")
        ->default_val("svg")
        ->check(CLI::IsMember({"svg", "png"}));
    cmd->add_flag("--no-plots", settings->no_plots, "Write no plots (no gnuplot needed)");
    cmd->callback([settings, &global] { TrainCommand(*settings, global).run(); });
}

} // namespace avgraph::host
