#pragma once
/**
 * A classifier graph over a dataset's clips: the class probabilities of each clip, collected as
 * metrics::Predictions (with the training split's cities and devices, for the seen/unseen
 * breakdowns). `avgraph eval` and `avgraph train` (after training) share it.
 */
#include "graph/executor.h"
#include "host/datasets/dataset.h"
#include "host/metrics/metrics.h"
#include "host/metrics/predictions.h"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace avgraph::host {

/** The output that holds the class probabilities: "probabilities", else the only output. */
std::string probabilityOutput(const Preset& preset);

/**
 * Runs the graph over `clips` (each graph input fed by loadClipInputs: the clip's audio, the video
 * frame of an audio-visual segment), in batches of up to `batch` clips of equal length. The model's
 * columns are matched to the dataset's classes by the logits' class names (or taken in order when it
 * has none). `output`: the output holding the probabilities (empty: probabilityOutput). Errors name the
 * preset output, the clips or the classes.
 */
metrics::Predictions predictClips(Executor& executor, const Dataset& ds, const std::vector<size_t>& clips,
                                  const std::vector<size_t>& train_clips, int batch, bool progress,
                                  const std::string& output = "");

/**
 * Early detection on a dataset of segments (audio-visual layouts, TAU 2022's 1-s files): for n = 1, 2, ...
 * segments, each recording's class probabilities are the mean over its first n test segments (all of
 * them once it has fewer), scored like any prediction. Shows how soon a system knows the scene.
 */
struct EarlyDetection {
    std::vector<double> seconds;          ///< n segments' worth of input
    std::vector<metrics::Summary> scores; ///< one per entry of `seconds`
    size_t recordings = 0;
};

/** nullopt when the clips are not segments of longer recordings (or none has two segments). */
std::optional<EarlyDetection> earlyDetection(const Dataset& ds, const std::vector<size_t>& clips,
                                             const metrics::Predictions& predictions);

/** Writes early_detection.json and, unless `plots` is false, the curve (metrics::plotEarlyDetection) into
 *  `dir`; prints a line per length to `out`. */
void writeEarlyDetection(const std::filesystem::path& dir, const EarlyDetection& curve,
                         const std::string& plot_format, bool plots, std::ostream& out);

} // namespace avgraph::host
