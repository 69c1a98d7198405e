#pragma once
/**
 * avgraph::io: files in and out of graphs, and the process set-up every program that runs graphs
 * shares (the CLI, the plugin, a program that embeds the engine: examples/embed).
 *
 * Aims: decode any audio a user has (libsndfile; FFmpeg for containers) whole or as a stream in bounded
 * memory, turn files into the values graph inputs take (io/audio_input.h), write results (.npy whole
 * or growing, output folders that never overwrite what a user wrote), find trained weights. Errors
 * name the file and, in a stream, the time. Non-aims: datasets, training, command-line words.
 *
 * Life cycle of a program: configureThreads and configureAllocator once, makeRegistry, then Preset,
 * Graph and Executor (graph/) for as many runs as it likes.
 *
 * This header: LibTorch's thread pools, the allocator, and a registry holding the built-in nodes and
 * the node libraries a program names (the CLI's --nodes).
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
