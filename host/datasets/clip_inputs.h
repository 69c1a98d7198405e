#pragma once
/** A dataset clip as the values a graph's inputs take (io/audio_input.h decodes the files). */
#include "graph/preset.h"
#include "graph/value.h"
#include "host/datasets/dataset.h"

#include <map>
#include <string>
#include <vector>

namespace avgraph::host {

/**
 * The values of a dataset clip for every graph input, by input name: an audio input gets the clip's audio
 * (the stretch [start, start + duration) of an audio-visual segment, zero-padded past the file's end),
 * an image input the video's picture at the middle of that stretch (or the clip's own file when it is an
 * image). The last decoded file of each kind is kept, so consecutive segments of one recording decode it
 * once. Throws an Error naming the file, or the input when its kind is neither audio nor image.
 */
std::map<std::string, Value> loadClipInputs(const Clip& clip, const std::vector<PresetInput>& inputs);

} // namespace avgraph::host
