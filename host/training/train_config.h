#pragma once
/**
 * The `train` section of a preset: how `avgraph train` fits the preset's trainable nodes.
 *
 *     "train": {
 *       "seed": 1, "epochs": 40, "batch_size": 32,
 *       "loss": "cross_entropy",                       // or "kl" (the same gradients on soft targets)
 *       "optimizer": { "type": "adam", "lr": 0.001, "weight_decay": 0 },
 *       "schedule": { "type": "cosine", "min_lr": 0 }, // constant | cosine | cosine_restarts (t0, t_mult)
 *       "augment": { "mixup_alpha": 1.0, "time_shift": 0.25, "crop_frames": 0 },
 *       "validation": { "fraction": 0.1, "patience": 10, "monitor": "val_loss" },
 *       "cache": "memory",                             // memory | disk | none
 *       "trainable": ["cnn9"],                         // default: every trainable node
 *       "logits": "cnn9"                               // default: the last trainable node
 *     }
 *
 * Every key is optional; docs/training.md gives the meaning and default of each. Errors name the
 * preset file and the JSON pointer of the offending key.
 */
#include "graph/preset.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace avgraph::host::training {

struct OptimizerConfig {
    std::string type = "adam"; ///< adam | adamw | sgd
    double lr = 1e-3;
    double weight_decay = 0.0;
    double momentum = 0.9; ///< sgd
    bool nesterov = false; ///< sgd
};

struct ScheduleConfig {
    std::string type = "cosine"; ///< constant | cosine | cosine_restarts
    double min_lr = 0.0;
    double t0 = 0.0;     ///< cosine_restarts: epochs of the first cycle (0: a tenth of the run)
    double t_mult = 1.0; ///< cosine_restarts: each cycle this many times longer than the last
    double warmup_epochs = 0.0;
};

struct AugmentConfig {
    double mixup_alpha = 0.0; ///< 0: no mixup; else lambda ~ Beta(alpha, alpha) per sample
    double time_shift = 0.0;  ///< largest circular shift along frames, as a fraction of the frames
    int64_t crop_frames = 0;  ///< > 0: a random window of this many frames (shorter clips are looped first)
};

struct ValidationConfig {
    double fraction = 0.0;            ///< of the training clips held out (whole source groups)
    int patience = 0;                 ///< 0: no early stopping
    std::string monitor = "val_loss"; ///< val_loss (lower is better) | val_accuracy
};

struct TrainConfig {
    unsigned seed = 1;
    int epochs = 40;
    int batch_size = 32;
    std::string loss = "cross_entropy";
    OptimizerConfig optimizer;
    ScheduleConfig schedule;
    AugmentConfig augment;
    ValidationConfig validation;
    std::string cache = "memory";
    std::vector<std::string> trainable;
    std::string logits;

    /** The settings as JSON, all keys filled in (stored in checkpoints to refuse a changed resume). */
    nlohmann::json toJson() const;
};

/** Reads the preset's "train" section (defaults where it has none); an Error at the key otherwise. */
TrainConfig parseTrainConfig(const Preset& preset);

/** The learning rate at a (fractional) epoch of the run. */
double learningRate(const TrainConfig& config, double epoch);

} // namespace avgraph::host::training
