#pragma once
/** Nodes that rearrange tensors without computing features: tensor.concat. */
#include "graph/registry.h"

namespace avgraph::nodes {

/** tensor.concat: joins its inputs along the channel, bin or frame axis. */
NodeSpec concatNodeSpec();

/** Adds the tensor node types. */
void registerTensorNodes(Registry& registry);

} // namespace avgraph::nodes
