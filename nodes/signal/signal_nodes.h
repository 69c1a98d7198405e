#pragma once
/**
 * Nodes that turn audio into other audio before any feature is computed: signal.resample (libsoxr)
 * and signal.channels (mono, left, right, average, difference). Both stream.
 */
#include "graph/registry.h"

namespace avgraph::nodes {

/** signal.resample: audio at any rate -> audio at `sr`, as librosa.resample(res_type='soxr_*'). */
NodeSpec resampleNodeSpec();
/** signal.channels: one channel made from stereo (or mono) audio. */
NodeSpec channelsNodeSpec();

/** Adds the signal node types. */
void registerSignalNodes(Registry& registry);

} // namespace avgraph::nodes
