#pragma once
/**
 * Nodes that fuse modalities or systems: fusion.late (late fusion of class probabilities, Pham et al.'s
 * MEAN, PROD and MAX) and fusion.concat (early fusion of embeddings, Chen et al.'s joint audio-visual
 * model). See docs/models.md, "Fusion".
 */
#include "graph/node.h"
#include "graph/registry.h"

#include <vector>

namespace avgraph::nodes {

/** fusion.late: clip-level probabilities of each input, fused across inputs by mean, prod or max. */
NodeSpec lateFusionNodeSpec();
/** fusion.concat: feature vectors joined along their last axis, 2-D inputs repeated over the frames. */
NodeSpec embeddingConcatNodeSpec();

/**
 * The values on a variadic port's in0, in1, ... in order, up to the first one missing; throws
 * std::invalid_argument when there is none.
 */
std::vector<Value> variadicInputs(const Ports& inputs, const std::string& port = "in");

/** Adds the fusion node types. */
void registerFusionNodes(Registry& registry);

} // namespace avgraph::nodes
