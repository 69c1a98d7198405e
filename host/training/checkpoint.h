#pragma once
/**
 * The one checkpoint format of avgraph training (the classifier trainer and the stages of a staged
 * recipe), and files written atomically.
 *
 * A checkpoint is a LibTorch archive (torch::serialize) holding
 *
 *   "format"       "avgraph-checkpoint-1"
 *   "settings"     JSON text: what the run was started with; a resumed run must agree with it
 *   "epoch"        the last finished epoch
 *   "best_epoch", "best_value", "bad_epochs", "stopped"   early stopping's StoppingState
 *   "module.<id>"  each network (parameters and buffers: batch-norm statistics)
 *   "optimizer"    the optimizer's state, or "optimizer.<name>" for each of several
 *
 * It is written after every epoch to a file beside the checkpoint and renamed over it, so a kill
 * leaves the last complete checkpoint, never half of one. Checkpoints the stages wrote before the two
 * formats were one ("avgraph-stage-checkpoint-1": no early-stopping counters) still load.
 */
#include "host/training/early_stopping.h"

#include <nlohmann/json.hpp>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/output-archive.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace avgraph::host::training {

/** Saves a LibTorch archive whole or not at all (io/atomic_file.h). */
void atomicSave(torch::serialize::OutputArchive& archive, const std::filesystem::path& file);

/** A run's counters after an epoch: what a resumed run continues from. */
struct TrainingState {
    int epoch = 0; ///< the last finished epoch
    StoppingState stopping;
};

/** The networks and optimizers one run trains, saved and restored together. */
class Checkpoint {
public:
    /** Which words its errors use: a classifier's run, or a stage of a staged recipe. */
    enum class Owner { run, stage };
    explicit Checkpoint(Owner owner = Owner::run) : owner_(owner) {}

    void addModule(std::string id, torch::nn::Module& module);
    /** `name` empty: the run's only optimizer ("optimizer"); else "optimizer.<name>". */
    void addOptimizer(std::string name, torch::optim::Optimizer& optimizer);

    void save(const std::filesystem::path& file, const nlohmann::json& settings,
              const TrainingState& state) const;

    /**
     * Restores the networks and optimizers; returns the counters. An Error naming the file when it is
     * no avgraph checkpoint or was made with other settings (the message says to train elsewhere).
     */
    TrainingState load(const std::filesystem::path& file, const nlohmann::json& settings) const;

private:
    Owner owner_;
    std::vector<std::pair<std::string, torch::nn::Module*>> modules_;
    std::vector<std::pair<std::string, torch::optim::Optimizer*>> optimizers_;
};

} // namespace avgraph::host::training
