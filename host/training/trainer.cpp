// avgraph train's classifier trainer (host/training/trainer.h): a run's life cycle, the parts in their
// own files.
#include "host/training/trainer.h"

#include "graph/error.h"
#include "host/metrics/training_log.h"
#include "host/progress_bar.h"
#include "host/training/early_stopping.h"
#include "host/training/epoch_loop.h"
#include "host/training/optimizer.h"
#include "host/training/run_folder.h"
#include "nodes/models/model_weights.h"

#include <torch/torch.h>

#include <algorithm>
#include <iostream>
#include <memory>

namespace avgraph::host::training {

namespace fs = std::filesystem;

/** One call of fit: where it writes, what it checkpoints, and how far it has got. */
struct Trainer::Run {
    Run(const TrainOptions& options, const ValidationConfig& validation, bool leader)
        : folder(options.run_dir, Checkpoint::Owner::run), leader(leader), talk(leader && options.progress),
          out(options.out ? options.out : &std::cerr), checkpoint(Checkpoint::Owner::run),
          stopping(validation) {}

    RunFolder folder;
    bool leader; ///< rank 0: writes the log, the checkpoint and the weights
    bool talk;   ///< progress bars and a line per epoch
    std::ostream* out;
    nlohmann::json settings; ///< what a checkpoint must agree on to be resumed
    std::vector<torch::Tensor> parameters;
    std::unique_ptr<torch::optim::Optimizer> optimizer;
    Checkpoint checkpoint;
    EarlyStopping stopping;
    std::unique_ptr<GradScaler> scaler; ///< fp16 only
    int first_epoch = 1;
    TrainResult result;
};

Trainer::Trainer(Graph& graph, Executor& executor, TrainConfig config, Collective collective)
    : config_(std::move(config)), collective_(std::move(collective)), part_(graph, executor, config_),
      batches_(config_, graph.preset()) {
    const Location where = config_.precision_option.empty()
                               ? graph.preset().locate(config_.pointer + "/precision")
                               : Location{config_.precision_option, "", "", 0, 0};
    // The part's networks only: the front end, whose outputs are cached, stays float32 (docs/training.md).
    precision_ = executor.setPrecision(config_.precision, where, part_.networks());
}

size_t Trainer::minBatch() const { return static_cast<size_t>(std::max(2, 2 * collective_.world_size)); }

fs::path Trainer::weightsFile(const fs::path& dir, const std::string& stem, const std::string& id) const {
    return dir / (part_.trainable().size() > 1 ? stem + "-" + id + ".pt" : stem + ".pt");
}

void Trainer::saveWeights(const fs::path& dir, const std::string& stem) const {
    const auto modules = part_.trainableModules();
    for (size_t k = 0; k < modules.size(); ++k)
        nodes::saveWeights(*modules[k], weightsFile(dir, stem, part_.trainable()[k]));
}

void Trainer::checkSplit(const Dataset& ds, const Split& split) const {
    if (split.train.empty())
        throw fileError(ds.root, "the training split is empty");
    if (split.train.size() < minBatch())
        throw fileError(ds.root, "training needs at least " + std::to_string(minBatch()) +
                                     " clips; the split has " + std::to_string(split.train.size()));
}

nlohmann::json Trainer::resumeSettings(const Dataset& ds, const Split& split,
                                       const std::string& description) const {
    nlohmann::json settings = {{"train", config_.toJson()},
                               {"description", description},
                               {"world_size", collective_.world_size},
                               {"train_clips", split.train.size()},
                               {"validation_clips", split.validation.size()}};
    // The precision the run resolved (not the word: "auto" may mean another on another machine). Absent
    // for float32, as in checkpoints written before there was a choice.
    if (precision_.precision != Precision::fp32)
        settings["precision"] = precisionName(precision_.precision);
    std::string files;
    for (size_t i : split.train)
        files += ds.clips[i].file + "\n";
    settings["train_files_hash"] = std::to_string(std::hash<std::string>{}(files));
    return settings;
}

TrainResult Trainer::fit(const Dataset& ds, const Split& split, FeatureCache& cache,
                         const TrainOptions& options) {
    checkSplit(ds, split);
    Run run(options, config_.validation, collective_.rank == 0);
    run.settings = resumeSettings(ds, split, options.description);
    run.folder.open(options.resume);
    run.parameters = part_.parameters();
    run.optimizer = makeOptimizer(run.parameters, config_.optimizer);
    const auto modules = part_.trainableModules();
    broadcastModules(collective_, modules); // every process starts from rank 0's weights
    for (size_t k = 0; k < modules.size(); ++k)
        run.checkpoint.addModule(part_.trainable()[k], *modules[k]);
    run.checkpoint.addOptimizer("", *run.optimizer);
    if (precision_.precision == Precision::fp16) {
        run.scaler = std::make_unique<GradScaler>();
        run.checkpoint.addModule("grad_scaler", *run.scaler);
    }
    if (run.leader && !precision_.warning.empty())
        *run.out << "avgraph: warning: " << precision_.warning << "\n";
    if (run.talk)
        *run.out << "precision " << precisionName(precision_.precision) << " (" << precision_.reason << ")\n";
    if (const auto resumed = run.folder.start(options.resume, run.checkpoint, run.settings, run.leader)) {
        run.first_epoch = resumed->epoch + 1;
        run.stopping = EarlyStopping(config_.validation, resumed->stopping);
        if (run.talk)
            *run.out << "resuming " << options.run_dir.string() << " after epoch " << resumed->epoch << "\n";
    }
    // Features of every clip this run reads, before the clock starts.
    std::vector<size_t> all_clips = split.train;
    all_clips.insert(all_clips.end(), split.validation.begin(), split.validation.end());
    cache.prepare(ds, all_clips, run.talk);
    runEpochs(run, ds, split, cache);
    keepWeights(run, !split.validation.empty());
    return run.result;
}

void Trainer::runEpochs(Run& run, const Dataset& ds, const Split& split, FeatureCache& cache) {
    EpochLoop loop(config_, part_, batches_, collective_, *run.optimizer, run.parameters, run.scaler.get());
    const size_t steps =
        stepsPerEpoch(split.train.size(), static_cast<size_t>(config_.batch_size), minBatch());
    double train_seconds = 0.0;
    size_t samples_trained = 0;
    const auto run_start = std::chrono::steady_clock::now();
    int epoch = run.first_epoch;
    for (; epoch <= config_.epochs && !run.stopping.stopped(); ++epoch) {
        const auto epoch_start = std::chrono::steady_clock::now();
        EpochReport report;
        report.epoch = epoch;
        report.precision = precisionName(precision_.precision);
        report.precision_reason = precision_.reason;
        report.totals = loop.train(ds, cache, split.train, epoch, steps, run.talk, run.folder.dir());
        train_seconds += report.totals.step_seconds;
        samples_trained += static_cast<size_t>(report.totals.seen);
        if (!split.validation.empty()) {
            const auto [loss, accuracy] = loop.validate(ds, cache, split.validation);
            report.val_loss = loss;
            report.val_accuracy = accuracy;
            if (run.stopping.update(epoch, loss, accuracy) && run.leader)
                saveWeights(run.folder.dir(), "best");
            run.result.early_stopped = run.stopping.stopped();
        } else {
            run.stopping.unvalidated(epoch);
        }
        if (run.scaler)
            report.loss_scale = run.scaler->currentScale();
        report.seconds = secondsSince(epoch_start);
        report.stopped = run.stopping.stopped();
        if (run.leader)
            run.folder.endEpoch(logRecord(report), run.checkpoint, run.settings,
                                {epoch, run.stopping.state()});
        if (run.talk)
            printEpochLine(*run.out, report, config_.epochs);
    }
    run.result.epochs_run = epoch - 1;
    run.result.best_epoch = run.stopping.bestEpoch();
    run.result.seconds = secondsSince(run_start);
    if (run.leader && fs::exists(run.folder.log())) // the whole run's time, resumed epochs included
        run.result.seconds = metrics::loggedSeconds(run.folder.log());
    run.result.samples_per_second =
        train_seconds > 0.0 ? static_cast<double>(samples_trained) / train_seconds : 0.0;
}

/** The kept weights: the best validation epoch's, else the last epoch's. */
void Trainer::keepWeights(Run& run, bool validating) {
    part_.setTraining(false);
    const auto modules = part_.trainableModules();
    for (size_t k = 0; k < modules.size(); ++k) {
        const auto& id = part_.trainable()[k];
        const fs::path best = weightsFile(run.folder.dir(), "best", id);
        const fs::path final = weightsFile(run.folder.dir(), "weights", id);
        if (run.leader && validating && run.stopping.bestEpoch() > 0 && fs::exists(best))
            nodes::loadWeights(*modules[k], best);
        if (run.leader)
            nodes::saveWeights(*modules[k], final);
        run.result.weights.push_back(final);
    }
}

} // namespace avgraph::host::training
