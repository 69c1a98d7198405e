#pragma once
/**
 * Nodes on images: values of kind image, [batch, 3, row, col] RGB float32, in [0, 255] as read from a
 * file or video. image.resize brings them to a network's size and image.normalize to its value range
 * (the VQ-VAE's [-0.5, 0.5], or back to [0, 255] for writing).
 */
#include "graph/registry.h"

namespace avgraph::nodes {

/** image.resize: to height × width by bilinear (antialiased), area or nearest interpolation. */
NodeSpec imageResizeNodeSpec();
/** image.normalize: ((x · scale + offset) − mean[c]) / std[c]. */
NodeSpec imageNormalizeNodeSpec();

/** Adds the image node types. */
void registerImageNodes(Registry& registry);

} // namespace avgraph::nodes
