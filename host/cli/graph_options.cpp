#include "host/cli/commands.h"

#include "io/runtime.h"

#include <iostream>

namespace avgraph::host {

void addGraphOptions(CLI::App& command, GraphOptions& options, bool with_runtime) {
    command.add_option("preset", options.preset, "Preset file (JSON)")->required();
    command.add_option("--set", options.overrides,
                       "Override a parameter: node.param=value (value as JSON, or a bare word); repeatable");
    if (with_runtime) {
        command
            .add_option("--device", options.device,
                        "Default device for nodes whose preset names none: cpu, cuda, cuda:N or auto")
            ->default_str("auto");
        command.add_option("--threads", options.threads, "Intra-op threads (0: one per core)")
            ->default_val(0)
            ->check(CLI::Range(0, 1024));
        command
            .add_option("--precision", options.precision,
                        "What the networks compute in: fp32, bf16 (CPU or CUDA), fp16 (CUDA) or auto (bf16 "
                        "where the CPU or GPU has it natively, fp16 on older GPUs, else fp32); "
                        "docs/training.md, Mixed precision")
            ->check(CLI::IsMember({"fp32", "bf16", "fp16", "auto"}))
            ->type_name("WORD");
    }
}

std::unique_ptr<Registry> cliRegistry(const GlobalOptions& global) {
    auto registry = makeRegistry(global.node_libraries);
    registry->setUnknownTypeHint("`avgraph nodes` lists the known types");
    return registry;
}

LoadedGraph loadGraph(const GraphOptions& options, const GlobalOptions& global) {
    configureThreads(options.threads);
    LoadedGraph loaded;
    loaded.registry = cliRegistry(global);
    Preset preset = Preset::load(options.preset, options.overrides, "--set");
    loaded.graph = std::make_unique<Graph>(Graph::build(preset, *loaded.registry));
    loaded.executor = std::make_unique<Executor>(
        *loaded.graph, Plan::make(*loaded.graph, options.device, Location{"--device", "", "", 0, 0}));
    if (!options.precision.empty()) {
        const auto choice =
            loaded.executor->setPrecision(options.precision, Location{"--precision", "", "", 0, 0});
        if (!choice.warning.empty())
            std::cerr << "avgraph: warning: " << choice.warning << "\n";
    }
    return loaded;
}

} // namespace avgraph::host
