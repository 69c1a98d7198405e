#include "host/training/run_folder.h"

#include "graph/error.h"
#include "host/metrics/training_log.h"

namespace avgraph::host::training {

namespace fs = std::filesystem;

void RunFolder::open(bool resume) const {
    fs::create_directories(dir_);
    if (resume || (!fs::exists(checkpoint()) && !fs::exists(log())))
        return;
    const std::string holds = owner_ == Checkpoint::Owner::run
                                  ? "this folder already holds a training run"
                                  : "this stage folder already holds an unfinished run";
    throw fileError(
        dir_, holds + " (checkpoint.pt / log.jsonl); continue it with --resume or train into another folder");
}

std::optional<TrainingState> RunFolder::start(bool resume, const Checkpoint& checkpoint,
                                              const nlohmann::json& settings, bool writes_log) const {
    if (resume && fs::exists(this->checkpoint())) {
        const TrainingState state = checkpoint.load(this->checkpoint(), settings);
        if (writes_log)
            metrics::keepLogEpochsUpTo(log(), state.epoch);
        return state;
    }
    if (writes_log && fs::exists(log()))
        fs::remove(log()); // --resume before the first checkpoint: start over
    return std::nullopt;
}

void RunFolder::endEpoch(const nlohmann::json& log_record, const Checkpoint& checkpoint,
                         const nlohmann::json& settings, const TrainingState& state) const {
    metrics::appendLogRecord(log(), log_record);
    checkpoint.save(this->checkpoint(), settings, state);
}

} // namespace avgraph::host::training
