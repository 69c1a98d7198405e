#include "host/training/checkpoint.h"

#include "graph/error.h"
#include "io/atomic_file.h"

#include <torch/serialize/input-archive.h>

namespace avgraph::host::training {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "avgraph-checkpoint-1";
constexpr const char* kLegacyStageFormat = "avgraph-stage-checkpoint-1";

std::string optimizerKey(const std::string& name) { return name.empty() ? "optimizer" : "optimizer." + name; }

/** An integer or double counter of the archive; `fallback` when absent (a legacy stage checkpoint). */
c10::IValue counter(torch::serialize::InputArchive& archive, const std::string& key, c10::IValue fallback) {
    c10::IValue v;
    return archive.try_read(key, v) ? v : fallback;
}

} // namespace

void atomicSave(torch::serialize::OutputArchive& archive, const fs::path& file) {
    writeAtomically(file, [&](std::ostream& out) {
        // LibTorch's writer is given a function that never reports a failure: a failing stream would
        // otherwise make LibTorch throw from within its writer's destructor. The stream's state tells.
        archive.save_to([&out](const void* data, size_t size) -> size_t {
            out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
            return size;
        });
    });
}

void Checkpoint::addModule(std::string id, torch::nn::Module& module) {
    modules_.emplace_back(std::move(id), &module);
}

void Checkpoint::addOptimizer(std::string name, torch::optim::Optimizer& optimizer) {
    optimizers_.emplace_back(std::move(name), &optimizer);
}

void Checkpoint::save(const fs::path& file, const nlohmann::json& settings,
                      const TrainingState& state) const {
    torch::serialize::OutputArchive archive;
    archive.write("format", c10::IValue(std::string(kFormat)));
    archive.write("settings", c10::IValue(settings.dump()));
    archive.write("epoch", c10::IValue(static_cast<int64_t>(state.epoch)));
    archive.write("best_epoch", c10::IValue(static_cast<int64_t>(state.stopping.best_epoch)));
    archive.write("best_value", c10::IValue(state.stopping.best_value));
    archive.write("bad_epochs", c10::IValue(static_cast<int64_t>(state.stopping.bad_epochs)));
    archive.write("stopped", c10::IValue(state.stopping.stopped));
    for (const auto& [id, module] : modules_) {
        torch::serialize::OutputArchive sub;
        module->save(sub);
        archive.write("module." + id, sub);
    }
    for (const auto& [name, optimizer] : optimizers_) {
        torch::serialize::OutputArchive sub;
        optimizer->save(sub);
        archive.write(optimizerKey(name), sub);
    }
    atomicSave(archive, file);
}

TrainingState Checkpoint::load(const fs::path& file, const nlohmann::json& settings) const {
    const bool run = owner_ == Owner::run;
    const Location where{file.string(), "", "", 0, 0};
    torch::serialize::InputArchive archive;
    archive.load_from(file.string());
    c10::IValue format, saved_settings;
    archive.read("format", format);
    archive.read("settings", saved_settings);
    if (format.toStringRef() != kFormat && format.toStringRef() != kLegacyStageFormat)
        throw Error(where, run ? "not an avgraph training checkpoint" : "not an avgraph stage checkpoint");
    const auto saved = nlohmann::json::parse(saved_settings.toStringRef());
    if (saved != settings)
        throw Error(where, run ? "--resume continues a run with the same preset, data and settings; this "
                                 "checkpoint was made with other ones (" +
                                     saved.dump() + " vs now " + settings.dump() + ")"
                               : "--resume continues a stage with the same settings and data; this "
                                 "checkpoint was made with other ones: train into another folder");
    TrainingState state;
    c10::IValue epoch;
    archive.read("epoch", epoch);
    state.epoch = static_cast<int>(epoch.toInt());
    auto& s = state.stopping;
    s.best_epoch = static_cast<int>(counter(archive, "best_epoch", int64_t{0}).toInt());
    s.best_value = counter(archive, "best_value", s.best_value).toDouble();
    s.bad_epochs = static_cast<int>(counter(archive, "bad_epochs", int64_t{0}).toInt());
    s.stopped = counter(archive, "stopped", false).toBool();
    for (const auto& [id, module] : modules_) {
        torch::serialize::InputArchive sub;
        archive.read("module." + id, sub);
        module->load(sub);
    }
    for (const auto& [name, optimizer] : optimizers_) {
        torch::serialize::InputArchive sub;
        archive.read(optimizerKey(name), sub);
        optimizer->load(sub);
    }
    return state;
}

} // namespace avgraph::host::training
