#pragma once
/**
 * A classifier graph over a dataset's clips: the class probabilities of each clip, collected as
 * metrics::Predictions (with the training split's cities and devices, for the seen/unseen
 * breakdowns). `avgraph eval` and `avgraph train` (after training) share it.
 */
#include "graph/executor.h"
#include "host/datasets/dataset.h"
#include "host/metrics/predictions.h"

#include <string>
#include <vector>

namespace avgraph::host {

/** The output that holds the class probabilities: "probabilities", else the only output. */
std::string probabilityOutput(const Preset& preset);

/**
 * Runs the graph (one audio input) over `clips`, in batches of up to `batch` clips of equal
 * length. The model's columns are matched to the dataset's classes by the logits' class names
 * (or taken in order when it has none). Errors name the preset output, the clips or the classes.
 */
metrics::Predictions predictClips(Executor& executor, const Dataset& ds, const std::vector<size_t>& clips,
                                  const std::vector<size_t>& train_clips, int batch, bool progress);

} // namespace avgraph::host
