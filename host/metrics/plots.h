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

/** Runs `gnuplot script` in `dir`; throws avgraph::Error with gnuplot's messages if it fails. */
void runGnuplot(const std::filesystem::path& dir, const std::string& script_name);

} // namespace avgraph::metrics
