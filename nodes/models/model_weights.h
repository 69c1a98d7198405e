#pragma once
/**
 * Weights of trainable nodes as ordinary LibTorch archives.
 *
 * A weights file is what `torch::save(module, file)` writes (a torch::serialize::OutputArchive of
 * the module's parameters and buffers, nested by submodule), so `torch::load(module, file)` reads it
 * too. Python PyTorch writes the same format with `torch.jit.script(net).save(file)` when `net`
 * names its parameters like the C++ module (see docs/models.md).
 *
 * Loading checks every parameter and buffer before copying any, so a file for another network or
 * other sizes is refused with the file and the first mismatching name, and leaves the module as it
 * was.
 */
#include "graph/node.h"

#include <torch/nn/module.h>

#include <filesystem>

namespace avgraph::nodes {

/**
 * Writes the module's parameters and buffers to `file` (through a temporary file renamed into
 * place, so a crash never leaves half a file). Tensors are written from the CPU, so the file loads
 * on any device. Throws std::runtime_error naming the file when it cannot be written.
 */
void saveWeights(const torch::nn::Module& module, const std::filesystem::path& file);

/**
 * Reads `file` into the module's parameters and buffers (on whatever device they are). Throws
 * std::invalid_argument naming the file and the first parameter that is missing or has another shape
 * (e.g. "conv_block1.conv1.weight: the file has [32, 1, 3, 3], the network [64, 1, 3, 3]"), or that
 * the file is not a LibTorch archive.
 */
void loadWeights(torch::nn::Module& module, const std::filesystem::path& file);

/** saveWeights of a trainable node's module; throws the node's Error when it has none. */
void saveNodeWeights(Node& node, const std::filesystem::path& file);

/**
 * Readies a network node's module: its `dtype` parameter (float64 moves it), its `weights` file
 * (an Error at the node's /params/weights when the file does not fit), then eval mode.
 */
void prepareNetwork(const Node& node, torch::nn::Module& network);

} // namespace avgraph::nodes
