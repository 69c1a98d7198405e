// avgraph bench: how fast a preset runs on one input, start-up excluded.
#include "host/cli/commands.h"

#include "graph/error.h"
#include "host/profile_report.h"
#include "io/audio_input.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>

namespace avgraph::host {

namespace {

struct BenchSettings {
    GraphOptions graph;
    std::string input;
    int repeat = 5;
    bool json = false;
    bool serial = false;
};

void benchCommand(const BenchSettings& settings, const GlobalOptions& global) {
    LoadedGraph loaded = loadGraph(settings.graph, global);
    const Preset& preset = loaded.graph->preset();
    if (preset.inputs().size() != 1)
        throw Error(preset.locate("/inputs"), "`avgraph bench` needs a preset with one audio input");
    // Decoding and the first run (lazy allocations, filterbank caches) are start-up, not measured.
    Value clip = loadAudioFor(settings.input, preset.inputs()[0]);
    double audio_seconds = static_cast<double>(clip.tensor.size(-1)) / clip.sample_rate;
    std::map<std::string, Value> inputs{{preset.inputs()[0].name, clip}};
    RunOptions options;
    options.concurrent = !settings.serial;
    loaded.executor->run(inputs, options);

    ProfileReport profile;
    std::vector<double> totals;
    for (int r = 0; r < settings.repeat; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        loaded.executor->run(inputs, options);
        totals.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        profile.add(loaded.executor->timings());
    }
    double med = median(totals);
    double best = *std::min_element(totals.begin(), totals.end());
    if (settings.json) {
        nlohmann::json out{{"preset", settings.graph.preset},
                           {"input", settings.input},
                           {"audio_seconds", audio_seconds},
                           {"threads", at::get_num_threads()},
                           {"repeat", settings.repeat},
                           {"median_seconds", med},
                           {"best_seconds", best},
                           {"x_real_time", audio_seconds / med},
                           {"nodes", profile.medians()}};
        std::cout << out.dump(2) << "\n";
        return;
    }
    std::printf("%s on %s (%.1f s of audio), %d thread(s), %d runs\n", settings.graph.preset.c_str(),
                settings.input.c_str(), audio_seconds, at::get_num_threads(), settings.repeat);
    std::printf("median %.3f ms, best %.3f ms: %.0fx real time (best %.0fx)\n", 1e3 * med, 1e3 * best,
                audio_seconds / med, audio_seconds / best);
    std::cout << profile.table();
}

} // namespace

void addBenchCommand(CLI::App& app, const GlobalOptions& global) {
    auto settings = std::make_shared<BenchSettings>();
    CLI::App* cmd = app.add_subcommand("bench", "Time a preset on one input: x real time and per-node time, "
                                                "excluding start-up");
    addGraphOptions(*cmd, settings->graph, true);
    cmd->add_option("-i,--input", settings->input, "Audio file")->required();
    cmd->add_option("--repeat", settings->repeat, "Timed runs after one warm-up run")
        ->default_val(5)
        ->check(CLI::Range(1, 100000));
    cmd->add_flag("--json", settings->json, "Print the result as JSON");
    cmd->add_flag("--serial", settings->serial, "Run one node at a time");
    cmd->callback([settings, &global] { benchCommand(*settings, global); });
}

} // namespace avgraph::host
