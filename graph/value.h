#pragma once
/**
 * Value: what travels on an edge of the graph.
 *
 * A LibTorch tensor with the little metadata that feature and model nodes need to agree on:
 * what the tensor is (its kind), the sample rate and hop it was made with, the names of its axes
 * and, for probabilities, the class names. The batch is always the leading dimension, so a graph
 * runs on one clip or many without change, and a node written with tensor ops runs on CPU or CUDA.
 *
 * Conventional layouts (axes):
 *   audio         [batch, channel, sample]
 *   spectrum      [batch, channel, bin, frame]   bins low to high, like librosa
 *   probabilities [batch, class]
 */
#include <torch/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace avgraph {

/** What a tensor on an edge means; ports declare which kinds they accept. */
enum class Kind { Audio, Spectrum, Tensor, Indices, Image, Probabilities, Any };

std::string_view kindName(Kind kind);
std::optional<Kind> kindFromName(std::string_view name);

struct Value {
    torch::Tensor tensor;
    Kind kind = Kind::Tensor;
    double sample_rate = 0.0; ///< of the audio the value was made from; 0 when unknown
    int64_t hop = 0;          ///< samples between frames for frame-based values, 0 otherwise
    std::vector<std::string> axes;
    std::vector<std::string> class_names;
    /**
     * Decibels still to be clipped this far below the maximum of the whole signal: set by a streaming
     * node asked to defer its top_db (StreamSpec::defer_top_db), for the consumer to apply at the end.
     */
    std::optional<double> pending_top_db;

    /** The same metadata around another tensor, e.g. after a node's computation. */
    Value withTensor(torch::Tensor other) const;
    /** A copy on another device; returns *this unchanged when already there. */
    Value to(const torch::Device& device) const;
    /** Index of a named axis, or -1. */
    int64_t axis(std::string_view name) const;
};

} // namespace avgraph
