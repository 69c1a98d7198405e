#pragma once
/**
 * Training batches: the cached front-end values of a step's clips after augmentation (random crop,
 * circular time shift, SpecAugment masks, image crop, flip and colour jitter, mixup), stacked, with
 * their soft targets.
 *
 * Every random draw comes from the seed, the epoch, the step and a purpose (stepGenerator), for the
 * whole global batch in its order: every data-parallel process draws the same numbers and keeps its
 * own rows (shardRange), and a resumed run draws what the uninterrupted run drew. Each augmentation
 * draws from a stream of its own, so that presets without it keep their numbers.
 */
#include "graph/preset.h"
#include "graph/value.h"
#include "host/datasets/dataset.h"
#include "host/training/distributed.h"
#include "host/training/feature_cache.h"
#include "host/training/train_config.h"

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace avgraph::host::training {

/** A generator for one purpose of one step: the same numbers whoever asks, whenever. */
std::mt19937_64 stepGenerator(unsigned seed, int epoch, int64_t step, uint32_t purpose);

/**
 * SpecAugment-style masking in place: `count` spans along `axis`, span k of width
 * ⌊draws[2k]·(widest + 1)⌋ (at most the axis) starting at ⌊draws[2k+1]·(size − width + 1)⌋, set to
 * `fill`. The draws are uniform in [0, 1).
 */
void maskSpans(torch::Tensor& t, int64_t axis, int64_t count, int64_t widest, const double* draws,
               double fill);

/**
 * torchvision's RandomResizedCrop, RandomHorizontalFlip and ColorJitter (brightness, contrast,
 * saturation, in that order) on one image [1, 3, H, W] in [0, 255], from eight uniform draws u[0..7]
 * (crop area, aspect, x, y, flip, brightness, contrast, saturation).
 */
torch::Tensor augmentImage(torch::Tensor x, const double* u, const AugmentConfig& aug);

/** The inputs of one training step for this process, and what the loss compares them with. */
struct TrainingBatch {
    std::map<std::string, Ports> given; ///< the trained part's inputs: node id -> port -> stacked value
    torch::Tensor targets;              ///< [local, classes] in the dataset's class order (mixup: soft)
    torch::Tensor labels;               ///< [local]: the label with the larger mixup share
    int64_t global_size = 0;            ///< clips in the global batch (the loss is normalised by it)
};

/** Makes the batches of a trainer's steps; `preset` locates its errors (at /train/augment, ...). */
class BatchMaker {
public:
    BatchMaker(TrainConfig config, const Preset& preset) : config_(std::move(config)), preset_(preset) {}

    /**
     * The rows of `processes`' rank of the global batch `clips` of (epoch, step), augmented unless
     * `augment` is false (validation). Clips whose values differ in shape are an Error at
     * /train/batch_size (or /train/augment/mixup_alpha when mixed up).
     */
    TrainingBatch make(const Dataset& ds, FeatureCache& cache, const std::vector<size_t>& clips, int epoch,
                       int64_t step, bool augment, const Collective& processes) const;

private:
    struct Draws;
    Draws draw(int64_t n, int epoch, int64_t step, bool augment) const;
    std::map<std::string, Ports> sample(const Dataset& ds, FeatureCache& cache, size_t clip, int64_t i,
                                        const Draws& draws, bool augment) const;
    Value framed(const Value& v, int64_t i, const Draws& draws) const;
    void mix(std::map<std::string, Ports>& features, const std::map<std::string, Ports>& other, double lambda,
             const std::string& clip, const std::string& other_clip) const;

    TrainConfig config_;
    const Preset& preset_;
};

} // namespace avgraph::host::training
