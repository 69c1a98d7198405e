#pragma once
/**
 * An evaluation's folder: metrics.json, report.md, plots/ and (optionally) predictions.csv.
 *
 * `avgraph report` builds it from a prediction CSV and `avgraph eval` from a model's outputs; both
 * call writeReport. Like `avgraph run`, it replaces only files avgraph wrote (listed in the
 * folder's `.avgraph-outputs`), never a user's own.
 */
#include "host/metrics/metrics.h"
#include "host/metrics/plots.h"
#include "host/metrics/predictions.h"

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace avgraph::metrics {

struct ReportOptions {
    PlotFormat plot_format = PlotFormat::svg;
    bool plots = true;                                 ///< false: no plots, gnuplot not needed
    std::optional<std::filesystem::path> training_log; ///< RUN_DIR/log.jsonl, for the learning curves
    bool write_predictions = true;                     ///< write predictions.csv (eval: yes; report: no)
    std::string source;                                ///< what was evaluated, for report.md's heading
};

struct ReportResult {
    Metrics metrics;
    std::vector<std::filesystem::path> files; ///< everything written, in order
};

/**
 * Computes the metrics and writes the folder. Everything is checked (predictions, training log,
 * gnuplot present, files ours to replace) before the first file is written.
 */
ReportResult writeReport(const std::filesystem::path& out_dir, const Predictions& predictions,
                         const ReportOptions& options);

/** The console summary `avgraph eval` and `avgraph report` print: the headline metrics, then each file
 * written. */
void printReportSummary(std::ostream& out, const ReportResult& result);

/** report.md's text; `plots` are paths relative to the report, empty when not drawn. */
std::string reportMarkdown(const Metrics& metrics, const ReportOptions& options,
                           const std::string& confusion_plot, const std::string& accuracy_plot,
                           const std::string& learning_plot, size_t epochs);

} // namespace avgraph::metrics
