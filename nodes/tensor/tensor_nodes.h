#pragma once
/**
 * Nodes that rearrange or rescale tensors without computing features: tensor.concat, tensor.patch and
 * tensor.normalize.
 */
#include "graph/registry.h"

namespace avgraph::nodes {

/** tensor.concat: joins its inputs along the channel, bin or frame axis. */
NodeSpec concatNodeSpec();
/** tensor.patch: cuts [..., bin, frame] into fixed-length patches along the frames. */
NodeSpec patchNodeSpec();
/** tensor.normalize: per-feature standardisation or min-max scaling. */
NodeSpec normalizeNodeSpec();

/** Adds the tensor node types. */
void registerTensorNodes(Registry& registry);

} // namespace avgraph::nodes
