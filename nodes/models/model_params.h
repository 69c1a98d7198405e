#pragma once
// What the model nodes share in reading their parameters: lists written as "64,128,256,512",
// class names, and errors that point at a parameter.
#include "graph/message_text.h"
#include "graph/node.h"

#include <torch/script.h>
#include <torch/types.h>

#include <string>
#include <vector>

namespace avgraph::nodes {

/** The first line of a LibTorch message (the rest is its backtrace). */
std::string firstLine(const std::string& message);

/**
 * The TorchScript module a node's `param` names, loaded on the CPU, with a forward method; otherwise a
 * paramError naming the file, `how_to_export` (how a user writes one) and LibTorch's reason.
 */
torch::jit::Module loadTorchScript(const NodeContext& ctx, const std::string& param,
                                   const std::string& how_to_export);

/**
 * The positive integers of a comma-separated text parameter such as "64,128,256,512"; with `count`
 * > 0 exactly that many. Throws paramError otherwise.
 */
std::vector<int64_t> widthList(const NodeContext& ctx, const std::string& param, size_t count = 0);

/** The names of a comma-separated text parameter (spaces around names dropped; none empty or twice). */
std::vector<std::string> nameList(const NodeContext& ctx, const std::string& param);

/**
 * The names of `class_names` (comma-separated, spaces around names dropped), checked against
 * `n_classes`; empty when the parameter is "".
 */
std::vector<std::string> classNames(const NodeContext& ctx);

/** The parameters every classifier has: n_classes, class_names, weights. */
std::vector<ParamSpec> classifierParams();

} // namespace avgraph::nodes
