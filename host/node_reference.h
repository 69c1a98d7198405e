#pragma once
/**
 * The node reference, generated from the node specs: `avgraph nodes` prints it, and
 * docs/nodes.md is its Markdown form (a test keeps the two the same).
 */
#include "graph/registry.h"

#include <string>

namespace avgraph::host {

/** One line per node type: name, inputs -> outputs, summary. */
std::string nodeListing(const Registry& registry);
/** Every node type with its ports and parameters, as Markdown. */
std::string nodeReferenceMarkdown(const Registry& registry);
/** One node type in full, as plain text. */
std::string nodeDetails(const NodeSpec& spec);

} // namespace avgraph::host
