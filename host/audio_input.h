#pragma once
/**
 * Audio files as values for a graph input: decoded, resampled to the rate the preset's input
 * asks for (libsoxr), and shaped [batch, channel, sample]; and image files for an image input.
 */
#include "graph/preset.h"
#include "graph/value.h"

#include <filesystem>
#include <vector>

namespace avgraph::host {

/** Decodes a file for a graph input; throws an Error naming the file. */
Value loadAudioFor(const std::filesystem::path& file, const PresetInput& input);

/** Decodes an image file (host/media/media_file.h readImage) for a graph input of kind image: float32
 *  [1, 3, H, W] RGB in [0, 255], axes batch, channel, row, col. Throws an Error naming the file. */
Value loadImageFor(const std::filesystem::path& file, const PresetInput& input);

/** Stacks clips of equal shape and sample rate into one batch. */
Value stackClips(const std::vector<Value>& clips);

/** Whether two clips can share a batch. */
bool sameShape(const Value& a, const Value& b);

} // namespace avgraph::host
