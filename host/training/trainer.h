#pragma once
/**
 * Trainer: fits a preset's trainable nodes on a dataset's clips (`avgraph train`).
 *
 * The graph splits where training starts. The nodes the chosen trainable nodes depend on, and that
 * depend on no trainable node, are the frozen front end (audio -> log-mel, say): it runs once per
 * clip, without gradients, and its results are cached (in memory, on disk, or not at all). The
 * rest of the graph up to the logits node runs every step with autograd on, from the cached values
 * after augmentation (random crop, circular time shift, mixup). Randomness comes from the seed, the
 * epoch and the step alone, so a run resumed from its last checkpoint continues exactly as it would
 * have, and every data-parallel process draws the same batches.
 *
 * Files in the run folder: log.jsonl (one line per epoch, host/metrics/training_log.h),
 * checkpoint.pt (everything to resume: weights, optimizer, counters, settings), weights.pt (the
 * trained network: the best epoch on validation when there is a validation split, else the last;
 * with several trainable nodes, weights-<node>.pt each), best.pt while validating.
 */
#include "graph/executor.h"
#include "host/datasets/dataset.h"
#include "host/training/train_config.h"

#include <torch/optim/optimizer.h>
#include <torch/serialize/output-archive.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace avgraph::host::training {

/** What training needs from the other data-parallel processes; the defaults are one process. */
struct Collective {
    int rank = 0;
    int world_size = 1;
    /** Sums tensors over the processes, in place. */
    std::function<void(std::vector<torch::Tensor>&)> allreduce_sum;
    /** Copies rank 0's tensors to the other processes, in place. */
    std::function<void(std::vector<torch::Tensor>&)> broadcast;
    bool active() const { return world_size > 1; }
};

/**
 * The outputs of the frozen front end for each clip, computed on first use. One cache serves
 * several runs on the same graph (the folds of a cross-validation).
 */
class FeatureCache {
public:
    /** `boundary`: node id -> output ports the trainable part reads. `folder`: empty = memory only. */
    FeatureCache(Executor& executor, const std::vector<PresetInput>& inputs,
                 std::map<std::string, std::vector<std::string>> boundary, std::string mode,
                 std::filesystem::path folder);

    /** Computes (or reads) the features of every listed clip not yet cached, in batches, with a progress bar.
     */
    void prepare(const Dataset& ds, const std::vector<size_t>& clips, bool progress);
    /** The cached features of one clip: node id -> port -> value with a batch of one. */
    std::map<std::string, Ports> get(const Dataset& ds, size_t clip);

private:
    void compute(const std::vector<size_t>& clips, const std::vector<std::map<std::string, Value>>& inputs,
                 const Dataset& ds, std::vector<std::map<std::string, Ports>>* each);
    std::filesystem::path fileFor(const Dataset& ds, size_t clip) const;
    bool readDisk(const Dataset& ds, size_t clip, std::map<std::string, Ports>& out);
    void writeDisk(const Dataset& ds, size_t clip, const std::map<std::string, Ports>& features);

    Executor& executor_;
    std::vector<PresetInput> inputs_;
    std::map<std::string, std::vector<std::string>> boundary_;
    std::string mode_;
    std::filesystem::path folder_;
    std::map<size_t, std::map<std::string, Ports>> memory_;
    std::map<std::string, Ports> metadata_; ///< the first clip's values (disk mode: the values' metadata)
};

/** Writes an archive beside `file` and renames it over the file: never half a checkpoint. */
void atomicSave(torch::serialize::OutputArchive& archive, const std::filesystem::path& file);

/** Keeps the log lines up to `last_epoch` (a resumed run rewrites the epochs after its checkpoint). */
void truncateLog(const std::filesystem::path& log, int last_epoch);

/** The optimizer a config names, over these parameters. */
std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const std::vector<torch::Tensor>& params,
                                                       const OptimizerConfig& config);

/**
 * SpecAugment-style masking in place: `count` spans along `axis`, span k of width
 * ⌊draws[2k]·(widest + 1)⌋ (at most the axis) starting at ⌊draws[2k+1]·(size − width + 1)⌋, set to
 * `fill`. The draws are uniform in [0, 1).
 */
void maskSpans(torch::Tensor& t, int64_t axis, int64_t count, int64_t widest, const double* draws,
               double fill);

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
     * Checks the config against the graph: trainable and logits nodes exist and are trainable, the
     * logits node depends on them. Errors name the preset's /train key.
     */
    Trainer(Graph& graph, Executor& executor, TrainConfig config, Collective collective = {});

    /** The front-end nodes whose outputs training starts from, and the ports it reads. */
    const std::map<std::string, std::vector<std::string>>& boundary() const { return boundary_; }
    const std::vector<std::string>& trainableNodes() const { return trainable_; }

    /** Trains on split.train (validating on split.validation) into options.run_dir. */
    TrainResult fit(const Dataset& ds, const Split& split, FeatureCache& cache, const TrainOptions& options);

private:
    struct Batch;
    Batch makeBatch(const Dataset& ds, FeatureCache& cache, const std::vector<size_t>& clips, int epoch,
                    int64_t step, bool augment);
    torch::Tensor forward(const Batch& batch, bool training);
    std::pair<double, double> validate(const Dataset& ds, const std::vector<size_t>& clips,
                                       FeatureCache& cache);
    void setTraining(bool training);

    Graph& graph_;
    Executor& executor_;
    TrainConfig config_;
    Collective collective_;
    std::vector<std::string> trainable_;
    std::string logits_;
    std::map<std::string, std::vector<std::string>> boundary_;
    std::vector<std::string> frozen_modules_;
    std::vector<std::string> classes_; ///< the dataset's, in the order of the targets
    torch::Tensor columns_; ///< logits column of each dataset class (undefined: in order) ///< nodes with
                            ///< modules that run each step but do not learn
};

} // namespace avgraph::host::training
