#pragma once
/**
 * Trained weights for a preset, as `avgraph eval --weights` and the plugin's weights choice take them:
 * a weights file for the preset's one trainable node, or the run folder `avgraph train --out` wrote
 * (its weights.json names every trained node's file, the stages' included).
 */
#include "graph/graph.h"

#include <filesystem>
#include <string>
#include <vector>

namespace avgraph::host {

/** The ids of the graph's trainable nodes, in preset order. */
std::vector<std::string> trainableNodes(const Graph& graph);

/**
 * The `NODE.weights=FILE` overrides (Preset::load's form) that give `graph`'s preset the weights in
 * `weights`: one per entry of a run folder's weights.json, or one for the preset's only trainable
 * node. Throws an Error naming the folder or the preset when neither applies.
 */
std::vector<std::string> weightsOverrides(const std::filesystem::path& weights, const Graph& graph);

} // namespace avgraph::host
