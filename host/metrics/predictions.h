#pragma once
/**
 * What a classifier said about each clip of an evaluation set, and its file form.
 *
 * `avgraph eval` fills a Predictions from the model's outputs; `avgraph report` reads one back from
 * the prediction CSV eval wrote. Either way the metrics (metrics.h) and the report (report.h) take
 * nothing else.
 *
 * The prediction CSV is DCASE's task 1 system output (tab-separated, a header row):
 *
 *     filename  scene_label  <class 1> ... <class K>  [true_label]  [city]  [device]
 *
 * `scene_label` is the predicted class, each class column holds that class's probability. avgraph
 * appends the reference columns `true_label` (needed for metrics), `city` and `device`
 * (optional); DCASE's evaluator reads columns by name, so the file stays a valid submission.
 */
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace avgraph::metrics {

/** One clip: its file, the true class, the predicted class and the class probabilities. */
struct ClipPrediction {
    std::string file;                  ///< as the dataset names it (DCASE: "audio/<name>.wav")
    int label = -1;                    ///< true class index
    int predicted = -1;                ///< predicted class index (DCASE: the scene_label column)
    std::vector<double> probabilities; ///< one per class, summing to 1
    std::string city;                  ///< empty when unknown
    std::string device;                ///< empty when unknown
};

struct Predictions {
    std::vector<std::string> classes;
    std::vector<ClipPrediction> clips;
    /** Cities and devices of the training set, for the seen / unseen breakdowns; empty: unknown. */
    std::set<std::string> train_cities;
    std::set<std::string> train_devices;

    /** Adds a clip whose predicted class is the most probable one (the first, on a tie). */
    void add(std::string file, int label, std::vector<double> probabilities, std::string city = {},
             std::string device = {});
    /**
     * Checks the invariants the metrics rely on: at least one clip, class indices in range, K finite
     * probabilities in [0, 1] summing to 1 within kSumTolerance, file names unique. Throws
     * avgraph::Error naming `source` (and the clip) otherwise.
     */
    void validate(const std::string& source = "predictions") const;
};

/** How far a clip's probabilities may sum from 1 (they are written with 9 significant digits). */
constexpr double kSumTolerance = 1e-3;

/** The index of the largest value, the first on a tie (numpy.argmax). */
int argmax(const std::vector<double>& values);

/** Reads a prediction CSV; every problem is an avgraph::Error naming the file and line. */
Predictions readPredictionsCsv(const std::filesystem::path& path);

/** Writes a prediction CSV (atomically: a temporary file renamed into place). */
void writePredictionsCsv(const std::filesystem::path& path, const Predictions& predictions);

/** The prediction CSV as text. */
std::string predictionsCsvText(const Predictions& predictions);

/** Splits a comma-separated list ("a,b,c") into a set, leaving out empty items. */
std::set<std::string> splitList(const std::string& list);

} // namespace avgraph::metrics
