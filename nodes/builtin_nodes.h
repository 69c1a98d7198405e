#pragma once
/**
 * The node types that ship with avgraph (avgraph::nodes): features (librosa-exact), signal, tensor,
 * models, image and fusion nodes, one NodeSpec each, which drives validation, `avgraph nodes` and
 * docs/nodes.md.
 *
 * Aims: each node computes with LibTorch ops on any device and dtype, equals its reference
 * implementation (the goldens, PyTorch), streams where its maths allows, and checks at prepare what
 * its inputs' rate and hop decide. Non-aims: reading files other than the weights a parameter names,
 * state shared between nodes, knowing which host runs it (CLI, plugin, Python).
 *
 * Life cycle: the one of graph/node.h; registration is explicit (no static initialisers), so linking
 * the library never silently drops a node type.
 */
#include "graph/registry.h"

namespace avgraph::nodes {

/** Adds every built-in node type to the registry. */
void registerBuiltinNodes(Registry& registry);

} // namespace avgraph::nodes
