// avgraph inside your own program: load a preset, run it on an audio file, print what it computed.
//
//   avgraph_embed PRESET AUDIO_FILE
//
// Builds against the installed package (find_package(avgraph), docs/install.md).
#include "graph/error.h"
#include "graph/executor.h"
#include "graph/graph.h"
#include "graph/plan.h"
#include "graph/preset.h"
#include "io/audio_input.h"
#include "io/runtime.h"

#include <iostream>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: avgraph_embed PRESET AUDIO_FILE\n";
        return 2;
    }
    try {
        using namespace avgraph;
        host::configureThreads(0);                          // LibTorch's threads: one per core
        auto registry = host::makeRegistry({});             // the built-in node types
        const Preset preset = Preset::load(argv[1]);        // extends, checks, relative paths
        Graph graph = Graph::build(preset, *registry);      // types, parameters, ports, kinds
        Executor executor(graph, Plan::make(graph, "cpu")); // the order and devices of the steps

        std::map<std::string, Value> inputs; // the file, decoded and resampled
        inputs[preset.inputs().at(0).name] = host::loadAudioFor(argv[2], preset.inputs().at(0));
        for (const auto& [name, value] : executor.run(inputs)) {
            std::cout << name << " [" << kindName(value.kind) << "] " << value.tensor.sizes();
            if (!value.class_names.empty()) { // probabilities: the top class
                const auto p = value.tensor.reshape({-1});
                const int64_t top = p.argmax().item<int64_t>();
                std::cout << "  " << value.class_names[static_cast<size_t>(top)] << " "
                          << p[top].item<float>();
            }
            std::cout << "\n";
        }
    } catch (const avgraph::Error& e) {
        std::cerr << "avgraph_embed: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
