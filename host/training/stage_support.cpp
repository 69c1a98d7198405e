// What the stages of a staged recipe share (host/training/stage_support.h).
#include "host/training/stage_support.h"

#include "graph/error.h"
#include "host/training/checkpoint.h"
#include "io/atomic_file.h"
#include "nodes/models/model_weights.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace avgraph::host::training {

namespace fs = std::filesystem;

Error stageError(const Graph& g, const StageConfig& stage, const std::string& message) {
    return Error(g.preset().locate(stage.pointer), "stage \"" + stage.name + "\": " + message);
}

size_t nodeOfType(const Graph& g, const std::string& type, const StageConfig& stage, const Graph& where,
                  const std::string& named) {
    std::vector<size_t> found;
    for (size_t v = 0; v < g.size(); ++v)
        if (!g.vertex(v).is_input && g.vertex(v).spec->type == type &&
            (named.empty() || g.vertex(v).id == named))
            found.push_back(v);
    if (found.size() == 1)
        return found[0];
    const std::string file = g.preset().file().string();
    if (found.empty())
        throw stageError(where, stage,
                         named.empty() ? file + " has no " + type + " node"
                                       : file + " has no " + type + " node named \"" + named + "\"");
    throw stageError(where, stage, file + " has several " + type + " nodes; name the one to train");
}

std::pair<size_t, std::string> sourceOf(const Graph& g, size_t v) {
    auto in = g.incoming(v);
    if (in.size() != 1)
        throw g.vertex(v).node->error("training expects one input edge into this node");
    return {in[0].from, in[0].from_port};
}

const PresetInput& onlyInput(const Graph& g, Kind kind, const StageConfig& stage, const Graph& where) {
    const auto& inputs = g.preset().inputs();
    if (inputs.size() != 1 || inputs[0].kind != kind)
        throw stageError(where, stage,
                         g.preset().file().string() + " must have one input of kind " +
                             std::string(kindName(kind)) + " (\"inputs\": {\"" + std::string(kindName(kind)) +
                             "\": {\"kind\": \"" + std::string(kindName(kind)) + "\"}})");
    return inputs[0];
}

std::mt19937_64 stageGenerator(unsigned seed, int epoch, int64_t step, uint32_t purpose) {
    std::seed_seq seq{seed, static_cast<uint32_t>(epoch), static_cast<uint32_t>(step), purpose, 0x57a9eu};
    return std::mt19937_64(seq);
}

at::Generator torchGenerator(unsigned seed, int epoch, int64_t step, uint32_t purpose) {
    auto rng = stageGenerator(seed, epoch, step, purpose);
    return at::detail::createCPUGenerator(rng());
}

Value gridValue(torch::Tensor t, Kind kind) {
    Value v;
    v.tensor = std::move(t);
    v.kind = kind;
    v.axes = {"batch", "channel", "row", "col"};
    return v;
}

std::pair<std::vector<int64_t>, std::vector<int64_t>> holdOut(int64_t n, double fraction, unsigned seed) {
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    auto rng = stageGenerator(seed, 0, 0, 7);
    std::shuffle(order.begin(), order.end(), rng);
    auto n_val = static_cast<int64_t>(std::llround(fraction * static_cast<double>(n)));
    if (fraction > 0.0 && n > 1)
        n_val = std::clamp<int64_t>(n_val, 1, n - 1);
    std::vector<int64_t> val(order.begin(), order.begin() + n_val), train(order.begin() + n_val, order.end());
    std::sort(val.begin(), val.end());
    std::sort(train.begin(), train.end());
    return {train, val};
}

torch::Tensor indexTensor(const std::vector<int64_t>& idx) { return torch::tensor(idx, torch::kLong); }

std::vector<std::vector<int64_t>> epochBatches(std::vector<int64_t> items, int batch, unsigned seed,
                                               int epoch) {
    auto rng = stageGenerator(seed, epoch, -1, 2);
    std::shuffle(items.begin(), items.end(), rng);
    std::vector<std::vector<int64_t>> out;
    for (size_t i = 0; i < items.size(); i += static_cast<size_t>(batch))
        out.emplace_back(items.begin() + static_cast<std::ptrdiff_t>(i),
                         items.begin() + static_cast<std::ptrdiff_t>(
                                             std::min(items.size(), i + static_cast<size_t>(batch))));
    return out;
}

void finishPlots(const StageRun& run, const std::string& title,
                 const std::vector<metrics::SeriesPanel>& panels) {
    if (!run.plots || !metrics::gnuplotAvailable())
        return;
    metrics::plotLogSeries(run.dir, "curves", title, run.dir / "log.jsonl", panels,
                           metrics::parsePlotFormat(run.plot_format));
}

StageResult finishStage(const StageRun& run, const nlohmann::json& settings, nlohmann::json summary,
                        const std::map<std::string, torch::nn::Module*>& networks, const Graph& g1,
                        const Graph& g2) {
    StageResult result;
    auto typeOf = [&](const std::string& id) {
        for (const Graph* g : {&g1, &g2})
            for (size_t v = 0; v < g->size(); ++v)
                if (!g->vertex(v).is_input && g->vertex(v).id == id)
                    return g->vertex(v).spec->type;
        return std::string();
    };
    for (const auto& [id, module] : networks) {
        summary["types"][id] = typeOf(id);
        const fs::path file = run.dir / ("weights-" + id + ".pt");
        nodes::saveWeights(*module, file);
        result.weights[id] = file;
        summary["weights"][id] = file.filename().string();
        result.types[id] = summary["types"][id].get<std::string>();
    }
    summary["settings"] = settings;
    summary["finished"] = true;
    result.summary = summary;
    writeFileAtomically(run.dir / "stage.json", summary.dump(2) + "\n");
    return result;
}

} // namespace avgraph::host::training
