// SceneEngine: the plugin's analysis equals the engine's offline run of the same preset on the same
// audio, names the right class of a real clip, and refuses presets the plugin cannot show.
#include "plugins/analysis/scene_engine.h"

#include "graph/error.h"
#include "graph/executor.h"
#include "host/audio_file.h"
#include "host/audio_input.h"
#include "host/runtime.h"
#include "tests/test_support.h"

#include <catch2/catch.hpp>
#include <torch/torch.h>

namespace fs = std::filesystem;
using avgraph::plugin::EngineChoice;
using avgraph::plugin::SceneEngine;

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

} // namespace

TEST_CASE("SceneEngine: a window of a real clip gives the offline run's probabilities", "[plugin]") {
    // The rain clip of examples/audio: ESC-10 fold 5, which the shipped weights never saw.
    const auto clip =
        avgraph::host::readAudio(avgraph::test::sourceDir() / "examples/audio/rain-5-188655-A.ogg");
    REQUIRE(clip.sample_rate == 44100.0);
    auto engine = SceneEngine::load({shippedPreset(), ""});
    CHECK(engine->name() == "esc10-logmel-cnn");
    CHECK(engine->producesProbabilities());
    CHECK_FALSE(engine->producesImage());
    REQUIRE(engine->classNames().size() == 10);
    CHECK(engine->classNames()[1] == "Rain"); // learnt from the warm-up run, before any audio came

    // The plugin hands over per-channel pointers, as its history holds them.
    std::vector<const float*> channels;
    auto samples = clip.samples.contiguous();
    for (int64_t c = 0; c < samples.size(0); ++c)
        channels.push_back(samples[c].data_ptr<float>());
    const auto result =
        engine->analyse(channels.data(), static_cast<int>(channels.size()), samples.size(1), 44100.0);
    REQUIRE(result.probabilities.size() == 10);
    CHECK(result.class_names[static_cast<size_t>(result.top)] == "Rain");
    CHECK(result.confidence == Approx(result.probabilities[1]));

    // The offline reference: the same preset built and run the way `avgraph run` does it.
    auto registry = avgraph::host::makeRegistry({});
    auto graph = avgraph::Graph::build(avgraph::Preset::load(shippedPreset()), *registry);
    avgraph::Executor executor(graph, avgraph::Plan::make(graph, "cpu"));
    torch::NoGradGuard no_grad;
    const auto offline = executor.run({{"audio", avgraph::host::audioValue(clip.samples, clip.sample_rate)}})
                             .at("probabilities")
                             .tensor.flatten();
    double sum = 0;
    for (size_t i = 0; i < 10; ++i) {
        CHECK(result.probabilities[i] == Approx(offline[static_cast<int64_t>(i)].item<float>()).margin(1e-6));
        sum += result.probabilities[i];
    }
    CHECK(sum == Approx(1.0).margin(1e-5));
}

TEST_CASE("SceneEngine: the imagined image comes out as 8-bit RGB", "[plugin]") {
    auto engine = SceneEngine::load({(avgraph::test::sourceDir() / "presets/ivf/imagine.json").string(), ""});
    CHECK(engine->producesImage());
    CHECK(engine->producesProbabilities());
    std::vector<float> noise(48000 * 5);
    torch::Tensor t = torch::rand({static_cast<int64_t>(noise.size())}) * 0.2 - 0.1;
    std::copy(t.data_ptr<float>(), t.data_ptr<float>() + t.numel(), noise.begin());
    const float* channel = noise.data();
    const auto result = engine->analyse(&channel, 1, static_cast<int64_t>(noise.size()), 48000.0);
    CHECK(result.image_width == 128);
    CHECK(result.image_height == 128);
    CHECK(result.image_rgb.size() == 128u * 128u * 3u);
}

TEST_CASE("SceneEngine: presets and input the plugin cannot use give clear errors", "[plugin]") {
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
    broken[100] = std::numeric_limits<float>::quiet_NaN();
    const float* channel = broken.data();
    CHECK_THAT(thrown([&] { engine->analyse(&channel, 1, 44100, 44100.0); }), Catch::Contains("not finite"));
}
