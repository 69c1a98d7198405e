#pragma once
/**
 * The epochs of a classifier's training: one pass over the training clips in steps of a batch, and
 * a pass over the validation clips.
 *
 * An epoch shuffles the training clips by the seed and the epoch alone and seeds LibTorch's generator
 * (dropout masks) the same way, so a resumed run computes what the uninterrupted run computed. Each
 * step makes its batch (host/training/augmentation.h), sets the scheduled learning rate, runs the
 * trained part forward and backward, sums the gradients over the data-parallel processes and steps
 * the optimizer. The loss of a step is normalised by the global batch, so the summed gradients are
 * those of one process on the whole batch. Under fp16 the loss is scaled (host/training/grad_scaler.h)
 * and a step whose gradients overflow is skipped.
 */
#include "host/datasets/dataset.h"
#include "host/training/augmentation.h"
#include "host/training/distributed.h"
#include "host/training/feature_cache.h"
#include "host/training/grad_scaler.h"
#include "host/training/train_config.h"
#include "host/training/trained_part.h"

#include <nlohmann/json.hpp>
#include <torch/optim/optimizer.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace avgraph::host::training {

/**
 * Per-sample loss on soft targets: cross-entropy, or KL divergence (`loss` "kl": the same gradient).
 * Logits [batch, position, class] (patches, frames) score every position against the clip's target
 * and average over the positions, as Pham et al. train on patches and Chen et al. on frames.
 */
torch::Tensor sampleLoss(const torch::Tensor& logits, const torch::Tensor& targets, const std::string& loss);

/** The predicted class of each sample: over positions, the class of the mean probability. */
torch::Tensor predictedClass(const torch::Tensor& logits);

/**
 * Steps in an epoch of `clips` training clips in batches of `batch`: the whole batches, and a last
 * smaller one only when it holds at least `min_batch` clips (batch norm needs two, one per process
 * at least); never fewer than one.
 */
size_t stepsPerEpoch(size_t clips, size_t batch, size_t min_batch);

/** What an epoch of training adds up, over every process. */
struct EpochTotals {
    double loss_sum = 0.0;     ///< the samples' losses
    double correct = 0.0;      ///< samples whose predicted class is their label
    double seen = 0.0;         ///< samples
    double step_seconds = 0.0; ///< forward, backward and optimizer steps (the mean over processes)
    double lr = 0.0;           ///< the learning rate of the last step

    double loss() const { return loss_sum / seen; }
    double accuracy() const { return correct / seen; }
    double samplesPerSecond() const { return seen / std::max(step_seconds, 1e-9); }
};

/** One epoch as log.jsonl records it and the console shows it. */
struct EpochReport {
    int epoch = 0;
    EpochTotals totals;
    std::optional<double> val_loss, val_accuracy; ///< nullopt without validation
    double seconds = 0.0;                         ///< the whole epoch, validation included
    bool stopped = false;                         ///< early stopping ended the run after it
    std::string precision;                        ///< what the networks computed in, "fp32" ...
    std::string precision_reason;                 ///< why ("asked", "auto: ...")
    double loss_scale = 0.0;                      ///< fp16: the loss scale after the epoch; else 0
};

/** The epoch's log.jsonl record (host/metrics/training_log.h; samples_per_second of the steps alone). */
nlohmann::json logRecord(const EpochReport& report);

/** "epoch 3/40  loss 0.4213  acc 85.2%  val loss ...  lr 0.000976  2.1 s (512.3 samples/s)". */
void printEpochLine(std::ostream& out, const EpochReport& report, int epochs);

class EpochLoop {
public:
    /**
     * `parameters`: the trained part's, as `optimizer` holds them. `scaler`: fp16's loss scaling, or
     * nullptr (float32 and bf16 need none).
     */
    EpochLoop(const TrainConfig& config, TrainedPart& part, const BatchMaker& batches,
              const Collective& collective, torch::optim::Optimizer& optimizer,
              std::vector<torch::Tensor> parameters, GradScaler* scaler = nullptr);

    /**
     * One epoch over the training clips in `steps` steps, with a progress bar when `progress`;
     * returns the totals over every process. A loss that is not finite is an Error at `run_dir`.
     */
    EpochTotals train(const Dataset& ds, FeatureCache& cache, const std::vector<size_t>& clips, int epoch,
                      size_t steps, bool progress, const std::filesystem::path& run_dir);

    /**
     * The mean cross-entropy and the accuracy over the validation clips, in eval mode without
     * augmentation. Every process validates every clip (same weights, same answer, no messages).
     */
    std::pair<double, double> validate(const Dataset& ds, FeatureCache& cache,
                                       const std::vector<size_t>& clips);

private:
    void step(const TrainingBatch& batch, const std::vector<std::string>& classes, double epoch_position,
              EpochTotals& totals);

    const TrainConfig& config_;
    TrainedPart& part_;
    const BatchMaker& batches_;
    const Collective& collective_;
    torch::optim::Optimizer& optimizer_;
    std::vector<torch::Tensor> parameters_;
    GradScaler* scaler_;
};

} // namespace avgraph::host::training
