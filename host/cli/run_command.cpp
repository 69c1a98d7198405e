// avgraph run: a preset over audio or image files, writing each output as .npy (and images as .png).
#include "host/cli/commands.h"
#include "io/message_text.h"

#include "graph/error.h"
#include "host/datasets/clip_inputs.h"
#include "host/profile_report.h"
#include "host/progress_bar.h"
#include "host/streamed_run.h"
#include "host/training/batcher.h"
#include "io/audio_input.h"
#include "io/input_files.h"
#include "io/output_folder.h"

#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <optional>

namespace avgraph::host {

namespace {

struct RunSettings {
    GraphOptions graph;
    std::vector<std::string> inputs;
    std::string output;
    std::string shard; ///< "i/n": only the i-th of n contiguous parts of the sorted input list
    int batch = 8;
    bool profile = false;
    bool serial = false;
    bool keep_going = false;
    int top = -1;                 ///< classes to print per clip; -1: 3 for a single input, none for several
    double segment = 0.0;         ///< seconds; > 0: a scene timeline of segments (--segment)
    double segment_hop = 0.0;     ///< seconds between segments; 0: the segment length
    int64_t block = 1 << 16;      ///< frames decoded and streamed at a time
    bool offline = false;         ///< whole files even when the preset streams
    bool plot = true;             ///< the timeline's plot
    bool segment_windows = false; ///< the whole network on every window, no shared trunk
};

/** "Rain 0.931  Sea waves 0.046  Fire crackling 0.011": the k most probable classes of one clip. */
std::string topClasses(const Value& value, const torch::Tensor& clip, int k) {
    auto p = clip.to(torch::kCPU, torch::kDouble).flatten();
    auto order = p.argsort(/*stable=*/true, /*dim=*/0, /*descending=*/true);
    std::string s;
    for (int64_t i = 0; i < std::min<int64_t>(k, p.numel()); ++i) {
        const int64_t c = order[i].item<int64_t>();
        char number[32];
        std::snprintf(number, sizeof number, "%.3f", p[c].item<double>());
        s += (i ? "  " : "") +
             (static_cast<size_t>(c) < value.class_names.size() ? value.class_names[c]
                                                                : "class " + std::to_string(c)) +
             " " + number;
    }
    return s;
}

/** An error while processing `input`, naming it unless it is located in that file already. */
Error ofInput(const Error& error, const InputFile& input) {
    const bool named = error.where().file == input.path.string();
    return Error(error.where(), error.message() + (named ? "" : " (input " + input.path.string() + ")"));
}

/** Inputs that fail: skipped with --keep-going (an error at the end), or the error at once. */
struct Failures {
    bool keep_going = false;
    size_t count = 0;
    void add(const Error& e, ProgressBar& progress) {
        if (!keep_going)
            throw e;
        progress.finish();
        std::cerr << "avgraph: skipped: " << e.what() << "\n";
        ++count;
    }
    void check(size_t inputs) const {
        if (count > 0)
            throw Error({}, std::to_string(count) + " of " + std::to_string(inputs) +
                                " input(s) could not be read or processed");
    }
};

std::string realTimeText(double audio_seconds, double seconds) {
    char text[64];
    std::snprintf(text, sizeof text, "%.1f s (%.0fx real time)", seconds,
                  audio_seconds / std::max(seconds, 1e-9));
    return text;
}

/**
 * The streamed path: each file in blocks through the whole graph, outputs appended as they grow. Taken
 * when every output streams at the first file's rate; false (nothing done) otherwise.
 */
bool runStreamed(const RunSettings& settings, LoadedGraph& loaded, const std::vector<InputFile>& files,
                 OutputFolder& out, bool single) {
    const PresetInput& input = loaded.graph->preset().inputs().at(0);
    ProgressBar progress(files.size(), !single && stderrIsTerminal());
    Failures failures{settings.keep_going};
    auto t0 = std::chrono::steady_clock::now();
    double audio_seconds = 0.0;
    size_t done = 0;
    for (size_t i = 0; i < files.size(); ++i) {
        const InputFile& f = files[i];
        try {
            AudioBlocks audio(f.path, input, settings.block);
            if (i == 0 && !streamingPath(*loaded.executor, audio.sampleRate(), audio.channels()).streams)
                return false; // the offline path, for every file
            auto written = streamFile(*loaded.executor, audio, out, f.output_subdir);
            audio_seconds += audio.seconds();
            ++done;
            if (single)
                for (const auto& w : written)
                    std::cout << "wrote " << w.path.string() << "  float32 " << shapeText(w.shape) << "  ("
                              << kindName(w.kind) << ", streamed)\n";
        } catch (const Error& e) {
            loaded.executor->resetStream();
            failures.add(ofInput(e, f), progress);
        }
        progress.update(i + 1, f.path.filename().string());
    }
    progress.finish();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!single)
        std::cout << "wrote " << loaded.graph->preset().outputs().size() << " output(s) for " << done
                  << " clip(s) to " << out.dir().string() << " in " << realTimeText(audio_seconds, seconds)
                  << ", streamed\n";
    failures.check(files.size());
    return true;
}

/** --segment: a scene timeline of every input. */
void runSegments(const RunSettings& settings, LoadedGraph& loaded, const std::vector<InputFile>& files,
                 OutputFolder& out, bool single) {
    SegmentSpec spec;
    spec.length = settings.segment;
    spec.hop = settings.segment_hop != 0.0 ? settings.segment_hop : settings.segment;
    spec.batch = settings.batch;
    spec.share_trunk = !settings.segment_windows;
    const PresetInput& input = loaded.graph->preset().inputs().at(0);
    ProgressBar progress(files.size(), !single && stderrIsTerminal());
    Failures failures{settings.keep_going};
    std::unique_ptr<SegmentedStream> segments;
    double rate = 0.0;
    int64_t channels = 0;
    auto t0 = std::chrono::steady_clock::now();
    double audio_seconds = 0.0;
    for (size_t i = 0; i < files.size(); ++i) {
        const InputFile& f = files[i];
        try {
            AudioBlocks audio(f.path, input, settings.block);
            // Each input at its own rate and channel count: the graph converts (a resample node, a mono mix).
            if (!segments || audio.sampleRate() != rate || audio.channels() != channels) {
                StreamSpec stream;
                stream.sample_rate = rate = audio.sampleRate();
                stream.channels = channels = audio.channels();
                stream.max_block = settings.block;
                segments.reset();
                segments = std::make_unique<SegmentedStream>(*loaded.executor, spec, stream);
            }
            auto timeline = segmentFile(*segments, audio, out, f.output_subdir, settings.plot);
            audio_seconds += audio.seconds();
            if (single) {
                std::cout << "wrote " << timeline.csv.string() << "  " << timeline.segments << " segments of "
                          << segments->lengthText() << " every " << spec.hop << " s\n";
                for (const auto& w : timeline.outputs)
                    std::cout << "wrote " << w.path.string() << "  float32 " << shapeText(w.shape) << "\n";
                if (!timeline.plot.empty())
                    std::cout << "wrote " << timeline.plot.string() << "\n";
            }
        } catch (const Error& e) {
            if (segments)
                loaded.executor->resetStream();
            // An error in the preset itself (no probabilities output, a segment it cannot analyse) is the
            // same for every input: stop.
            if (e.where().file == loaded.graph->preset().locate("").file)
                throw;
            failures.add(ofInput(e, f), progress);
        }
        progress.update(i + 1, f.path.filename().string());
    }
    progress.finish();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "timeline of " << audio_seconds << " s of audio in " << realTimeText(audio_seconds, seconds)
              << (segments ? "; " + segments->describe() : std::string()) << "\n";
    failures.check(files.size());
}

void runCommand(const RunSettings& settings, const GlobalOptions& global) {
    const std::optional<Shard> shard =
        settings.shard.empty() ? std::nullopt : std::optional<Shard>(parseShard(settings.shard));
    LoadedGraph loaded = loadGraph(settings.graph, global);
    const Preset& preset = loaded.graph->preset();
    const auto& inputs = preset.inputs();
    // An audio-visual preset (one audio and one image input) takes videos: their sound and the frame
    // at their middle (loadClipInputs).
    const bool audiovisual = inputs.size() == 2 && inputs[0].kind != inputs[1].kind &&
                             (inputs[0].kind == Kind::Audio || inputs[0].kind == Kind::Image) &&
                             (inputs[1].kind == Kind::Audio || inputs[1].kind == Kind::Image);
    if (inputs.size() != 1 && !audiovisual)
        throw Error(preset.locate("/inputs"),
                    "`avgraph run` feeds audio or image files to a preset with one input, or videos to one "
                    "with an audio and an image input; this preset has " +
                        std::to_string(inputs.size()) + " inputs");
    const bool images = !audiovisual && inputs[0].kind == Kind::Image;
    auto files = expandInputs(settings.inputs, audiovisual ? videoInputs()
                                               : images    ? imageInputs()
                                                           : audioInputs());
    const size_t all_inputs = files.size();
    if (shard) {
        // Split after expandInputs, which fixed the order and each input's output path from the whole list:
        // the shards write exactly the files an unsharded run writes, each once.
        const auto [begin, end] = shardRange(files.size(), *shard);
        files = std::vector<InputFile>(files.begin() + static_cast<std::ptrdiff_t>(begin),
                                       files.begin() + static_cast<std::ptrdiff_t>(end));
        if (files.empty()) {
            std::cout << "shard " << settings.shard << " is empty: " << all_inputs
                      << " input(s) make fewer shards; nothing to do\n";
            return;
        }
        std::cout << "shard " << settings.shard << ": inputs " << begin + 1 << " to " << end << " of "
                  << all_inputs << "\n";
    }
    OutputFolder out(settings.output);
    bool single = all_inputs == 1;
    if (settings.segment_hop > 0.0 && settings.segment <= 0.0)
        throw CLI::ValidationError("--segment-hop", "goes with --segment");
    if (settings.segment > 0.0) {
        if (audiovisual || images)
            throw Error(preset.locate("/inputs"), "--segment cuts audio inputs; this preset takes " +
                                                      std::string(images ? "images" : "videos"));
        runSegments(settings, loaded, files, out, single);
        return;
    }
    // --profile times the nodes of offline runs.
    if (!audiovisual && !images && !settings.offline && !settings.profile &&
        runStreamed(settings, loaded, files, out, single))
        return;
    const int top = settings.top >= 0 ? settings.top : (single ? 3 : 0);
    ProgressBar progress(files.size(), !single && stderrIsTerminal());
    ProfileReport profile;
    RunOptions options;
    options.concurrent = !settings.serial;

    auto t0 = std::chrono::steady_clock::now();
    double audio_seconds = 0.0;
    size_t done = 0;
    Failures failures{settings.keep_going};
    using ClipInputs = std::map<std::string, Value>;

    // Writes the outputs of one batch. A failure names its input: in a batch of several clips each is run
    // alone to find which one failed, and with --keep-going the others are still written.
    std::function<void(const std::vector<ClipInputs>&, const std::vector<const InputFile*>&)> runBatch =
        [&](const std::vector<ClipInputs>& clips, const std::vector<const InputFile*>& names) {
            std::map<std::string, Value> results;
            try {
                results = loaded.executor->run(stackClipInputs(clips), options);
            } catch (const Error& e) {
                if (clips.size() > 1) {
                    for (size_t b = 0; b < clips.size(); ++b)
                        runBatch({clips[b]}, {names[b]});
                    return;
                }
                failures.add(ofInput(e, *names.front()), progress);
                return;
            }
            if (settings.profile)
                profile.add(loaded.executor->timings());
            done += clips.size();
            for (size_t b = 0; b < clips.size(); ++b) {
                for (const auto& [name, value] : results) {
                    torch::Tensor clip = clipOf(value, static_cast<int64_t>(b));
                    auto path = out.writeNpy(names[b]->output_subdir / (name + ".npy"), clip);
                    if (single)
                        std::cout << "wrote " << path.string() << "  float32 " << shapeText(clip) << "  ("
                                  << kindName(value.kind) << ")\n";
                    // An RGB image is also written as a picture; the .npy keeps the unclamped values.
                    if (value.kind == Kind::Image && clip.dim() == 3 && clip.size(0) == 3) {
                        auto png = out.writePng(names[b]->output_subdir / (name + ".png"), clip);
                        if (single)
                            std::cout << "wrote " << png.string() << "  " << clip.size(2) << "x"
                                      << clip.size(1) << " RGB\n";
                    }
                    if (top > 0 && value.kind == Kind::Probabilities && clip.dim() == 1) {
                        progress.finish();
                        std::cout << (single ? "" : names[b]->path.string() + ": ") << name << ": "
                                  << topClasses(value, clip, top) << "\n";
                    }
                }
            }
        };

    using Loaded = std::pair<const InputFile*, ClipInputs>;
    training::ShapeBatcher<Loaded> batcher(
        static_cast<size_t>(settings.batch), [&](const std::vector<Loaded>& batch) {
            std::vector<ClipInputs> clips;
            std::vector<const InputFile*> names;
            for (const auto& [file, values] : batch) {
                names.push_back(file);
                clips.push_back(values);
            }
            runBatch(clips, names);
            progress.update(done + failures.count, names.back()->path.filename().string());
        });

    for (const auto& f : files) {
        ClipInputs clip;
        try {
            if (audiovisual) {
                Clip whole;
                whole.path = whole.video = f.path;
                clip = loadClipInputs(whole, inputs);
            } else {
                clip[inputs[0].name] =
                    images ? loadImageFor(f.path, inputs[0]) : loadAudioFor(f.path, inputs[0]);
            }
        } catch (const Error& e) {
            failures.add(e, progress); // the loaders name the file
            continue;
        }
        for (const auto& [name, v] : clip)
            if (v.kind == Kind::Audio)
                audio_seconds += static_cast<double>(v.tensor.size(-1)) / v.sample_rate;
        auto shape = training::shapeKey(clip);
        batcher.add({&f, std::move(clip)}, std::move(shape));
    }
    batcher.flush();
    progress.finish();
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!single && images)
        std::cout << "wrote " << preset.outputs().size() << " output(s) for " << done << " image(s) to "
                  << out.dir().string() << " in " << seconds << " s\n";
    else if (!single)
        std::cout << "wrote " << preset.outputs().size() << " output(s) for " << done << " clip(s) to "
                  << out.dir().string() << " in " << seconds << " s (" << audio_seconds / seconds
                  << "x real time)\n";
    if (settings.profile)
        std::cout << profile.table();
    failures.check(files.size());
}

} // namespace

void addRunCommand(CLI::App& app, const GlobalOptions& global) {
    auto settings = std::make_shared<RunSettings>();
    CLI::App* cmd = app.add_subcommand(
        "run",
        "Run a preset over audio (or image) files and write its outputs as .npy (images also as .png)");
    addGraphOptions(*cmd, settings->graph, true);
    cmd->add_option("--top", settings->top,
                    "Print the K most probable classes of each clip's probability outputs (default: 3 for "
                    "one input, none for several)")
        ->check(CLI::Range(0, 1000));
    cmd->add_option("-i,--input", settings->inputs,
                    "Audio file (or image, for a preset with an image input; or video, for one with an audio "
                    "and an image input), folder (searched recursively) "
                    "or list file (.txt/.lst); repeatable")
        ->required();
    cmd->add_option(
           "-o,--output", settings->output,
           "Output folder: OUTPUT/<output>.npy for one input, OUTPUT/<input path>/<output>.npy for many")
        ->required();
    cmd->add_option("--shard", settings->shard,
                    "Only part I of N of the sorted inputs (1-based, e.g. 2/4): N runs with 1/N to N/N, at "
                    "once or on other machines, write the same files as one run, each once")
        ->type_name("I/N");
    cmd->add_option("--batch", settings->batch, "Clips of equal length per batch")
        ->default_val(8)
        ->check(CLI::Range(1, 4096));
    cmd->add_flag("--profile", settings->profile, "Print the time spent in each node (of an offline run)");
    cmd->add_flag("--serial", settings->serial,
                  "Run one node at a time instead of independent branches at once");
    cmd->add_option("--segment", settings->segment,
                    "Classify every window of SECONDS of each input: DIR/timeline.csv (one row per segment), "
                    "the outputs with a leading segment axis, and DIR/timeline.png")
        ->type_name("SECONDS")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--segment-hop", settings->segment_hop,
                    "Seconds between segment starts (default: the segment length, no overlap)")
        ->type_name("SECONDS")
        ->check(CLI::PositiveNumber);
    cmd->add_flag("!--no-plot", settings->plot, "With --segment: no timeline.png");
    cmd->add_flag("--segment-windows", settings->segment_windows,
                  "With --segment: run the whole network on every segment's window instead of computing a "
                  "CNN's convolutions once over the recording and pooling them per segment (slower, closer "
                  "to runs on the segments cut out)");
    cmd->add_option("--block", settings->block,
                    "Frames decoded and pushed through a streaming graph at a time")
        ->default_val(1 << 16)
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
    cmd->add_flag("--offline", settings->offline,
                  "Decode each input whole and run the graph offline, even when the preset streams");
    cmd->add_flag("--keep-going", settings->keep_going,
                  "Skip unreadable inputs (reported, exit status 1 at the end) instead of stopping");
    cmd->callback([settings, &global] { runCommand(*settings, global); });
}

} // namespace avgraph::host
