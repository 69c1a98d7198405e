#pragma once
/**
 * Trainer: fits a preset's trainable nodes on a dataset's clips (`avgraph train`).
 *
 * The graph splits where training starts. The nodes the chosen trainable nodes depend on, and that
 * depend on no trainable node, are the frozen front end (audio -> log-mel, say): it runs once per
 * clip, without gradients, and its results are cached (FeatureCache). The rest of the graph up to the
 * logits node (TrainedPart) runs every step with autograd on, from the cached values after
 * augmentation (BatchMaker). Randomness comes from the seed, the epoch and the step alone, so a run
 * resumed from its last checkpoint continues exactly as it would have, and every data-parallel
 * process draws the same batches.
 *
 * fit() is the run's life cycle, each part in its own header:
 *
 *   run_folder.h      refuse a folder that holds a run, or resume from its checkpoint (checkpoint.h)
 *   distributed.h     every process starts from rank 0's weights
 *   feature_cache.h   the front end's outputs of every clip, before the clock starts
 *   epoch_loop.h      per epoch: the training steps, then validation
 *   early_stopping.h  which epoch's weights to keep, and when to stop
 *   training_log      a line per epoch in log.jsonl (host/metrics/training_log.h), then the checkpoint
 *
 * The networks compute in the train section's precision (graph/precision.h): the executor runs them
 * under autocast, the loss is float32, and fp16 scales it (grad_scaler.h). log.jsonl records the
 * precision and why it was chosen; a checkpoint records it too, so a run is resumed in its precision.
 *
 * Files in the run folder: log.jsonl, checkpoint.pt (everything to resume: weights, optimizer,
 * counters, settings), weights.pt (the trained network: the best epoch on validation when there is a
 * validation split, else the last; with several trainable nodes, weights-<node>.pt each), best.pt
 * while validating.
 */
#include "graph/executor.h"
#include "graph/precision.h"
#include "host/datasets/dataset.h"
#include "host/training/augmentation.h"
#include "host/training/distributed.h"
#include "host/training/feature_cache.h"
#include "host/training/train_config.h"
#include "host/training/trained_part.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace avgraph::host::training {

struct TrainOptions {
    std::filesystem::path run_dir;
    bool resume = false;
    bool progress = true;        ///< progress bar (drawn only on a terminal) and a line per epoch
    std::ostream* out = nullptr; ///< the per-epoch lines (rank 0); nullptr: std::cerr
    std::string description;     ///< what is trained on what, for the checkpoint's consistency check
};

struct TrainResult {
    int epochs_run = 0;   ///< epochs in the run, resumed ones included
    int best_epoch = 0;   ///< epoch whose weights were kept
    double seconds = 0.0; ///< wall time of the run's epochs (from log.jsonl, resumed epochs included)
    double samples_per_second = 0.0;
    std::vector<std::filesystem::path> weights; ///< files written, one per trainable node
    bool early_stopped = false;
};

class Trainer {
public:
    /**
     * Checks the config against the graph (TrainedPart): trainable and logits nodes exist and are
     * trainable, the logits node depends on them. Errors name the preset's /train key.
     */
    Trainer(Graph& graph, Executor& executor, TrainConfig config, Collective collective = {});

    /** The front-end nodes whose outputs training starts from, and the ports it reads. */
    const std::map<std::string, std::vector<std::string>>& boundary() const { return part_.boundary(); }
    const std::vector<std::string>& trainableNodes() const { return part_.trainable(); }
    /** The precision the trained networks compute in (the config's word, resolved for their device). */
    const PrecisionChoice& precision() const { return precision_; }

    /** Trains on split.train (validating on split.validation) into options.run_dir. */
    TrainResult fit(const Dataset& ds, const Split& split, FeatureCache& cache, const TrainOptions& options);

private:
    struct Run;
    void checkSplit(const Dataset& ds, const Split& split) const;
    nlohmann::json resumeSettings(const Dataset& ds, const Split& split,
                                  const std::string& description) const;
    void runEpochs(Run& run, const Dataset& ds, const Split& split, FeatureCache& cache);
    void keepWeights(Run& run, bool validating);
    /** stem.pt for one trainable node, else stem-<node>.pt each. */
    std::filesystem::path weightsFile(const std::filesystem::path& dir, const std::string& stem,
                                      const std::string& id) const;
    void saveWeights(const std::filesystem::path& dir, const std::string& stem) const;
    size_t minBatch() const;

    TrainConfig config_;
    Collective collective_;
    TrainedPart part_;
    PrecisionChoice precision_;
    BatchMaker batches_;
};

} // namespace avgraph::host::training
