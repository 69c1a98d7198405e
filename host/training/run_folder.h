#pragma once
/**
 * The folder one training run writes (a classifier's run folder, or a stage's stage<N>-<name>/):
 *
 *   log.jsonl      one line per epoch (host/metrics/training_log.h)
 *   checkpoint.pt  after every epoch (host/training/checkpoint.h)
 *   weights files  the trained networks (the trainer and the stages name them)
 *
 * Its life cycle: open() refuses a folder that already holds a run unless resuming; start() loads the
 * checkpoint when resuming (and drops the log lines of epochs after it) or starts the log afresh;
 * then each epoch appends its log line and saves the checkpoint.
 */
#include "host/training/checkpoint.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>

namespace avgraph::host::training {

class RunFolder {
public:
    RunFolder(std::filesystem::path dir, Checkpoint::Owner owner) : dir_(std::move(dir)), owner_(owner) {}

    const std::filesystem::path& dir() const { return dir_; }
    std::filesystem::path log() const { return dir_ / "log.jsonl"; }
    std::filesystem::path checkpoint() const { return dir_ / "checkpoint.pt"; }

    /**
     * Creates the folder. Unless `resume`, a folder that holds a checkpoint or a log already is an
     * Error (nothing is overwritten): continue it with --resume or train into another folder.
     */
    void open(bool resume) const;

    /**
     * With `resume` and a checkpoint: restores `checkpoint` from it (an Error when its settings are not
     * `settings`) and, when `writes_log` (the process that writes the log), keeps the log's lines up to
     * its epoch; returns its counters. Otherwise nullopt: the run starts at epoch 1, and a log left by
     * a run stopped before its first checkpoint is removed (when `writes_log`).
     */
    std::optional<TrainingState> start(bool resume, const Checkpoint& checkpoint,
                                       const nlohmann::json& settings, bool writes_log) const;

    /** After an epoch: its log line, then the checkpoint. */
    void endEpoch(const nlohmann::json& log_record, const Checkpoint& checkpoint,
                  const nlohmann::json& settings, const TrainingState& state) const;

private:
    std::filesystem::path dir_;
    Checkpoint::Owner owner_;
};

} // namespace avgraph::host::training
