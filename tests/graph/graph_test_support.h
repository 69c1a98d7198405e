#pragma once
// What the engine's suites share: the registry of built-in nodes their graphs use.
#include "graph/registry.h"
#include "nodes/builtin_nodes.h"

#include <memory>

namespace avgraph::test {

/** A registry with every built-in node type. */
inline std::unique_ptr<Registry> builtinRegistry() {
    auto registry = std::make_unique<Registry>();
    nodes::registerBuiltinNodes(*registry);
    return registry;
}

} // namespace avgraph::test
