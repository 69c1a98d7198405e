#pragma once
/**
 * Preset: a graph written as JSON.
 *
 *     {
 *       "avgraph": 1,
 *       "name": "logmel",
 *       "extends": "base.json",                      // optional, applied as an RFC 7386 merge patch
 *       "inputs": { "audio": { "kind": "audio", "sample_rate": 16000 } },   // default: one "audio"
 *       "nodes": { "logmel": { "type": "features.logmel", "params": { "n_mels": 64 } } },
 *       "edges": [ ["audio", "logmel"] ],            // "node" or "node.port" at each end
 *       "outputs": { "logmel": "logmel" }            // output name -> "node" or "node.port"
 *     }
 *
 * Loading resolves `extends` (relative to the preset's folder, recursively) and `--set` overrides,
 * and checks the document's structure. It remembers which file set each value, so that errors
 * name the file a user has to edit and relative paths resolve against the file that wrote them.
 * Whether the node types, parameters and edges make sense is checked by Graph::build.
 */
#include "graph/error.h"
#include "graph/value.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace avgraph {

/** One end of an edge: a node (or graph input) and, optionally, its port. */
struct Endpoint {
    std::string node;
    std::string port; ///< empty: the node's only output, or the next free input
    std::string text() const { return port.empty() ? node : node + "." + port; }
};

struct PresetInput {
    std::string name;
    Kind kind = Kind::Audio;
    std::optional<double> sample_rate; ///< audio is resampled to it when set
};

struct PresetNode {
    std::string id;
    std::string type;
    nlohmann::json params; ///< as written (validated later against the node's spec)
    std::string device;    ///< "", "cpu", "cuda", "cuda:N" or "auto"
};

struct PresetEdge {
    Endpoint from, to;
    std::string pointer; ///< "/edges/3"
};

struct PresetOutput {
    std::string name;
    Endpoint from;
};

class Preset {
public:
    /**
     * Loads a preset file, applying `extends` and then each "node.param=value" override (the value
     * is read as JSON when it parses, e.g. 128, null or true, and as a string otherwise). Errors in an
     * override are located at `override_origin` followed by the override ("--set feat.n_mels=x" when
     * the command line passes "--set"); relative paths in overrides resolve against the working folder.
     */
    static Preset load(const std::filesystem::path& file, const std::vector<std::string>& overrides = {},
                       const std::string& override_origin = "override");
    /** Parses a preset from text; `file` names it in errors and anchors relative paths. */
    static Preset parse(const std::string& text, const std::filesystem::path& file,
                        const std::vector<std::string>& overrides = {},
                        const std::string& override_origin = "override");

    const std::filesystem::path& file() const { return file_; }
    const std::string& name() const { return name_; }
    /** The document after extends and overrides. */
    const nlohmann::json& document() const { return document_; }

    const std::vector<PresetInput>& inputs() const { return inputs_; }
    const std::vector<PresetNode>& nodes() const { return nodes_; }
    const std::vector<PresetEdge>& edges() const { return edges_; }
    const std::vector<PresetOutput>& outputs() const { return outputs_; }
    /** Node libraries the preset needs, as absolute paths. */
    const std::vector<std::filesystem::path>& nodeLibraries() const { return node_libraries_; }

    /** Where a JSON pointer of the merged document was written: the file (or override) that set it. */
    Location locate(const std::string& pointer, const std::string& node = "") const;
    /** Folder of the file that set a pointer: relative paths written there resolve against it. */
    std::filesystem::path folderOf(const std::string& pointer) const;

private:
    void interpret();
    std::filesystem::path file_;
    std::string name_;
    nlohmann::json document_;
    std::map<std::string, std::string> origin_; ///< JSON pointer -> file (or "<override_origin> ...")
    std::set<std::string> overridden_;          ///< pointers an override set
    std::vector<PresetInput> inputs_;
    std::vector<PresetNode> nodes_;
    std::vector<PresetEdge> edges_;
    std::vector<PresetOutput> outputs_;
    std::vector<std::filesystem::path> node_libraries_;
};

/** "a/b" -> "a~1b": a key as one JSON-pointer token (RFC 6901). */
std::string pointerToken(const std::string& key);

/** Reads a JSON file; malformed JSON and duplicate keys give an Error with file, line and column. */
nlohmann::json readJsonFile(const std::filesystem::path& file);
nlohmann::json parseJson(const std::string& text, const std::string& file_for_errors);

} // namespace avgraph
