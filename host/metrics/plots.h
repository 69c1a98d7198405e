#pragma once
/**
 * The report's plots, drawn by gnuplot (Debian's gnuplot-nox): avgraph writes a gnuplot script
 * beside each picture (`confusion_matrix.gp` beside `confusion_matrix.svg`) and runs
 * `gnuplot <script>` in that folder, so a user can restyle a plot by editing its script and running
 * gnuplot again.
 */
#include "host/metrics/metrics.h"
#include "host/metrics/training_log.h"

#include <filesystem>
#include <string>
#include <vector>

namespace avgraph::metrics {

enum class PlotFormat { svg, png };

/** "svg" or "png"; anything else is an avgraph::Error. */
PlotFormat parsePlotFormat(const std::string& name);
const char* extension(PlotFormat format);

/** Whether `gnuplot` can be run (it is on PATH). */
bool gnuplotAvailable();

/** Rows: true class, columns: predicted class; colour: share of the row, text: clip count. */
std::filesystem::path plotConfusionMatrix(const std::filesystem::path& dir, const Metrics& metrics,
                                          PlotFormat format);
/** One bar per class, and the class-averaged accuracy as a line. */
std::filesystem::path plotClassAccuracy(const std::filesystem::path& dir, const Metrics& metrics,
                                        PlotFormat format);
/** Loss and accuracy per epoch, training and validation, side by side. */
std::filesystem::path plotLearningCurves(const std::filesystem::path& dir,
                                         const std::vector<EpochRecord>& epochs, PlotFormat format);

/**
 * Panels of per-epoch series from a log.jsonl, for training stages whose losses are not a classifier's
 * (a VQ-VAE's reconstruction and codebook usage, a WGAN's critic and generator losses). Each panel
 * is a title and the log keys drawn in it; a key missing from an epoch is a gap.
 */
struct SeriesPanel {
    std::string title;
    std::vector<std::string> keys;
};
std::filesystem::path plotLogSeries(const std::filesystem::path& dir, const std::string& stem,
                                    const std::string& title, const std::filesystem::path& log,
                                    const std::vector<SeriesPanel>& panels, PlotFormat format);

/**
 * Accuracy against the seconds of input a system has heard (early detection, as Pham et al. plot it):
 * one curve per series, x the seconds, y the accuracy in %. Written as early_detection.<ext>.
 */
std::filesystem::path
plotEarlyDetection(const std::filesystem::path& dir, const std::vector<double>& seconds,
                   const std::vector<std::pair<std::string, std::vector<double>>>& series, PlotFormat format);

/**
 * A scene timeline (`avgraph run --segment`): the most probable class of each segment over time, above
 * a heat map of every class's probability. Reads the timeline CSV `csv` in `dir` (start, end, label,
 * confidence, then one column per class) from its script, so the plot stays small for hours of
 * segments and can be redrawn. Each segment is drawn `hop` seconds wide around its centre. Written as
 * timeline.<ext> with timeline.gp.
 */
std::filesystem::path plotTimeline(const std::filesystem::path& dir, const std::string& csv,
                                   const std::vector<std::string>& classes, double hop, PlotFormat format);

/** Runs `gnuplot script` in `dir`; throws avgraph::Error with gnuplot's messages if it fails. */
void runGnuplot(const std::filesystem::path& dir, const std::string& script_name);

} // namespace avgraph::metrics
