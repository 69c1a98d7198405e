#include "io/trained_weights.h"
#include "io/message_text.h"

#include "graph/error.h"

#include <nlohmann/json.hpp>

#include <fstream>

namespace avgraph::host {

std::vector<std::string> trainableNodes(const Graph& graph) {
    std::vector<std::string> ids;
    for (size_t v = 0; v < graph.size(); ++v)
        if (!graph.vertex(v).is_input && graph.vertex(v).spec && graph.vertex(v).spec->trainable)
            ids.push_back(graph.vertex(v).id);
    return ids;
}

std::vector<std::string> weightsOverrides(const std::filesystem::path& weights, const Graph& graph) {
    std::vector<std::string> overrides;
    if (std::filesystem::is_directory(weights)) {
        const auto manifest = weights / "weights.json";
        std::ifstream in(manifest);
        if (!in)
            throw fileError(manifest,
                            "the weights folder has no weights.json; give a weights file, or the run folder "
                            "`avgraph train --out` wrote");
        auto j = nlohmann::json::parse(in, nullptr, false);
        if (j.is_discarded() || !j.is_object() || j.empty())
            throw fileError(
                manifest, "expected a JSON object of node ids and weights files, as `avgraph train` writes");
        for (const auto& [id, file] : j.items()) {
            if (!file.is_string())
                throw Error({manifest.string(), "/" + id, "", 0, 0},
                            "expected a weights file name (a string)");
            std::filesystem::path f = file.get<std::string>();
            if (f.is_relative())
                f = weights / f;
            overrides.push_back(id +
                                ".weights=" + nlohmann::json(std::filesystem::absolute(f).string()).dump());
        }
        return overrides;
    }
    if (!std::filesystem::is_regular_file(weights))
        throw fileError(
            weights, "no such weights file or run folder (expected a LibTorch weights archive, or the folder "
                     "`avgraph train --out` wrote)");
    const auto ids = trainableNodes(graph);
    const Location where = graph.preset().locate("/nodes");
    if (ids.empty())
        throw Error(where, "weights need a trainable node (e.g. models.cnn9); this preset has none");
    if (ids.size() > 1)
        throw Error(where,
                    "which node the weights are for is ambiguous: the preset has several trainable nodes (" +
                        joinNames(ids) +
                        "); give each node its weights (its \"weights\" parameter), or the "
                        "run folder with its weights.json");
    overrides.push_back(ids.front() +
                        ".weights=" + nlohmann::json(std::filesystem::absolute(weights).string()).dump());
    return overrides;
}

} // namespace avgraph::host
