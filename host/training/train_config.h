#pragma once
/**
 * The `train` section of a preset: how `avgraph train` fits the preset's trainable nodes.
 *
 *     "train": {
 *       "seed": 1, "epochs": 40, "batch_size": 32,
 *       "loss": "cross_entropy",                       // or "kl" (the same gradients on soft targets)
 *       "optimizer": { "type": "adam", "lr": 0.001, "weight_decay": 0 },
 *       "schedule": { "type": "cosine", "min_lr": 0 }, // constant | cosine | cosine_restarts (t0, t_mult)
 *       "augment": { "mixup_alpha": 1.0, "time_shift": 0.25, "crop_frames": 0,
 *                    "freq_masks": 2, "freq_mask_width": 8, "time_masks": 2, "time_mask_width": 32 },
 *       "validation": { "fraction": 0.1, "patience": 10, "monitor": "val_loss" },
 *       "cache": "memory",                             // memory | disk | none
 *       "precision": "fp32",                           // bf16 | fp16 | auto (graph/precision.h)
 *       "trainable": ["cnn9"],                         // default: every trainable node
 *       "logits": "cnn9"                               // default: the last trainable node
 *     }
 *
 * Every key is optional; docs/training.md gives the meaning and default of each. Errors name the
 * preset file and the JSON pointer of the offending key.
 *
 * A staged recipe (the IVF method: VQ-VAE, then the transformation network with its critic, then
 * the classifier) lists its stages instead; the last stage is the classifier and takes the keys
 * above, the earlier ones their own (StageConfig). Several classifier stages may close the list (a
 * late-fusion system's branches, or Chen et al.'s pipeline: embeddings first, then the classifier):
 *
 *     "train": { "seed": 1, "stages": [ { "kind": "vqvae", ... }, { "kind": "transformation", ... },
 *                                       { "kind": "classifier", "epochs": 40, ... } ] }
 */
#include "graph/preset.h"

#include <nlohmann/json.hpp>

#include <filesystem>

#include <string>
#include <vector>

namespace avgraph::host::training {

struct OptimizerConfig {
    std::string type = "adam"; ///< adam | adamw | sgd
    double lr = 1e-3;
    double weight_decay = 0.0;
    double momentum = 0.9; ///< sgd
    bool nesterov = false; ///< sgd
    double beta1 = 0.9;    ///< adam, adamw
    double beta2 = 0.999;  ///< adam, adamw
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
    // SpecAugment-style masks (Park et al. 2019): bands along "bin" and spans along "frame", each of a
    // random width up to the given one, set to the sample's mean.
    int64_t freq_masks = 0;
    int64_t freq_mask_width = 0;
    int64_t time_masks = 0;
    int64_t time_mask_width = 0;
    // Images (the values of kind image the trainable part reads, in [0, 255]; the nodes that turn them
    // into embeddings, e.g. a frozen models.visual_encoder, then run every step): torchvision's
    // RandomResizedCrop (area in [image_crop, 1], aspect in [3/4, 4/3], resized back), RandomHorizontalFlip
    // and ColorJitter (brightness, contrast and saturation factors in [1 - j, 1 + j]).
    double image_crop = 0.0;   ///< 0: no crop; else the smallest area kept (torchvision: 0.08)
    bool image_flip = false;   ///< mirror half of the images
    double color_jitter = 0.0; ///< 0: none
    bool images() const { return image_crop > 0.0 || image_flip || color_jitter > 0.0; }
};

struct ValidationConfig {
    double fraction = 0.0;            ///< of the training clips held out (whole source groups)
    int patience = 0;                 ///< 0: no early stopping
    std::string monitor = "val_loss"; ///< val_loss (lower is better) | val_accuracy
};

struct TrainConfig {
    std::string name = "classifier"; ///< a staged recipe's stage name (its folder is stage<N>-<name>)
    std::string pointer = "/train";  ///< where the settings sit in the preset, for errors
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
    /** fp32 | bf16 | fp16 | auto: what the trained networks compute in (graph/precision.h). */
    std::string precision = "fp32";
    /** Where `precision` was set, for errors: empty for the preset's key, else the option ("--precision"). */
    std::string precision_option;

    /**
     * The settings as JSON, all keys filled in (stored in checkpoints to refuse a changed resume), but
     * the precision: a checkpoint records the precision the run resolved it to (host/training/trainer.h).
     */
    nlohmann::json toJson() const;
};

/**
 * A stage before the classifier in a staged recipe: "vqvae" fits a VQ-VAE preset on images, or
 * "transformation" fits the graph's transformation network (with a critic preset) on video frames
 * paired with the audio around them.
 */
struct StageConfig {
    std::string kind;              ///< vqvae | transformation
    std::string name;              ///< the stage's folder is stage<N>-<name>
    std::string pointer;           ///< /train/stages/N, for errors
    std::filesystem::path preset;  ///< vqvae: the VQ-VAE preset; transformation: the critic preset
    std::vector<std::string> data; ///< vqvae: "av" (frames of --av-data) and/or "images" (--images)
    double fps = 1.0;              ///< frames per second taken from videos
    int64_t image_size = 128;      ///< frames and images are resized to image_size²
    int epochs = 50;
    int batch_size = 16;
    OptimizerConfig optimizer;
    double validation_fraction = 0.2; ///< held-out frames (vqvae) or pairs (transformation)
    // transformation
    std::string generator; ///< the transformation network's node id (default: the graph's only one)
    std::string vqvae;     ///< the vqvae stage whose networks give the targets (default: the earlier one)
    double audio_seconds = 5.0; ///< the audio around each frame that the generator hears
    int n_critic = 5;           ///< critic steps per generator step
    double lambda_gp = 10.0;    ///< WGAN-GP gradient penalty weight
    double gamma = 1.0;         ///< image term: ||v - De(G(a))||² / var (AVGAN)
    double regression = 100.0;  ///< paired term ||G(a) - target||² (our addition, weighted like pix2pix; 0:
                                ///< the papers' losses)
    OptimizerConfig critic_optimizer;

    nlohmann::json toJson() const;
};

/**
 * Reads the preset's "train" section (defaults where it has none); an Error at the key otherwise.
 * For a staged recipe: the classifier stage's settings, with the recipe's seed.
 */
TrainConfig parseTrainConfig(const Preset& preset);

/** The stages before the classifier of a staged recipe; empty for a plain train section. */
std::vector<StageConfig> parseStages(const Preset& preset);

/**
 * Every classifier stage, in order: the train section itself, or a staged recipe's "classifier" stages
 * (they follow its vqvae and transformation stages; each trains its own nodes with the earlier ones'
 * weights frozen, e.g. the branches of a late-fusion system one after the other). The last one is
 * parseTrainConfig's.
 */
std::vector<TrainConfig> parseClassifierStages(const Preset& preset);

/** The learning rate at a (fractional) epoch of the run. */
double learningRate(const TrainConfig& config, double epoch);

} // namespace avgraph::host::training
