// A node library that claims an ABI this avgraph does not have; the registry must refuse it
// before calling anything in it.
#include "graph/registry.h"

extern "C" __attribute__((visibility("default"))) const char* avgraph_node_abi() {
    return "avgraph-node-abi 0; torch 0.0.0; cxx11-abi 0";
}

extern "C" __attribute__((visibility("default"))) void avgraph_register_nodes(avgraph::Registry&) {
    throw std::logic_error("a library with the wrong ABI must never be called");
}
