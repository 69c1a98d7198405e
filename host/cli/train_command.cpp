// avgraph train: fits a preset's trainable nodes on a dataset fold (or every fold: cross-validation),
// then scores the trained graph on the fold's test split (docs/training.md).
#include "host/cli/commands.h"

#include "graph/error.h"
#include "host/datasets/dataset.h"
#include "host/evaluation.h"
#include "host/metrics/report.h"
#include "host/progress_bar.h"
#include "host/training/distributed.h"
#include "host/training/staged_recipe.h"
#include "host/training/trainer.h"
#include "io/message_text.h"
#include "nodes/models/batch_norm.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <set>
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
    // staged recipes (docs/training.md)
    std::string av_data;
    std::string av_format;
    std::string images;
    std::string stage_dir;
    double segment = 1.0;
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
        : settings_(settings), global_(global), graph_(settings.graph) {
        // --precision is the trained networks' (the train section's "precision"), set through the
        // classifier configs; the graphs it loads for features and stages compute in float32.
        graph_.precision.clear();
    }

    void run() {
        // Data-parallel when launched as ranks of a group (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT).
        dp_ = training::DataParallel::fromEnvironment();
        if (dp_) {
            collective_.rank = dp_->rank();
            collective_.world_size = dp_->worldSize();
            collective_.allreduce_sum = [this](std::vector<torch::Tensor>& t) { dp_->allreduceSum(t); };
            collective_.broadcast = [this](std::vector<torch::Tensor>& t) { dp_->broadcast(t, 0); };
            replica_sum_ = dp_->batchStatsReducer();
        }
        // Batch norm sees the global batch in every graph this thread trains (the executor passes the
        // scope's sum to the nodes it runs).
        ReplicaSumScope replicas(&replica_sum_);
        leader_ = collective_.rank == 0;

        DatasetOptions data_options;
        if (!settings_.format.empty())
            data_options.format = parseFormatName(settings_.format);
        data_options.segment_seconds = settings_.segment;
        ds_ = openDataset(settings_.data, data_options);
        if (!ds_.labelled)
            throw fileError(
                settings_.data,
                "`avgraph train` needs labelled clips; this dataset is an evaluation set without labels");

        // The train section first: its seed decides the networks' initial weights.
        Preset preset = Preset::load(settings_.graph.preset, settings_.graph.overrides, "--set");
        preset_for_errors_ = &preset;
        classifiers_ = training::parseClassifierStages(preset);
        for (auto& c : classifiers_) {
            if (settings_.epochs > 0)
                c.epochs = settings_.epochs;
            if (settings_.seed >= 0)
                c.seed = static_cast<unsigned>(settings_.seed);
            if (!settings_.graph.precision.empty()) {
                c.precision = settings_.graph.precision;
                c.precision_option = "--precision";
            }
        }
        for (size_t k = 0; k + 1 < classifiers_.size(); ++k)
            if (classifiers_[k].trainable.empty())
                throw Error(preset.locate(classifiers_[k].pointer),
                            "a classifier stage before the last names the nodes it trains: set " +
                                classifiers_[k].pointer + "/trainable");
        config_ = classifiers_.back();
        // A staged recipe trains its first stages (once for every fold) and freezes what they made.
        const auto stages = training::parseStages(preset);
        std::set<std::string> frozen;
        if (!stages.empty())
            frozen = runStages(stages);
        else if (!settings_.av_data.empty() || !settings_.images.empty())
            throw Error(preset.locate("/train"), "--av-data and --images feed the stages of a staged recipe "
                                                 "(\"train\": {\"stages\": [...]}); this preset has none");

        // The front end that computes (and caches) features for every fold.
        front_ = loadGraph(graph_, global_);
        for (size_t k = 0; k + 1 < classifiers_.size(); ++k)
            frozen.insert(classifiers_[k].trainable.begin(), classifiers_[k].trainable.end());
        if (!frozen.empty() &&
            config_.trainable.empty()) // the classifier stage trains what the stages did not
            for (size_t v = 0; v < front_.graph->size(); ++v) {
                const auto& vx = front_.graph->vertex(v);
                if (!vx.is_input && vx.spec->trainable && front_.executor->plan().stepOf(v) >= 0 &&
                    !frozen.count(vx.id))
                    config_.trainable.push_back(vx.id);
            }
        classifiers_.back() = config_;
        // Every stage's settings are checked against the graph before anything trains (the last by probe).
        for (size_t k = 0; k + 1 < classifiers_.size(); ++k)
            training::Trainer(*front_.graph, *front_.executor, classifiers_[k]);
        training::Trainer probe(*front_.graph, *front_.executor, config_);
        const fs::path run_dir = settings_.out;
        // One feature cache serves every fold when the front end is frozen from the start; after
        // earlier classifier stages it holds their per-fold networks, so each fold computes its own.
        if (classifiers_.size() == 1)
            cache_ = std::make_unique<training::FeatureCache>(
                *front_.executor, front_.graph->preset().inputs(), probe.boundary(), config_.cache,
                run_dir / "features");

        std::vector<int> folds;
        if (settings_.fold == "all") {
            folds = ds_.folds;
            if (folds.empty())
                throw fileError(
                    settings_.data,
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
    /** The fold's split, with the recipe's validation share held out of its training clips (seeded). */
    Split trainingSplit(int fold, const training::TrainConfig& config) const {
        Split split = splitFold(ds_, fold);
        if (config.validation.fraction > 0.0)
            split = holdOutValidation(ds_, split, config.validation.fraction, config.seed);
        return split;
    }

    /**
     * Trains (or reuses, when finished with the same settings) every stage before the classifier,
     * then points the main graph's networks at their weights. Returns the nodes they set.
     */
    std::set<std::string> runStages(const std::vector<training::StageConfig>& stages) {
        if (collective_.active())
            throw Error(front_preset().locate("/train/stages"),
                        "the stages before the classifier train in one process; run them first without "
                        "RANK/WORLD_SIZE, then the data-parallel run reuses them");
        const fs::path base =
            settings_.stage_dir.empty() ? fs::path(settings_.out) : fs::path(settings_.stage_dir);
        training::AudioVisualData data{settings_.av_data, settings_.av_format, settings_.images};
        std::map<std::string, training::StageResult> done;
        LoadedGraph probe = loadGraph(graph_, global_);
        for (size_t i = 0; i < stages.size(); ++i) {
            const auto& stage = stages[i];
            const fs::path dir = base / ("stage" + std::to_string(i + 1) + "-" + stage.name);
            const auto stage_settings = training::stageSettings(stage, config_.seed, data, *probe.graph);
            if (auto finished = training::finishedStage(dir, stage_settings)) {
                std::cout << "stage " << stage.name << ": finished in " << dir.string()
                          << ", reusing its weights\n";
                done[stage.name] = *finished;
                continue;
            }
            training::StageRun run;
            run.dir = dir;
            run.resume = settings_.resume;
            run.plot_format = settings_.plot_format;
            run.plots = !settings_.no_plots;
            std::cout << "== stage " << i + 1 << " of " << stages.size() + 1 << ": " << stage.name << " ("
                      << stage.kind << ") ==\n";
            // The stage's networks draw their initial weights when their graphs load: seed first, so a
            // stage trains the same on every run.
            torch::manual_seed(config_.seed);
            GraphOptions vq_options = graph_;
            if (stage.kind == "vqvae") {
                vq_options.preset = stage.preset.string();
                vq_options.overrides.clear();
                LoadedGraph vg = loadGraph(vq_options, global_);
                done[stage.name] =
                    training::trainVqvaeStage(*vg.graph, *vg.executor, stage, config_.seed, data, run);
            } else {
                const auto& vq_stage = done.at(stage.vqvae);
                vq_options.preset = stageByName(stages, stage.vqvae).preset.string();
                vq_options.overrides.clear();
                for (const auto& [id, file] : vq_stage.weights)
                    vq_options.overrides.push_back(id + ".weights=" + fs::absolute(file).string());
                LoadedGraph vg = loadGraph(vq_options, global_);
                GraphOptions critic_options = graph_;
                critic_options.preset = stage.preset.string();
                critic_options.overrides.clear();
                LoadedGraph cg = loadGraph(critic_options, global_);
                LoadedGraph main = loadGraph(graph_, global_);
                done[stage.name] = training::trainTransformationStage(*main.graph, *main.executor, *vg.graph,
                                                                      *vg.executor, *cg.graph, *cg.executor,
                                                                      stage, config_.seed, data, run);
            }
            for (const auto& [id, file] : done[stage.name].weights)
                std::cout << "wrote " << file.string() << "\n";
        }

        // The main graph's networks take the stages' weights: the generator by id, the VQ-VAE's by type
        // (a models.codebook_lookup shares the stage's models.vq_codebook codebook).
        std::set<std::string> frozen;
        for (size_t v = 0; v < probe.graph->size(); ++v) {
            const auto& vx = probe.graph->vertex(v);
            if (vx.is_input)
                continue;
            std::string type =
                vx.spec->type == "models.codebook_lookup" ? "models.vq_codebook" : vx.spec->type;
            for (const auto& [name, result] : done)
                for (const auto& [id, file] : result.weights) {
                    const auto& t = result.types.at(id);
                    const bool generator = t == "models.transformation_network" && id == vx.id;
                    const bool vqvae =
                        t == type && (t == "models.vq_codebook" || t == "models.vqvae_encoder" ||
                                      t == "models.vqvae_decoder");
                    if ((generator || vqvae) && !frozen.count(vx.id)) {
                        graph_.overrides.push_back(vx.id + ".weights=" + fs::absolute(file).string());
                        frozen.insert(vx.id);
                    }
                }
        }
        return frozen;
    }

    static const training::StageConfig& stageByName(const std::vector<training::StageConfig>& stages,
                                                    const std::string& name) {
        for (const auto& s : stages)
            if (s.name == name)
                return s;
        throw std::logic_error("no stage " + name);
    }

    const Preset& front_preset() const { return *preset_for_errors_; }

    /** The weights a stage wrote, by node id: weights.pt for one trained node, else weights-<id>.pt each. */
    static std::map<std::string, fs::path> weightsByNode(const training::Trainer& trainer,
                                                         const training::TrainResult& result) {
        std::map<std::string, fs::path> out;
        const auto& ids = trainer.trainableNodes();
        for (size_t k = 0; k < ids.size() && k < result.weights.size(); ++k)
            out[ids[k]] = result.weights[k];
        return out;
    }

    FoldOutcome trainFold(int fold, const fs::path& dir) {
        // Classifier stages before the last: each trains its nodes on this fold, and the next stages
        // load the weights it wrote (frozen unless they name them again).
        GraphOptions options = graph_;
        std::map<std::string, fs::path> trained = stageWeights();
        const size_t first_number = training::parseStages(front_preset()).size() + 1;
        for (size_t k = 0; k + 1 < classifiers_.size(); ++k) {
            const auto& stage = classifiers_[k];
            const fs::path stage_dir = dir / ("stage" + std::to_string(first_number + k) + "-" + stage.name);
            if (leader_)
                std::cout << "== stage " << first_number + k << ": " << stage.name
                          << " (classifier: " << joinNames(stage.trainable) << ") ==\n";
            const Split split = trainingSplit(fold, stage);
            torch::manual_seed(stage.seed);
            LoadedGraph loaded = loadGraph(options, global_);
            training::Trainer trainer(*loaded.graph, *loaded.executor, stage, collective_);
            training::FeatureCache cache(*loaded.executor, loaded.graph->preset().inputs(),
                                         trainer.boundary(), stage.cache, stage_dir / "features");
            training::TrainOptions run;
            run.run_dir = stage_dir;
            run.resume = settings_.resume;
            run.description = fs::absolute(settings_.graph.preset).string() + " stage " + stage.name +
                              " on " + fs::absolute(settings_.data).string() + " fold " +
                              std::to_string(fold);
            auto result = trainer.fit(ds_, split, cache, run);
            for (const auto& [id, file] : weightsByNode(trainer, result)) {
                options.overrides.push_back(id +
                                            ".weights=" + nlohmann::json(fs::absolute(file).string()).dump());
                trained[id] = file;
                if (leader_)
                    std::cout << "wrote " << file.string() << "\n";
            }
        }

        const Split split = trainingSplit(fold, config_);

        torch::manual_seed(config_.seed);
        LoadedGraph loaded = loadGraph(options, global_);
        training::Trainer trainer(*loaded.graph, *loaded.executor, config_, collective_);
        std::unique_ptr<training::FeatureCache> fold_cache;
        if (!cache_)
            fold_cache =
                std::make_unique<training::FeatureCache>(*loaded.executor, loaded.graph->preset().inputs(),
                                                         trainer.boundary(), config_.cache, dir / "features");
        training::TrainOptions train_options;
        train_options.run_dir = dir;
        train_options.resume = settings_.resume;
        train_options.description = fs::absolute(settings_.graph.preset).string() + " on " +
                                    fs::absolute(settings_.data).string() + " fold " + std::to_string(fold);
        FoldOutcome outcome;
        outcome.fold = fold;
        outcome.training = trainer.fit(ds_, split, cache_ ? *cache_ : *fold_cache, train_options);
        if (!leader_) // the other ranks only help train; rank 0 reports and evaluates
            return outcome;
        for (const auto& [id, file] : weightsByNode(trainer, outcome.training))
            trained[id] = file;
        writeWeightsManifest(dir, trained);
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
        if (auto curve = earlyDetection(ds_, split.test, predictions))
            writeEarlyDetection(dir / "eval", *curve, settings_.plot_format, !settings_.no_plots, std::cout);
        outcome.metrics = result.metrics;
        return outcome;
    }

    /** The weights the stages before the classifiers set (the IVF networks), by node id. */
    std::map<std::string, fs::path> stageWeights() const {
        std::map<std::string, fs::path> out;
        for (const auto& o : graph_.overrides) {
            const auto dot = o.find(".weights=");
            if (dot == std::string::npos || o.find('=') != dot + 8)
                continue;
            std::string file = o.substr(dot + 9);
            auto j = nlohmann::json::parse(file, nullptr, false);
            out[o.substr(0, dot)] = !j.is_discarded() && j.is_string() ? j.get<std::string>() : file;
        }
        return out;
    }

    /**
     * weights.json in the run folder: every trained network's weights file by node id (relative to the
     * folder when inside it), so that `avgraph eval PRESET --weights RUN_DIR` loads them all.
     */
    static void writeWeightsManifest(const fs::path& dir, const std::map<std::string, fs::path>& trained) {
        nlohmann::json j = nlohmann::json::object();
        const fs::path base = fs::absolute(dir).lexically_normal();
        for (const auto& [id, file] : trained) {
            const fs::path abs = fs::absolute(file).lexically_normal();
            const fs::path rel = abs.lexically_relative(base);
            const bool inside = !rel.empty() && *rel.begin() != "..";
            j[id] = (inside ? rel : abs).generic_string();
        }
        std::ofstream(dir / "weights.json") << j.dump(2) << "\n";
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
    GraphOptions graph_; ///< the preset and overrides, plus the weights the stages trained
    const Preset* preset_for_errors_ = nullptr;
    Dataset ds_;
    training::TrainConfig config_;                   ///< the last classifier stage
    std::vector<training::TrainConfig> classifiers_; ///< every classifier stage, config_ last
    LoadedGraph front_;
    std::unique_ptr<training::DataParallel> dp_;
    ReplicaSum replica_sum_; ///< over the processes when data-parallel: batch norm's global statistics
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
    cmd->add_option(
        "--av-data", settings->av_data,
        "Staged recipes: videos with sound (a folder of them, or the TAU Audio-Visual 2021 layout)");
    cmd->add_option("--av-format", settings->av_format, "Layout of --av-data (default: detected)");
    cmd->add_option("--images", settings->images,
                    "Staged recipes: a folder of photographs for the VQ-VAE stage");
    cmd->add_option("--segment", settings->segment,
                    "Audio-visual datasets: seconds of each segment the recordings are cut into (default 1, "
                    "as DCASE 2021 task 1B scores)")
        ->check(CLI::PositiveNumber);
    cmd->add_option(
        "--stage-dir", settings->stage_dir,
        "Staged recipes: where the stages before the classifier train and are reused (default: --out)");
    cmd->callback([settings, &global] { TrainCommand(*settings, global).run(); });
}

} // namespace avgraph::host
