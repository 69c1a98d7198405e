#pragma once
/**
 * Audio files as values for a graph input: decoded, resampled to the rate the preset's input
 * asks for (libsoxr), and shaped [batch, channel, sample].
 */
#include "graph/preset.h"
#include "graph/value.h"

#include <filesystem>
#include <vector>

namespace avgraph::host {

/** Decodes a file for a graph input; throws an Error naming the file. */
Value loadAudioFor(const std::filesystem::path& file, const PresetInput& input);

/** Stacks clips of equal shape and sample rate into one batch. */
Value stackClips(const std::vector<Value>& clips);

/** Whether two clips can share a batch. */
bool sameShape(const Value& a, const Value& b);

} // namespace avgraph::host
