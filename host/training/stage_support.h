#pragma once
/**
 * What the stages of a staged recipe (host/training/staged_recipe.h) share: finding their networks in a
 * graph, their random draws, their held-out splits and batches, and how a stage ends (its plots,
 * weights and stage.json).
 */
#include "graph/graph.h"
#include "graph/value.h"
#include "host/metrics/plots.h"
#include "host/training/staged_recipe.h"
#include "host/training/train_config.h"

#include <ATen/core/Generator.h>
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace avgraph::host::training {

/** An Error at the stage's key in `g`'s preset: "stage "<name>": message". */
Error stageError(const Graph& g, const StageConfig& stage, const std::string& message);

/** The one node of a type in a graph (or the named one); an Error at the stage (in `where`) otherwise. */
size_t nodeOfType(const Graph& g, const std::string& type, const StageConfig& stage, const Graph& where,
                  const std::string& named = "");

/** The vertex and port feeding a node's input (the node's only input edge). */
std::pair<size_t, std::string> sourceOf(const Graph& g, size_t v);

/** The graph's single input, which must be of the given kind; an Error at the stage otherwise. */
const PresetInput& onlyInput(const Graph& g, Kind kind, const StageConfig& stage, const Graph& where);

/** A generator for one purpose of one step of a stage: the same numbers in a resumed stage. */
std::mt19937_64 stageGenerator(unsigned seed, int epoch, int64_t step, uint32_t purpose);

/** A LibTorch generator seeded from stageGenerator, for torch's own draws. */
at::Generator torchGenerator(unsigned seed, int epoch, int64_t step, uint32_t purpose);

/** Images or 16x16 feature maps as a graph value: [batch, channel, row, col]. */
Value gridValue(torch::Tensor t, Kind kind);

/** A random held-out share of n items (at least one when the fraction is positive and n > 1): {train, held
 * out}. */
std::pair<std::vector<int64_t>, std::vector<int64_t>> holdOut(int64_t n, double fraction, unsigned seed);

torch::Tensor indexTensor(const std::vector<int64_t>& idx);

/** Batches of one epoch, shuffled by the seed and epoch alone (the last may be smaller). */
std::vector<std::vector<int64_t>> epochBatches(std::vector<int64_t> items, int batch, unsigned seed,
                                               int epoch);

/** The stage's curves (`panels` of its log's keys) as RUN_DIR/curves.<ext>, unless plots are off. */
void finishPlots(const StageRun& run, const std::string& title,
                 const std::vector<metrics::SeriesPanel>& panels);

/**
 * A finished stage: writes each network's weights (weights-<id>.pt) and stage.json (`summary` with the
 * networks' types and files, the settings and "finished"), which later runs reuse. g1 and g2 are the
 * graphs the networks' types are looked up in.
 */
StageResult finishStage(const StageRun& run, const nlohmann::json& settings, nlohmann::json summary,
                        const std::map<std::string, torch::nn::Module*>& networks, const Graph& g1,
                        const Graph& g2);

} // namespace avgraph::host::training
