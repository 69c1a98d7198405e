#pragma once
/**
 * What every avgraph command sets up before it touches a graph: LibTorch's thread pools and a
 * registry holding the built-in nodes and the node libraries named with --nodes.
 */
#include "graph/registry.h"

#include <filesystem>
#include <vector>

namespace avgraph::host {

/**
 * Sets LibTorch's intra-op threads (0: one per core) and, on first use, its inter-op pool that
 * runs independent branches. LibTorch defaults to one intra-op thread on some machines, so the
 * host always sets it explicitly.
 */
void configureThreads(int threads);

/**
 * Keeps freed memory in the process instead of returning it to the system. LibTorch allocates and
 * frees activation buffers of tens of megabytes every training step; glibc serves blocks that large
 * with mmap and gives them back with munmap, so every step pays page faults to zero fresh pages
 * (15 % of a CPU training step here). A fixed mmap threshold of 1 GiB and no trimming make the
 * blocks come back from the heap instead. The price is a resident size that stays at its peak.
 */
void configureAllocator();

/** A registry with the built-in nodes and the given node libraries (in order). */
std::unique_ptr<Registry> makeRegistry(const std::vector<std::filesystem::path>& node_libraries);

} // namespace avgraph::host
