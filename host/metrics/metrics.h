#pragma once
/**
 * The metrics of DCASE's acoustic scene classification task (task 1, 2020 to 2022), computed from
 * Predictions. docs/evaluation.md gives every definition; in short:
 *
 *  - class-wise accuracy of class c: the share of c's clips whose predicted class is c;
 *  - class-averaged accuracy (DCASE's ranking "accuracy"): the mean of the class-wise accuracies;
 *  - overall accuracy: correct clips / clips;
 *  - log loss, as scikit-learn's log_loss with eps = 1e-15 (probabilities clipped to
 *    [eps, 1 - eps], each row divided by its sum, then the mean of -ln p[true class]);
 *    class-wise log loss of c: that mean over c's clips; class-averaged log loss (DCASE 2021/2022's
 *    ranking metric): the mean of the class-wise log losses; overall log loss: the mean over all clips.
 *
 * Classes without clips have no class-wise value and are left out of the class averages.
 */
#include "host/metrics/predictions.h"

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace avgraph::metrics {

/** scikit-learn's log_loss clipping (its default until version 1.3), as DCASE's evaluation used it. */
constexpr double kLogLossEps = 1e-15;

/** Accuracy and log loss of a set of clips. */
struct Summary {
    int clips = 0;
    int correct = 0;
    double accuracy = 0.0;               ///< overall: correct / clips
    double class_average_accuracy = 0.0; ///< mean of the class-wise accuracies of the classes present
    double log_loss = 0.0;               ///< overall: mean over the clips
    double class_average_log_loss = 0.0; ///< mean of the class-wise log losses of the classes present
    std::vector<int> class_clips;        ///< clips of each class
    std::vector<std::optional<double>> class_accuracy; ///< none for a class without clips
    std::vector<std::optional<double>> class_log_loss;
};

/** A breakdown by city or device: each group, and seen / unseen when the training set is known. */
struct Breakdown {
    std::string key; ///< "city" or "device"
    std::map<std::string, Summary> groups;
    std::set<std::string> seen_in_training; ///< empty: unknown
    std::optional<Summary> seen, unseen;    ///< over the groups seen / not seen in training
};

struct Metrics {
    std::vector<std::string> classes;
    Summary overall;
    std::vector<std::vector<int>> confusion; ///< [true class][predicted class] clip counts
    std::optional<Breakdown> by_city, by_device;
};

/** -ln of the true class's probability after scikit-learn's clipping and renormalisation. */
double clipLogLoss(const std::vector<double>& probabilities, int label, double eps = kLogLossEps);

/** The metrics of the clips `indices` (all of them when empty). */
Summary summarize(const Predictions& predictions, const std::vector<size_t>& indices);

/** Validates the predictions, then computes every metric. */
Metrics computeMetrics(const Predictions& predictions);

/** metrics.json: see docs/evaluation.md for the layout. */
nlohmann::json toJson(const Metrics& metrics);

} // namespace avgraph::metrics
