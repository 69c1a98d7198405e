// A staged recipe's stages: the settings a stage's folder is tied to, and finished stages reused
// (host/training/staged_recipe.h). The stages themselves: vqvae_stage.cpp, transformation_stage.cpp.
#include "host/training/staged_recipe.h"

#include "graph/error.h"

#include <fstream>

namespace avgraph::host::training {

namespace fs = std::filesystem;

nlohmann::json stageSettings(const StageConfig& stage, unsigned seed, const AudioVisualData& data,
                             const Graph& main) {
    auto j = stage.toJson();
    j["seed"] = seed;
    j["av_data"] = data.av_data.empty() ? "" : fs::absolute(data.av_data).lexically_normal().string();
    j["av_format"] = data.av_format;
    j["images"] = data.images.empty() ? "" : fs::absolute(data.images).lexically_normal().string();
    const auto own = Preset::load(stage.preset).document();
    j["preset_nodes"] = {{"nodes", own.value("nodes", nlohmann::json())},
                         {"edges", own.value("edges", nlohmann::json())}};
    if (stage.kind == "transformation") {
        // The generator and everything it hears from: another mode or front end is another stage.
        const auto& nodes = main.preset().document().at("nodes");
        nlohmann::json upstream = nlohmann::json::object();
        std::vector<size_t> todo;
        for (size_t v = 0; v < main.size(); ++v)
            if (!main.vertex(v).is_input && main.vertex(v).spec->type == "models.transformation_network" &&
                (stage.generator.empty() || main.vertex(v).id == stage.generator))
                todo.push_back(v);
        while (!todo.empty()) {
            const size_t v = todo.back();
            todo.pop_back();
            const auto& id = main.vertex(v).id;
            if (!main.vertex(v).is_input && nodes.contains(id))
                upstream[id] = nodes.at(id);
            for (const auto& c : main.incoming(v))
                todo.push_back(c.from);
        }
        j["generator_nodes"] = upstream;
    }
    return j;
}

std::optional<StageResult> finishedStage(const fs::path& dir, const nlohmann::json& settings) {
    const fs::path file = dir / "stage.json";
    if (!fs::exists(file))
        return std::nullopt;
    nlohmann::json j;
    try {
        std::ifstream in(file);
        j = nlohmann::json::parse(in);
    } catch (const std::exception& e) {
        throw fileError(file, std::string("not a readable stage record: ") + e.what());
    }
    if (!j.value("finished", false))
        return std::nullopt;
    if (j.value("settings", nlohmann::json()) != settings)
        throw fileError(
            file,
            "this stage finished with other settings or data (" +
                j.value("settings", nlohmann::json()).dump() + " vs now " + settings.dump() +
                "); its weights belong to that recipe: train into another folder (--out or --stage-dir)");
    StageResult r;
    r.summary = j;
    const auto weights = j.value("weights", nlohmann::json::object()); // named: items() would dangle
    const auto types = j.value("types", nlohmann::json::object());
    for (const auto& [id, name] : weights.items())
        r.weights[id] = dir / name.get<std::string>();
    for (const auto& [id, type] : types.items())
        r.types[id] = type.get<std::string>();
    return r;
}

} // namespace avgraph::host::training
