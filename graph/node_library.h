#pragma once
/**
 * The contract between avgraph and a third-party node library.
 *
 * A node library is a shared object built against these headers. It defines its node types and
 * registers them in one function, written with the macro below:
 *
 *     #include "graph/node_library.h"
 *     AVGRAPH_NODE_LIBRARY(registry) {
 *         registry.add(makeMyNodeSpec());
 *     }
 *
 * The macro exports two C symbols: `avgraph_node_abi` returns the ABI the library was compiled
 * for (this header's version, the LibTorch version and the C++ standard library's ABI), and
 * `avgraph_register_nodes` adds the node types. The host refuses a library whose ABI differs
 * from its own, since node objects cross the boundary as C++ classes.
 */
#include "graph/registry.h"

#include <torch/version.h>

#define AVGRAPH_NODE_ABI_VERSION 1

#define AVGRAPH_STRINGIFY_(x) #x
#define AVGRAPH_STRINGIFY(x) AVGRAPH_STRINGIFY_(x)
/** Everything that must match between host and library, as one string. */
#define AVGRAPH_NODE_ABI                                                                                     \
    "avgraph-node-abi " AVGRAPH_STRINGIFY(AVGRAPH_NODE_ABI_VERSION) "; torch " TORCH_VERSION                 \
                                                                    "; cxx11-abi " AVGRAPH_STRINGIFY(        \
                                                                        _GLIBCXX_USE_CXX11_ABI)

#define AVGRAPH_NODE_LIBRARY(registry)                                                                       \
    extern "C" __attribute__((visibility("default"))) const char* avgraph_node_abi() {                       \
        return AVGRAPH_NODE_ABI;                                                                             \
    }                                                                                                        \
    extern "C" __attribute__((visibility("default"))) void avgraph_register_nodes(                           \
        ::avgraph::Registry& registry)
