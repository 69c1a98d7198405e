#pragma once
/**
 * RUN_DIR/log.jsonl: what training records once per epoch, for the learning curves. This file holds its
 * one reader (forEachLogRecord; the others build on it) and its one writer (appendLogRecord).
 *
 * JSON Lines: one JSON object a line, in epoch order (blank lines are skipped). The keys of a
 * classifier's log:
 *
 *   "epoch"           integer >= 1, required, increasing from line to line
 *   "train_loss"      number, optional: the mean training loss of the epoch
 *   "train_accuracy"  number in [0, 1], optional: the training accuracy of the epoch
 *   "val_loss"        number, optional: the validation loss after the epoch
 *   "val_accuracy"    number in [0, 1], optional: the validation accuracy after the epoch
 *
 * Any other key (e.g. "lr", "seconds") is allowed and ignored by readTrainingLog. A present key holds a
 * finite number or null (null: not measured that epoch). Example:
 *
 *   {"epoch": 1, "train_loss": 2.10, "train_accuracy": 0.21, "val_loss": 1.95, "val_accuracy": 0.28, "lr":
 * 0.001}
 *
 * The stages of a staged recipe write their own keys (a VQ-VAE's reconstruction error, a GAN's losses)
 * and may start at epoch 0 (before training); "seconds" is the wall time of an epoch in every log.
 */
#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace avgraph::metrics {

/** One line of a log.jsonl: a JSON object, the text it was read from, and its line number (1-based). */
struct LogRecord {
    nlohmann::json json;
    std::string text;
    int line = 0;
};

/** What reading does with a line that is not a JSON object. */
enum class MalformedLines {
    fail, ///< an avgraph::Error naming the file and the line
    skip  ///< left out: the last line of a run killed while writing it is cut short
};

/**
 * Calls `visit` with every non-blank line of a log.jsonl in turn (the one reader: the functions below
 * build on it); an Error naming the file when it cannot be opened.
 */
void forEachLogRecord(const std::filesystem::path& path, MalformedLines malformed,
                      const std::function<void(const LogRecord&)>& visit);

/** Every non-blank line of a log.jsonl (forEachLogRecord). */
std::vector<LogRecord> readLogRecords(const std::filesystem::path& path, MalformedLines malformed);

/** Appends one record as a line (the file is created when missing). */
void appendLogRecord(const std::filesystem::path& path, const nlohmann::json& record);

/** A number for a log record: null when not measured (nullopt) or not finite. */
nlohmann::json logNumber(const std::optional<double>& x);

/**
 * Keeps the records of epochs up to `last_epoch` and drops the rest, malformed lines included (a run
 * resumed from a checkpoint logs the epochs after it again). Nothing happens when the file is missing.
 */
void keepLogEpochsUpTo(const std::filesystem::path& path, int last_epoch);

/** The sum of the records' "seconds" (malformed lines and records without it add nothing). */
double loggedSeconds(const std::filesystem::path& path);

struct EpochRecord {
    int epoch = 0;
    std::optional<double> train_loss, train_accuracy, val_loss, val_accuracy;
};

/** Reads a classifier's log.jsonl; a malformed line is an avgraph::Error naming the file and line. */
std::vector<EpochRecord> readTrainingLog(const std::filesystem::path& path);

} // namespace avgraph::metrics
