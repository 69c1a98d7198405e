#pragma once
/**
 * RUN_DIR/log.jsonl: what training records once per epoch, for the learning curves.
 *
 * JSON Lines: one JSON object a line, in epoch order (blank lines are skipped). The keys:
 *
 *   "epoch"           integer >= 1, required, increasing from line to line
 *   "train_loss"      number, optional: the mean training loss of the epoch
 *   "train_accuracy"  number in [0, 1], optional: the training accuracy of the epoch
 *   "val_loss"        number, optional: the validation loss after the epoch
 *   "val_accuracy"    number in [0, 1], optional: the validation accuracy after the epoch
 *
 * Any other key (e.g. "lr", "seconds") is allowed and ignored here. A present key holds a finite
 * number or null (null: not measured that epoch). Example:
 *
 *   {"epoch": 1, "train_loss": 2.10, "train_accuracy": 0.21, "val_loss": 1.95, "val_accuracy": 0.28, "lr":
 * 0.001}
 */
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace avgraph::metrics {

struct EpochRecord {
    int epoch = 0;
    std::optional<double> train_loss, train_accuracy, val_loss, val_accuracy;
};

/** Reads log.jsonl; a malformed line is an avgraph::Error naming the file and line. */
std::vector<EpochRecord> readTrainingLog(const std::filesystem::path& path);

} // namespace avgraph::metrics
