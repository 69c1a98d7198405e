#pragma once
/**
 * Audio files as values for a graph input: decoded, resampled to the rate the preset's input
 * asks for (libsoxr), and shaped [batch, channel, sample]; and image files for an image input.
 */
#include "graph/preset.h"
#include "graph/value.h"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace avgraph::host {

/** Samples [channel, sample] at `sample_rate` as the value an audio input takes: [1, channel, sample]. */
Value audioValue(const torch::Tensor& samples, double sample_rate);

/** Decodes a file for a graph input; throws an Error naming the file. */
Value loadAudioFor(const std::filesystem::path& file, const PresetInput& input);

/** Decodes an image file (io/media/media_file.h readImage) for a graph input of kind image: float32
 *  [1, 3, H, W] RGB in [0, 255], axes batch, channel, row, col. Throws an Error naming the file. */
Value loadImageFor(const std::filesystem::path& file, const PresetInput& input);

/** Stacks clips of equal shape and sample rate into one batch. */
Value stackClips(const std::vector<Value>& clips);

/** Whether two clips can share a batch. */
bool sameShape(const Value& a, const Value& b);

/** Whether two clips' values for every graph input (loadClipInputs) can share a batch. */
bool sameShapes(const std::map<std::string, Value>& a, const std::map<std::string, Value>& b);

/** Stacks clips' values input by input (stackClips each): the batch for Executor::run. */
std::map<std::string, Value> stackClipInputs(const std::vector<std::map<std::string, Value>>& clips);

} // namespace avgraph::host
