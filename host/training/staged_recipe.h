#pragma once
/**
 * The stages of the IVF method that come before its classifier (docs/training.md, "Staged recipes"):
 *
 *   1. "vqvae": a VQ-VAE preset (image input -> models.vqvae_encoder -> models.vq_codebook ->
 *      models.vqvae_decoder) fitted on video frames and/or photographs: reconstruction error over the
 *      data's variance plus the codebook and commitment losses (β from the codebook node).
 *   2. "transformation": the main graph's models.transformation_network G fitted on video frames
 *      paired with the audio around them. Its targets come from the frozen stage-1 networks (the index
 *      map, the quantized features or the encoder output, by G's mode); a critic preset (tensor input
 *      -> models.critic) is trained against it with WGAN-GP (λ), G's loss adds the paired regression
 *      term and the AVGAN image term γ·||v − De(G(a))||² / var.
 *
 * Each stage trains in its own folder (stage<N>-<name>/): log.jsonl, checkpoint.pt every epoch (an
 * interrupted stage continues with --resume), the curves as a plot, weights-<node>.pt for each
 * network, and stage.json once finished, which later runs reuse instead of training again. The third
 * stage is the ordinary classifier Trainer with the stages' weights loaded and frozen.
 */
#include "graph/executor.h"
#include "graph/graph.h"
#include "host/training/train_config.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <ostream>
#include <string>

namespace avgraph::host::training {

/** Where the stages' data comes from: `avgraph train --av-data DIR [--av-format F] --images DIR`. */
struct AudioVisualData {
    std::filesystem::path av_data; ///< videos (a folder of them, or the TAU Audio-Visual 2021 layout)
    std::string av_format;         ///< "" = detected
    std::filesystem::path images;  ///< a folder of photographs (stage 1 only)
};

struct StageRun {
    std::filesystem::path dir;
    bool resume = false;
    std::ostream* out = nullptr; ///< per-epoch lines; nullptr: std::cerr
    std::string plot_format = "svg";
    bool plots = true;
};

/** A finished stage: its networks' weights by node id, and what stage.json records. */
struct StageResult {
    std::map<std::string, std::filesystem::path> weights;
    std::map<std::string, std::string> types; ///< node id -> node type
    nlohmann::json summary;
};

/**
 * The finished stage in `dir` when its stage.json was written with these settings; nullopt when the
 * stage has not finished there. A finished stage with other settings is an Error: its weights would
 * silently belong to another recipe.
 */
std::optional<StageResult> finishedStage(const std::filesystem::path& dir, const nlohmann::json& settings);

/**
 * The settings a stage's folder is tied to: the stage's keys, where its data comes from, the stage's
 * own preset as loaded, and for a transformation stage the main graph's nodes up to the generator
 * (its mode, widths and audio front end).
 */
nlohmann::json stageSettings(const StageConfig& stage, unsigned seed, const AudioVisualData& data,
                             const Graph& main);

/** Stage 1: fits the VQ-VAE preset's networks on frames and images. */
StageResult trainVqvaeStage(Graph& vqvae, Executor& vqvae_exec, const StageConfig& stage, unsigned seed,
                            const AudioVisualData& data, const StageRun& run);

/** Stage 2: fits the main graph's transformation network against the critic preset's critic. */
StageResult trainTransformationStage(Graph& main, Executor& main_exec, Graph& vqvae, Executor& vqvae_exec,
                                     Graph& critic, Executor& critic_exec, const StageConfig& stage,
                                     unsigned seed, const AudioVisualData& data, const StageRun& run);

} // namespace avgraph::host::training
