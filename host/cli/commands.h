#pragma once
/**
 * The `avgraph` subcommands. Each adds itself to the CLI11 app; its callback runs the command and
 * throws avgraph::Error for anything the user should fix (main prints it and exits 1).
 */
#include "graph/executor.h"
#include "graph/graph.h"
#include "graph/registry.h"

#include <CLI/CLI.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace avgraph::host {

/** Options every command shares. */
struct GlobalOptions {
    std::vector<std::filesystem::path> node_libraries; ///< --nodes
};

/** A preset and how to load it: the positional PRESET, --set, --device, --threads, --precision. */
struct GraphOptions {
    std::string preset;
    std::vector<std::string> overrides;
    std::string device;
    int threads = 0;
    std::string precision; ///< --precision (graph/precision.h); empty: not given (fp32 for inference)
};

/** A preset loaded, validated and planned. */
struct LoadedGraph {
    std::unique_ptr<Registry> registry;
    std::unique_ptr<Graph> graph;
    std::unique_ptr<Executor> executor;
};

void addGraphOptions(CLI::App& command, GraphOptions& options, bool with_runtime);
LoadedGraph loadGraph(const GraphOptions& options, const GlobalOptions& global);
/** The built-in nodes and the --nodes libraries, with the hint that names `avgraph nodes` for an unknown
 * type. */
std::unique_ptr<Registry> cliRegistry(const GlobalOptions& global);

void addRunCommand(CLI::App& app, const GlobalOptions& global);
void addValidateCommand(CLI::App& app, const GlobalOptions& global);
void addNodesCommand(CLI::App& app, const GlobalOptions& global);
void addDotCommand(CLI::App& app, const GlobalOptions& global);
void addBenchCommand(CLI::App& app, const GlobalOptions& global);
void addReportCommand(CLI::App& app, const GlobalOptions& global);
void addDataCommand(CLI::App& app, const GlobalOptions& global);
void addEvalCommand(CLI::App& app, const GlobalOptions& global);
void addTrainCommand(CLI::App& app, const GlobalOptions& global);
void addAblateCommand(CLI::App& app, const GlobalOptions& global);

} // namespace avgraph::host
