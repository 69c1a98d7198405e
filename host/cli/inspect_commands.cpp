// avgraph validate, nodes and dot: looking at presets and node types without running them.
#include "host/cli/commands.h"

#include "graph/error.h"
#include "host/node_reference.h"
#include "host/streamed_run.h"
#include "host/training/train_config.h"
#include "io/atomic_file.h"
#include "io/runtime.h"

#include <iostream>

namespace avgraph::host {

namespace {

void writeText(const std::string& text, const std::string& file) {
    if (file.empty()) {
        std::cout << text;
        return;
    }
    writeFileAtomically(file, text);
}

} // namespace

namespace {

/** How `avgraph run` takes the preset's audio: streamed in blocks or whole, and with --segment. */
void describeRunPath(Executor& executor) {
    const Preset& preset = executor.graph().preset();
    if (preset.inputs().size() != 1 || preset.inputs()[0].kind != Kind::Audio)
        return;
    // For a 48 kHz stereo recording, or the rate the input converts to.
    const double rate = preset.inputs()[0].sample_rate.value_or(48000.0);
    const int64_t channels = 2;
    const RunPath path = streamingPath(executor, rate, channels);
    std::cout << "avgraph run (" << rate << " Hz, " << channels << " channels): ";
    if (path.streams) {
        std::cout
            << "streams each file in blocks through the whole graph; memory does not grow with the input\n";
        return;
    }
    std::cout << "decodes each file whole and runs offline; these nodes do not stream:\n" << path.why;
    try {
        SegmentSpec spec;
        spec.length = 5.0;
        spec.hop = 1.0;
        StreamSpec stream;
        stream.sample_rate = rate;
        stream.channels = channels;
        SegmentedStream segments(executor, spec, stream);
        std::cout << "avgraph run --segment 5 --segment-hop 1: " << segments.describe() << "\n";
    } catch (const Error& e) {
        std::cout << "avgraph run --segment: " << e.message() << "\n";
    }
    executor.resetStream();
}

} // namespace

void addValidateCommand(CLI::App& app, const GlobalOptions& global) {
    auto options = std::make_shared<GraphOptions>();
    auto show_plan = std::make_shared<bool>(false);
    CLI::App* cmd =
        app.add_subcommand("validate", "Check a preset without running it: types, parameters, edges, "
                                       "cycles, files");
    addGraphOptions(*cmd, *options, false);
    cmd->add_flag("--plan", *show_plan, "Also print the execution plan");
    cmd->callback([options, show_plan, &global] {
        LoadedGraph g = loadGraph(*options, global);
        const Graph& graph = *g.graph;
        // The train section as `avgraph train` reads it, so that a broken recipe fails here, not after
        // the features of a dataset have been computed.
        training::parseStages(graph.preset());
        training::parseClassifierStages(graph.preset());
        size_t nodes = 0;
        for (size_t v = 0; v < graph.size(); ++v)
            nodes += graph.vertex(v).is_input ? 0 : 1;
        std::cout << options->preset << ": ok (" << nodes << " nodes; outputs:";
        for (const auto& o : graph.outputs())
            std::cout << " " << o.name << " [" << kindName(graph.vertex(o.vertex).output_kinds.at(o.port))
                      << "]";
        std::cout << ")\n";
        auto needed = graph.neededForOutputs();
        for (size_t v = 0; v < graph.size(); ++v)
            if (!needed[v])
                std::cout << "note: '" << graph.vertex(v).id << "' feeds no output and will not run\n";
        if (*show_plan) {
            std::cout << "plan:\n" << g.executor->plan().describe(graph);
            describeRunPath(*g.executor);
        }
    });
}

void addNodesCommand(CLI::App& app, const GlobalOptions& global) {
    auto type = std::make_shared<std::string>();
    auto markdown = std::make_shared<bool>(false);
    auto output = std::make_shared<std::string>();
    CLI::App* cmd =
        app.add_subcommand("nodes", "List the node types, or show one (avgraph nodes features.logmel)");
    cmd->add_option("type", *type, "A node type to describe in full");
    cmd->add_flag("--markdown", *markdown, "The full node reference as Markdown (docs/nodes.md)");
    cmd->add_option("-o,--output", *output, "Write to a file instead of standard output");
    cmd->callback([type, markdown, output, &global] {
        auto registry = cliRegistry(global);
        if (!type->empty()) {
            const NodeSpec* spec = registry->find(*type);
            if (!spec) {
                std::string hint;
                for (const auto& s : registry->suggest(*type))
                    hint += (hint.empty() ? " (did you mean " : ", ") + s;
                throw Error({}, "unknown node type '" + *type + "'" + (hint.empty() ? "" : hint + "?)"));
            }
            writeText(nodeDetails(*spec), *output);
        } else {
            writeText(*markdown ? nodeReferenceMarkdown(*registry) : nodeListing(*registry), *output);
        }
    });
}

void addDotCommand(CLI::App& app, const GlobalOptions& global) {
    auto options = std::make_shared<GraphOptions>();
    auto output = std::make_shared<std::string>();
    CLI::App* cmd =
        app.add_subcommand("dot", "Print a preset's graph in Graphviz dot (avgraph dot P | dot -Tsvg)");
    addGraphOptions(*cmd, *options, false);
    cmd->add_option("-o,--output", *output, "Write to a file instead of standard output");
    cmd->callback([options, output, &global] {
        LoadedGraph g = loadGraph(*options, global);
        writeText(g.graph->toDot(), *output);
    });
}

} // namespace avgraph::host
