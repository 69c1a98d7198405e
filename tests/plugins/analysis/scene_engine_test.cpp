// SceneEngine: the plugin's stream answers each window as the engine's offline run of the same preset
// on that window cut out does (graph/segments.h says where they may differ), once per hop after the
// first window; names the right class of a real clip; runs in bf16 within its rounding of fp32; and refuses
// presets and precisions the plugin cannot run.
#include "plugins/analysis/scene_engine.h"

#include "graph/error.h"
#include "graph/executor.h"
#include "graph/precision.h"
#include "graph/segments.h"
#include "io/audio_file.h"
#include "io/audio_input.h"
#include "io/runtime.h"
#include "tests/test_support.h"

#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <chrono>
#include <fstream>

namespace fs = std::filesystem;
using avgraph::plugin::EngineChoice;
using avgraph::plugin::SceneEngine;
using avgraph::plugin::SceneResult;

namespace {

std::string shippedPreset() {
    return (avgraph::test::sourceDir() / "presets/scene/esc10-logmel-cnn.json").string();
}

/** The message of what `f` throws, or "" when it does not throw. */
template <typename F> std::string thrown(F&& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return {};
}

/** A result and how many samples the stream had when it came. */
struct Arrival {
    SceneResult result;
    int64_t pushed = 0;
};

/** Pushes `audio` [channels, samples] in blocks of `block` samples, as the plugin's worker does. */
std::vector<Arrival> stream(SceneEngine& engine, const torch::Tensor& audio, int64_t block) {
    std::vector<Arrival> arrivals;
    auto samples = audio.contiguous();
    const int64_t n = samples.size(1);
    for (int64_t at = 0; at < n; at += block) {
        std::vector<const float*> channels;
        for (int64_t c = 0; c < samples.size(0); ++c)
            channels.push_back(samples[c].data_ptr<float>() + at);
        const int64_t len = std::min(block, n - at);
        if (auto r = engine.push(channels.data(), static_cast<int>(channels.size()), len))
            arrivals.push_back({*r, at + len});
    }
    return arrivals;
}

/** The rain clip of examples/audio (ESC-10 fold 5, never seen in training) twice, as the check host plays it:
 *  [1, 2 * 220544] at 44.1 kHz. */
torch::Tensor rainTwice() {
    const auto clip =
        avgraph::host::readAudio(avgraph::test::sourceDir() / "examples/audio/rain-5-188655-A.ogg");
    REQUIRE(clip.sample_rate == 44100.0);
    return torch::cat({clip.samples, clip.samples}, -1);
}

/** The preset run offline, the way `avgraph run` does it, on one window. */
struct Offline {
    explicit Offline(const std::string& preset)
        : registry(avgraph::host::makeRegistry({})),
          graph(avgraph::Graph::build(avgraph::Preset::load(preset), *registry)),
          executor(graph, avgraph::Plan::make(graph, "cpu")) {}
    torch::Tensor probabilities(const torch::Tensor& window, double rate) {
        torch::NoGradGuard no_grad;
        return executor.run({{"audio", avgraph::host::audioValue(window, rate)}})
            .at("probabilities")
            .tensor.flatten();
    }
    std::unique_ptr<avgraph::Registry> registry;
    avgraph::Graph graph;
    avgraph::Executor executor;
};

} // namespace

TEST_CASE("SceneEngine: each window of a real clip's stream gives the offline run's class, once per hop",
          "[plugin]") {
    auto engine = SceneEngine::load({shippedPreset(), ""});
    CHECK(engine->name() == "esc10-logmel-cnn");
    CHECK(engine->producesProbabilities());
    CHECK_FALSE(engine->producesImage());
    REQUIRE(engine->classNames().size() == 10);
    CHECK(engine->classNames()[1] == "Rain"); // learnt from the warm-up, before any audio came
    // The last frames of a window look ahead: the centred STFT's 512 samples at 16 kHz and CNN9's trunk
    // margin of 48 log-mel frames (0.77 s).
    const double lookahead = engine->lookaheadSeconds();
    CHECK(lookahead > 0.75);
    CHECK(lookahead < 1.0);

    const torch::Tensor audio = rainTwice();
    const double rate = 44100.0;
    const int64_t block = 4410; // 0.1 s, in blocks as a host would send them
    engine->startStream(rate, 1, 5.0, 1.0);
    REQUIRE(engine->streaming());
    const auto arrivals = stream(*engine, audio, block);
    // Segments k = 0..4 start about k s in (at the CNN9 trunk frame nearest, 128 ms apart) and end 5 s
    // later; each comes once the stream reaches its end plus the look-ahead.
    REQUIRE(arrivals.size() == 5);

    // What a segment is (graph/segments.h): CNN9's head on the trunk frames of its stretch, the trunk run
    // over the whole stream's log-mel at once. (The rain's log-mel spans less than top_db = 80 dB, so the
    // stream's deferred decibels equal the offline log-mel's.)
    Offline offline(shippedPreset());
    torch::NoGradGuard no_grad;
    const auto logmel =
        offline.executor.runPart({{"audio", avgraph::host::audioValue(audio, rate)}}, {}, {"logmel"})
            .at("logmel")
            .at("logmel");
    auto* cnn9 =
        dynamic_cast<avgraph::SegmentTrunk*>(offline.graph.vertex(offline.graph.find("cnn9")).node.get());
    REQUIRE(cnn9);
    const torch::Tensor trunk = cnn9->trunk(logmel); // [1, 256, trunk frames of 8 log-mel frames]
    for (size_t k = 0; k < arrivals.size(); ++k) {
        const SceneResult& r = arrivals[k].result;
        INFO("segment " << k << " at " << r.start << " s, came after " << arrivals[k].pushed / rate << " s");
        CHECK(r.segment == static_cast<int64_t>(k));
        CHECK(r.segments == 1); // a block of 0.1 s completes at most one segment of a 1-s hop
        CHECK(std::abs(r.start - static_cast<double>(k)) <= 0.064 + 1e-9);
        CHECK(r.end == Approx(r.start + 5.0));
        // The engine feeds the graph 70 ms after the nominal end (k + 5 s) plus the look-ahead: the end,
        // rounded to a trunk frame, may be 64 ms later.
        CHECK(static_cast<double>(arrivals[k].pushed) / rate >= r.end + lookahead - 0.01);
        CHECK(static_cast<double>(arrivals[k].pushed) / rate <=
              static_cast<double>(k) + 5.0 + lookahead + 0.07 + 0.1);
        REQUIRE(r.probabilities.size() == 10);
        CHECK(r.class_names[static_cast<size_t>(r.top)] == "Rain");
        CHECK(r.confidence == Approx(r.probabilities[static_cast<size_t>(r.top)]));
        double sum = 0;
        for (float p : r.probabilities)
            sum += p;
        CHECK(sum == Approx(1.0).margin(1e-5));
        CHECK(r.seconds > 0.0);

        const auto u = static_cast<int64_t>(std::llround(r.start * 16000.0 / (8 * 256)));
        const auto head =
            torch::softmax(cnn9->head(trunk.narrow(-1, u, 39), logmel).at("logits").tensor, -1).flatten();
        for (int64_t i = 0; i < 10; ++i)
            CHECK(r.probabilities[static_cast<size_t>(i)] == Approx(head[i].item<float>()).margin(1e-5));

        // The same window cut out of the audio and run offline (the old plugin's analysis): the same class.
        // Its edges differ (the stream's trunk frames near them see the audio around the window, the
        // cut-out's convolutions zeros): here the rain's probability is 0.59-0.65 in the stream, 0.73-0.76
        // offline.
        const auto first = static_cast<int64_t>(std::llround(r.start * rate));
        const auto expected =
            offline.probabilities(audio.narrow(-1, first, static_cast<int64_t>(5 * rate)), rate);
        CHECK(expected.argmax().item<int64_t>() == r.top);
        CHECK(r.confidence == Approx(expected[r.top].item<float>()).margin(0.2));
    }
    // Once per hop after the first window.
    for (size_t k = 1; k < arrivals.size(); ++k) {
        const double apart = static_cast<double>(arrivals[k].pushed - arrivals[k - 1].pushed) / rate;
        CHECK(std::abs(apart - 1.0) <= 0.128 + 0.1 + 1e-9);
    }
}

TEST_CASE("SceneEngine: a new start drops the old stream and cuts windows with the new settings",
          "[plugin]") {
    auto engine = SceneEngine::load({shippedPreset(), ""});
    const torch::Tensor audio = rainTwice();
    const double rate = 44100.0;
    const double lookahead = engine->lookaheadSeconds();
    engine->startStream(rate, 1, 5.0, 1.0);
    stream(*engine, audio.narrow(-1, 0, static_cast<int64_t>(4 * rate)), 4410); // no window whole yet
    // 2.5-s windows every 0.5 s, from here: what came before is gone.
    engine->startStream(rate, 1, 2.5, 0.5);
    const auto arrivals = stream(
        *engine, audio.narrow(-1, static_cast<int64_t>(4 * rate), static_cast<int64_t>(5 * rate)), 4410);
    REQUIRE(!arrivals.empty());
    CHECK(arrivals.front().result.segment == 0);
    CHECK(arrivals.front().result.end == Approx(2.5).margin(0.064));
    CHECK(static_cast<double>(arrivals.front().pushed) / rate <= 2.5 + lookahead + 0.07 + 0.1);
    // 5 s of stream: the windows that end by 5 s less the look-ahead, one every 0.5 s.
    const auto expected = static_cast<size_t>(std::floor((5.0 - lookahead - 0.07 - 2.5) / 0.5)) + 1;
    CHECK(arrivals.size() + 1 >= expected);
    CHECK(arrivals.size() <= expected + 1);
    for (size_t k = 0; k < arrivals.size(); ++k) {
        CHECK(arrivals[k].result.segment == static_cast<int64_t>(k));
        CHECK(arrivals[k].result.class_names[static_cast<size_t>(arrivals[k].result.top)] == "Rain");
    }

    // Stereo at 48 kHz, and a block that completes several windows at once: the newest comes back.
    engine->startStream(48000.0, 2, 2.5, 0.5);
    const torch::Tensor noise = torch::rand({2, 48000 * 6}) * 0.2 - 0.1;
    const auto whole = stream(*engine, noise, noise.size(1));
    REQUIRE(whole.size() == 1);
    CHECK(whole[0].result.segments == whole[0].result.segment + 1);
    CHECK(whole[0].result.segments >= 5);
}

TEST_CASE("SceneEngine: a preset whose input names a rate gets the audio resampled block by block",
          "[plugin]") {
    avgraph::test::ScratchDir scratch;
    const fs::path preset = scratch.path() / "at-16k.json";
    std::ofstream(preset) << R"({"avgraph": 1, "extends": ")" << shippedPreset()
                          << R"(", "inputs": {"audio": {"kind": "audio", "sample_rate": 16000}}})";
    auto engine = SceneEngine::load({preset.string(), ""});
    auto reference = SceneEngine::load({shippedPreset(), ""});
    const torch::Tensor audio = rainTwice();
    engine->startStream(44100.0, 1, 5.0, 1.0);
    reference->startStream(44100.0, 1, 5.0, 1.0);
    const auto resampled = stream(*engine, audio, 4410);
    const auto in_graph = stream(*reference, audio, 4410);
    // The same libsoxr recipe before the graph as in it (signal.resample at 16 kHz): the same windows.
    REQUIRE(resampled.size() == in_graph.size());
    REQUIRE(!resampled.empty());
    for (size_t k = 0; k < resampled.size(); ++k) {
        CHECK(resampled[k].result.start == Approx(in_graph[k].result.start));
        CHECK(resampled[k].result.top == in_graph[k].result.top);
        CHECK(resampled[k].result.confidence == Approx(in_graph[k].result.confidence).margin(1e-3));
    }
}

TEST_CASE("SceneEngine: the imagined image comes out as 8-bit RGB", "[plugin]") {
    auto engine = SceneEngine::load({(avgraph::test::sourceDir() / "presets/ivf/imagine.json").string(), ""});
    CHECK(engine->producesImage());
    CHECK(engine->producesProbabilities());
    engine->startStream(48000.0, 1, 5.0, 1.0);
    const auto arrivals = stream(*engine, torch::rand({1, 48000 * 7}) * 0.2 - 0.1, 4800);
    REQUIRE(!arrivals.empty());
    const auto& result = arrivals.back().result;
    CHECK(result.image_width == 128);
    CHECK(result.image_height == 128);
    CHECK(result.image_rgb.size() == 128u * 128u * 3u);
    CHECK(result.probabilities.size() == 10);
}

TEST_CASE("SceneEngine: bf16 gives a real clip's stream the fp32 engine's probabilities, within bf16's "
          "rounding",
          "[plugin]") {
    auto fp32 = SceneEngine::load({shippedPreset(), ""});
    auto bf16 = SceneEngine::load({shippedPreset(), "", "bf16"});
    CHECK(fp32->precision() == "fp32");
    CHECK(fp32->precisionNote() == "fp32");
    CHECK(fp32->precisionWarning().empty());
    CHECK(bf16->precision() == "bf16");
    CHECK_THAT(bf16->precisionNote(), Catch::StartsWith("bf16"));
    // Emulated, and said so, where the CPU has no native bf16 (as on the AMD Zen 3 this was written on).
    CHECK(bf16->precisionWarning().empty() == avgraph::thisCpu().nativeBf16());
    CHECK(bf16->classNames() == fp32->classNames());

    // Short: bf16 is emulated (several times slower than fp32) on CPUs without it. The first 4.5 s of the rain
    // clip in 2.5-s windows every 0.5 s: the windows that end by 4.5 s less the look-ahead.
    const torch::Tensor audio = rainTwice().narrow(-1, 0, 44100 * 9 / 2);
    for (auto* engine : {fp32.get(), bf16.get()})
        engine->startStream(44100.0, 1, 2.5, 0.5);
    const auto expected = stream(*fp32, audio, 4410);
    const auto got = stream(*bf16, audio, 4410);
    REQUIRE(expected.size() >= 2);
    REQUIRE(got.size() == expected.size());
    float largest = 0.0f;
    for (size_t k = 0; k < got.size(); ++k) {
        const SceneResult &a = expected[k].result, &b = got[k].result;
        CHECK(b.segment == a.segment);
        CHECK(b.start == a.start);
        CHECK(b.top == a.top);
        CHECK(b.class_names[static_cast<size_t>(b.top)] == "Rain");
        REQUIRE(b.probabilities.size() == a.probabilities.size());
        for (size_t i = 0; i < a.probabilities.size(); ++i)
            largest = std::max(largest, std::abs(b.probabilities[i] - a.probabilities[i]));
    }
    INFO("largest difference of a probability, bf16 against fp32: " << largest << " over " << got.size()
                                                                    << " windows");
    CHECK(largest > 0.0f); // bf16 ran: its rounding shows
    // bf16 keeps 8 significant bits; CNN9 under autocast (its trunk and head on these windows, and the five
    // clips of examples/audio offline) moved no probability by more than 0.0052: 0.02 leaves 4x that.
    CHECK(largest < 0.02f);
}

TEST_CASE("SceneEngine: a precision the CPU cannot run is refused at load, naming the setting", "[plugin]") {
    CHECK_THAT(thrown([&] {
                   SceneEngine::load({shippedPreset(), "", "fp16"});
               }),
               Catch::Contains("the plugin's precision setting") &&
                   Catch::Contains("fp16 runs on CUDA only"));
    CHECK_THAT(thrown([&] {
                   SceneEngine::load({shippedPreset(), "", "fp64"});
               }),
               Catch::Contains("unknown precision \"fp64\"") && Catch::Contains("fp32, bf16, fp16, auto"));
    // auto: bf16 where the CPU has it natively, else fp32; the note says which and why.
    auto engine = SceneEngine::load({shippedPreset(), "", "auto"});
    CHECK(engine->precision() == (avgraph::thisCpu().nativeBf16() ? "bf16" : "fp32"));
    CHECK_THAT(engine->precisionNote(), Catch::Contains("(auto: "));
    CHECK(engine->precisionWarning().empty());
}

TEST_CASE("SceneEngine: presets, settings and input the plugin cannot use give clear errors", "[plugin]") {
    const auto presets = avgraph::test::sourceDir() / "presets";
    CHECK_THAT(thrown([&] {
                   SceneEngine::load({(presets / "no-such.json").string(), ""});
               }),
               Catch::Contains("no-such.json"));
    // Audio-visual presets take two inputs.
    CHECK_THAT(thrown([&] {
                   SceneEngine::load({(presets / "av/late-mean.json").string(), ""});
               }),
               Catch::Contains("late-mean.json") && Catch::Contains("one audio input"));
    // A feature preset has nothing to show.
    CHECK_THAT(thrown([&] {
                   SceneEngine::load({(presets / "features/logmel.json").string(), ""});
               }),
               Catch::Contains("no output of kind probabilities or image"));
    // Weights: a missing file, and a single file for a preset with several trainable networks.
    CHECK_THAT(thrown([&] {
                   SceneEngine::load({shippedPreset(), "/nonexistent/weights.pt"});
               }),
               Catch::Contains("/nonexistent/weights.pt"));
    CHECK_THAT(thrown([&] {
                   SceneEngine::load({(presets / "ivf/imagine.json").string(),
                                      (presets / "scene/esc10-logmel-cnn.pt").string()});
               }),
               Catch::Contains("several trainable nodes"));

    auto engine = SceneEngine::load({shippedPreset(), ""});
    std::vector<float> broken(44100, 0.0f);
    const float* channel = broken.data();
    CHECK_FALSE(engine->streaming());
    CHECK_THAT(thrown([&] { engine->push(&channel, 1, 44100); }), Catch::Contains("not started"));
    CHECK_THAT(thrown([&] { engine->startStream(44100.0, 1, 5.0, 0.0); }),
               Catch::Contains("more than 0 s apart"));
    CHECK_FALSE(engine->streaming());
    engine->startStream(44100.0, 1, 5.0, 1.0);
    CHECK_THAT(thrown([&] { engine->push(&channel, 2, 44100); }), Catch::Contains("1 channel"));
    broken[100] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THAT(thrown([&] { engine->push(&channel, 1, 44100); }), Catch::Contains("not finite"));
    // Nothing of that block was fed: the stream goes on.
    broken[100] = 0.0f;
    std::optional<SceneResult> first;
    for (int i = 0; i < 7 && !first; ++i)
        first = engine->push(&channel, 1, 44100);
    REQUIRE(first);
    CHECK(first->segment == 0);
}

// The worker's cost per hop, before (the whole graph on the last 5-s window every hop, what the plugin
// did until it streamed) and after (the stream, fed in the 5-ms blocks the worker drains): docs/plugin.md.
// One LibTorch thread, as in the plugin.
//   build/bin/plugin_tests "[benchmark]"
TEST_CASE("SceneEngine benchmark: worker CPU per hop at 48 kHz stereo, 5-s window", "[.][benchmark]") {
    avgraph::plugin::setAnalysisThreads(1);
    torch::manual_seed(3);
    const double rate = 48000.0;
    const torch::Tensor noise = (torch::rand({2, static_cast<int64_t>(rate * 40)}) * 0.2 - 0.1).contiguous();
    using Clock = std::chrono::steady_clock;
    auto mean = [](const std::vector<double>& s) {
        double sum = 0;
        for (double x : s)
            sum += x;
        return sum / static_cast<double>(s.size());
    };
    // Before: one offline run of the preset on a 5-s window, as the old SceneEngine::analyse did every hop.
    Offline offline(shippedPreset());
    const torch::Tensor window = noise.narrow(-1, 0, static_cast<int64_t>(5 * rate));
    std::vector<double> runs;
    for (int i = 0; i < 30; ++i) {
        const auto t0 = Clock::now();
        offline.probabilities(window, rate);
        if (i >= 5)
            runs.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    std::sort(runs.begin(), runs.end());
    std::printf("before: the graph on a 5-s window of 48 kHz stereo: mean %.1f ms, median %.1f ms a hop\n",
                mean(runs) * 1e3, runs[runs.size() / 2] * 1e3);
    // After: the stream, steady state (after the first 10 s).
    auto engine = SceneEngine::load({shippedPreset(), ""});
    for (double hop : {1.0, 0.5}) {
        for (double block_seconds : {0.005, 0.1}) {
            engine->startStream(rate, 2, 5.0, hop);
            const auto block = static_cast<int64_t>(std::llround(block_seconds * rate));
            double busy = 0;
            int64_t pushed = 0, results = 0;
            for (int64_t at = 0; at + block <= noise.size(1); at += block) {
                const float* channels[2] = {noise[0].data_ptr<float>() + at, noise[1].data_ptr<float>() + at};
                const auto t0 = Clock::now();
                const auto r = engine->push(channels, 2, block);
                const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
                if (at >= static_cast<int64_t>(10 * rate)) {
                    busy += seconds;
                    pushed += block;
                    results += r ? r->segments : 0;
                }
            }
            const double per_second = busy / (static_cast<double>(pushed) / rate);
            std::printf(
                "after: the stream, hop %.1f s, blocks of %g s: %.1f ms per second of audio, %.1f ms a hop "
                "(%lld segments in %.0f s)\n",
                hop, block_seconds, per_second * 1e3, per_second * hop * 1e3, static_cast<long long>(results),
                static_cast<double>(pushed) / rate);
        }
    }
}
