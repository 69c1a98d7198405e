#include "plugins/analysis/scene_engine.h"

#include "graph/error.h"
#include "graph/executor.h"
#include "host/audio_input.h"
#include "host/runtime.h"
#include "host/trained_weights.h"
#include "nodes/signal/soxr_resampler.h"

#include <torch/torch.h>

#include <dlfcn.h>

#include <chrono>

namespace avgraph::plugin {

namespace {

/** Probabilities [batch, ..., class] as one row: patch or frame axes averaged, as fusion.late does. */
torch::Tensor clipProbabilities(const torch::Tensor& p) {
    torch::Tensor t = p.to(torch::kCPU, torch::kFloat);
    if (t.dim() < 2)
        return t.flatten();
    while (t.dim() > 2)
        t = t.mean(1);
    return t[0].contiguous();
}

} // namespace

struct SceneEngine::State {
    std::unique_ptr<Registry> registry;
    std::unique_ptr<Graph> graph;
    std::unique_ptr<Executor> executor;
    PresetInput input;
    std::string probabilities_output, image_output;
    std::vector<std::string> class_names;
};

SceneEngine::SceneEngine() : state_(std::make_unique<State>()) {}
SceneEngine::~SceneEngine() = default;

std::unique_ptr<SceneEngine> SceneEngine::load(const EngineChoice& choice) {
    std::unique_ptr<SceneEngine> engine(new SceneEngine);
    State& s = *engine->state_;
    s.registry = host::makeRegistry({});
    // The inputs first: an audio-visual preset would otherwise fail on its image network's file.
    Preset preset = Preset::load(choice.preset);
    if (preset.inputs().size() != 1 || preset.inputs()[0].kind != Kind::Audio)
        throw Error(preset.locate("/inputs"),
                    "the plugin feeds a preset one audio input; this preset has " +
                        std::to_string(preset.inputs().size()) + " input(s)" +
                        (preset.inputs().empty()
                             ? ""
                             : ", the first of kind " + std::string(kindName(preset.inputs()[0].kind))));
    if (!choice.weights.empty()) {
        // Which node a weights file is for needs the built graph (its trainable nodes).
        const Graph probe = Graph::build(preset, *s.registry);
        preset = Preset::load(choice.preset, host::weightsOverrides(choice.weights, probe));
    }
    s.graph = std::make_unique<Graph>(Graph::build(preset, *s.registry));
    s.input = preset.inputs()[0];
    for (const auto& out : s.graph->outputs()) {
        const auto& kinds = s.graph->vertex(out.vertex).output_kinds;
        const auto kind = kinds.find(out.port);
        if (kind == kinds.end())
            continue;
        if (kind->second == Kind::Probabilities && s.probabilities_output.empty())
            s.probabilities_output = out.name;
        if (kind->second == Kind::Image && s.image_output.empty())
            s.image_output = out.name;
    }
    if (s.probabilities_output.empty() && s.image_output.empty())
        throw Error(preset.locate("/outputs"),
                    "the plugin shows class probabilities or an imagined image; this preset has no output of "
                    "kind probabilities or image");
    s.executor = std::make_unique<Executor>(*s.graph, Plan::make(*s.graph, "cpu"));
    // One run on silence: finds what only running shows (a window too short for the network, weights
    // of the wrong shape) now rather than in the first analysis, learns the class names, and makes
    // LibTorch allocate its buffers before the user's audio arrives.
    const double rate = s.input.sample_rate.value_or(48000.0);
    std::vector<float> silence(static_cast<size_t>(5 * rate), 0.0f);
    const float* channel = silence.data();
    engine->state_->class_names =
        engine->analyse(&channel, 1, static_cast<int64_t>(silence.size()), rate).class_names;
    return engine;
}

const std::string& SceneEngine::name() const { return state_->graph->preset().name(); }
const std::vector<std::string>& SceneEngine::classNames() const { return state_->class_names; }
bool SceneEngine::producesProbabilities() const { return !state_->probabilities_output.empty(); }
bool SceneEngine::producesImage() const { return !state_->image_output.empty(); }

SceneResult SceneEngine::analyse(const float* const* channels, int num_channels, int64_t num_samples,
                                 double sample_rate) {
    const auto start = std::chrono::steady_clock::now();
    torch::NoGradGuard no_grad;
    State& s = *state_;
    torch::Tensor audio = torch::empty({num_channels, num_samples}, torch::kFloat);
    for (int c = 0; c < num_channels; ++c)
        std::copy(channels[c], channels[c] + num_samples, audio[c].data_ptr<float>());
    if (!torch::isfinite(audio).all().item<bool>())
        throw std::runtime_error("the input holds samples that are not finite (NaN or infinity); "
                                 "the window was not analysed");
    double rate = sample_rate;
    if (s.input.sample_rate && *s.input.sample_rate != rate) {
        audio = nodes::resampleSignal(audio, rate, *s.input.sample_rate, nodes::ResampleQuality::High);
        rate = *s.input.sample_rate;
    }
    const Value v = host::audioValue(audio, rate);
    RunOptions options;
    options.concurrent = false; // the worker is one thread; the DAW's threads are busy enough
    auto outputs = s.executor->run({{s.input.name, v}}, options);

    SceneResult result;
    if (!s.probabilities_output.empty()) {
        const Value& p = outputs.at(s.probabilities_output);
        torch::Tensor row = clipProbabilities(p.tensor);
        result.probabilities.assign(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
        result.class_names = p.class_names;
        if (row.numel() > 0) {
            result.top = static_cast<int>(row.argmax().item<int64_t>());
            result.confidence = result.probabilities[static_cast<size_t>(result.top)];
        }
    }
    if (!s.image_output.empty()) {
        // [batch, 3, rows, cols] in [0, 255] (image nodes' convention) -> 8-bit RGB rows.
        torch::Tensor img = outputs.at(s.image_output).tensor.to(torch::kCPU, torch::kFloat);
        if (img.dim() == 4 && img.size(1) == 3) {
            auto rgb = img[0].clamp(0, 255).round().to(torch::kUInt8).permute({1, 2, 0}).contiguous();
            result.image_height = static_cast<int>(rgb.size(0));
            result.image_width = static_cast<int>(rgb.size(1));
            result.image_rgb.assign(rgb.data_ptr<uint8_t>(), rgb.data_ptr<uint8_t>() + rgb.numel());
        }
    }
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

void setAnalysisThreads(int threads) {
    at::set_num_threads(threads);
    // LibTorch's matrix products go to the system BLAS, and OpenBLAS (Debian's libopenblas0-pthread)
    // keeps a thread pool of its own, a thread a core, that would busy-wait beside the DAW's audio
    // threads: it too runs on the calling thread.
    using SetThreads = void (*)(int);
    if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
        set(threads);
}

} // namespace avgraph::plugin
