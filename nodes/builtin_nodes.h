#pragma once
/**
 * The node types that ship with avgraph. Registration is explicit (no static initialisers),
 * so linking the library never silently drops a node type.
 */
#include "graph/registry.h"

namespace avgraph::nodes {

/** Adds every built-in node type to the registry. */
void registerBuiltinNodes(Registry& registry);

} // namespace avgraph::nodes
