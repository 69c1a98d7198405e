#include "plugins/analysis/scene_engine.h"

#include "graph/error.h"
#include "graph/executor.h"
#include "graph/precision.h"
#include "graph/segments.h"
#include "io/audio_input.h"
#include "io/runtime.h"
#include "io/trained_weights.h"
#include "nodes/signal/soxr_resampler.h"

#include <torch/torch.h>

#include <dlfcn.h>

#include <chrono>
#include <cmath>

namespace avgraph::plugin {

namespace {

/** The longest block the graph is fed at once (StreamSpec::max_block); longer ones are split. */
constexpr int64_t kMaxBlock = 1 << 16;

/**
 * The graph gets the held audio once the next segment is complete, not with every block. Each run of a
 * shared trunk (CNN9's) computes 2 x 48 frames of context around its new frames (graph/segments.cpp), and
 * each block costs the streaming nodes a fixed overhead (about 0.3 ms), so feeding every block the
 * worker drains (a few ms of audio) would cost more than the whole window run offline once a hop. Fed
 * once a hop, the trunk runs once, on the hop's frames and the context.
 *
 * Segment k's end is its nominal end (k * hop + window) rounded to the frames at the cut (CNN9's trunk
 * frames are 128 ms apart: up to 64 ms either way; the first segment's is exact), so the audio goes in
 * kRoundingSeconds after the nominal end plus the look-ahead, and then whenever kFeedSeconds have
 * gathered, until the answer comes. While the first window fills, it also goes in every
 * kFillFeedSeconds, so that little is left to compute when the first answer is due.
 */
constexpr double kRoundingSeconds = 0.07;
constexpr double kFillFeedSeconds = 1.0;
constexpr double kFeedSeconds = 0.02;

/** Probabilities of segment `index` of [segment, ..., class] as one row: patch or frame axes averaged, as
 *  fusion.late does. */
torch::Tensor segmentProbabilities(const torch::Tensor& p, int64_t index) {
    torch::Tensor t = p.to(torch::kCPU, torch::kFloat);
    if (t.dim() < 2)
        return t.flatten();
    t = t[index];
    while (t.dim() > 1)
        t = t.mean(0);
    return t.contiguous();
}

std::string secondsText(double s) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", s);
    return text;
}

} // namespace

struct SceneEngine::State {
    std::unique_ptr<Registry> registry;
    std::unique_ptr<Graph> graph;
    std::unique_ptr<Executor> executor;
    PresetInput input;
    std::string probabilities_output, image_output;
    std::vector<std::string> class_names;
    double lookahead = 0.0;
    std::string precision = "fp32", precision_note = "fp32", precision_warning;
    // The running stream.
    std::unique_ptr<nodes::ResampleStream> resampler; ///< host rate -> the input's rate, if they differ
    std::unique_ptr<SegmentedStream> stream;
    double host_rate = 0.0;   ///< of what push() takes
    double stream_rate = 0.0; ///< of the graph's input (the converted rate)
    int channels = 0;
    double window = 0.0, hop = 0.0;
    int64_t pushed = 0;                   ///< samples pushed since the start, at the host rate
    int64_t next_segment = 0;             ///< the segment whose answer comes next
    std::vector<std::vector<float>> held; ///< pushed, not yet fed to the graph: one per channel

    /** Whether the held audio goes to the graph now: once the next segment may be complete. */
    bool due() const;

    /** The answer of segment `index` of a batch. */
    SceneResult resultOf(const SegmentBatch& batch, size_t index) const;
    /** Feeds `audio` [channels, n] at the graph input's rate; the newest segment completed, if any. */
    std::optional<SceneResult> feed(const torch::Tensor& audio);
    /** The end of the stream: the segments that remain. */
    std::optional<SceneResult> finish();
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
    // Before the warm-up, which then runs (and allocates) in the chosen precision.
    const PrecisionChoice precision =
        s.executor->setPrecision(choice.precision, Location{"the plugin's precision setting", "", "", 0, 0});
    s.precision = precisionName(precision.precision);
    s.precision_note = s.precision;
    if (!precision.reason.empty() && precision.reason != "asked")
        s.precision_note += " (" + precision.reason + ")";
    if (!precision.warning.empty())
        s.precision_note += ": " + precision.warning;
    s.precision_warning = precision.warning;

    // The warm-up: a stream of silence, 5 s and then 10 ms at a time until the first segment is answered,
    // which also measures the look-ahead.
    torch::NoGradGuard no_grad;
    const double rate = s.input.sample_rate.value_or(48000.0);
    engine->startStream(rate, 1, 5.0, 5.0);
    const auto step = static_cast<int64_t>(std::llround(0.01 * rate));
    int64_t pushed = static_cast<int64_t>(std::llround(5.0 * rate));
    std::optional<SceneResult> first = s.feed(torch::zeros({1, pushed}));
    while (!first && pushed < static_cast<int64_t>(8.0 * rate)) {
        first = s.feed(torch::zeros({1, step}));
        pushed += step;
    }
    if (!first)
        first = s.finish();
    if (!first)
        throw Error(preset.locate("/outputs"),
                    "5 s of silence gave no answer: the plugin cannot run this preset");
    s.lookahead = std::max(0.0, static_cast<double>(pushed) / rate - first->end);
    s.class_names = first->class_names;
    s.stream.reset();
    return engine;
}

const std::string& SceneEngine::name() const { return state_->graph->preset().name(); }
const std::vector<std::string>& SceneEngine::classNames() const { return state_->class_names; }
bool SceneEngine::producesProbabilities() const { return !state_->probabilities_output.empty(); }
bool SceneEngine::producesImage() const { return !state_->image_output.empty(); }
double SceneEngine::lookaheadSeconds() const { return state_->lookahead; }
const std::string& SceneEngine::precision() const { return state_->precision; }
const std::string& SceneEngine::precisionNote() const { return state_->precision_note; }
const std::string& SceneEngine::precisionWarning() const { return state_->precision_warning; }
bool SceneEngine::streaming() const { return state_->stream != nullptr; }

void SceneEngine::startStream(double sample_rate, int num_channels, double window_seconds,
                              double hop_seconds) {
    State& s = *state_;
    const bool same = s.stream && s.host_rate == sample_rate && s.channels == num_channels &&
                      s.window == window_seconds && s.hop == hop_seconds;
    std::unique_ptr<SegmentedStream> kept = same ? std::move(s.stream) : nullptr;
    s.stream.reset();
    s.resampler.reset();
    if (!(sample_rate > 0.0) || num_channels < 1)
        throw std::runtime_error("cannot analyse " + std::to_string(num_channels) + " channel(s) at " +
                                 secondsText(sample_rate) + " Hz");
    torch::NoGradGuard no_grad;
    double rate = sample_rate;
    if (s.input.sample_rate && *s.input.sample_rate != rate) {
        s.resampler = std::make_unique<nodes::ResampleStream>(
            rate, *s.input.sample_rate, nodes::ResampleQuality::High, num_channels, torch::kFloat32);
        rate = *s.input.sample_rate;
    }
    if (kept) {
        // The same settings (the worker starts again after input it refused): no new plan, no probe run.
        kept->start();
        s.stream = std::move(kept);
    } else {
        StreamSpec stream;
        stream.sample_rate = rate;
        stream.channels = num_channels;
        stream.max_block = kMaxBlock;
        SegmentSpec segments;
        segments.length = window_seconds;
        segments.hop = hop_seconds;
        segments.batch = 1; // each segment's answer as soon as its window is there
        segments.share_trunk = true;
        // The trunk runs on whatever a feed brings: the engine itself feeds once a hop (see
        // kRoundingSeconds).
        segments.trunk_chunk = 1;
        s.stream = std::make_unique<SegmentedStream>(*s.executor, segments, stream);
    }
    s.host_rate = sample_rate;
    s.stream_rate = rate;
    s.channels = num_channels;
    s.window = window_seconds;
    s.hop = hop_seconds;
    s.pushed = 0;
    s.next_segment = 0;
    s.held.assign(static_cast<size_t>(num_channels), {});
}

std::optional<SceneResult> SceneEngine::push(const float* const* channels, int num_channels,
                                             int64_t num_samples) {
    const auto start = std::chrono::steady_clock::now();
    State& s = *state_;
    if (!s.stream)
        throw std::runtime_error("no stream runs: the analysis was not started");
    if (num_channels != s.channels)
        throw std::runtime_error("the stream takes " + std::to_string(s.channels) + " channel(s), not " +
                                 std::to_string(num_channels));
    for (int c = 0; c < num_channels; ++c)
        for (int64_t i = 0; i < num_samples; ++i)
            if (!std::isfinite(channels[c][i]))
                throw std::runtime_error("the input holds samples that are not finite (NaN or infinity); "
                                         "the window was not analysed");
    for (int c = 0; c < num_channels; ++c)
        s.held[static_cast<size_t>(c)].insert(s.held[static_cast<size_t>(c)].end(), channels[c],
                                              channels[c] + num_samples);
    s.pushed += num_samples;
    if (!s.due())
        return std::nullopt;
    torch::NoGradGuard no_grad;
    const auto held = static_cast<int64_t>(s.held[0].size());
    torch::Tensor audio = torch::empty({num_channels, held}, torch::kFloat);
    for (int c = 0; c < num_channels; ++c) {
        auto& h = s.held[static_cast<size_t>(c)];
        std::copy(h.begin(), h.end(), audio[c].data_ptr<float>());
        h.clear();
    }
    if (s.resampler)
        audio = s.resampler->push(audio);
    auto result = s.feed(audio);
    if (result)
        result->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

bool SceneEngine::State::due() const {
    const auto held_seconds = static_cast<double>(held[0].size()) / host_rate;
    if (next_segment == 0 && held_seconds >= kFillFeedSeconds)
        return true;
    // The look-ahead was measured without a resampler before the graph: add its delay.
    const double delay = resampler ? static_cast<double>(resampler->latency()) / host_rate : 0.0;
    const double expected = static_cast<double>(next_segment) * hop + window + lookahead + delay +
                            (next_segment > 0 ? kRoundingSeconds : 0.0);
    return static_cast<double>(pushed) >= expected * host_rate && held_seconds >= kFeedSeconds;
}

std::optional<SceneResult> SceneEngine::State::feed(const torch::Tensor& audio) {
    std::optional<SceneResult> newest;
    int64_t completed = 0;
    const int64_t n = audio.size(1);
    for (int64_t at = 0; at < n; at += kMaxBlock) {
        const SegmentBatch batch =
            stream->push(host::audioValue(audio.narrow(1, at, std::min(kMaxBlock, n - at)), stream_rate));
        if (batch.empty())
            continue;
        completed += static_cast<int64_t>(batch.segments.size());
        newest = resultOf(batch, batch.segments.size() - 1);
    }
    if (newest) {
        newest->segments = completed;
        next_segment = newest->segment + 1;
    }
    return newest;
}

std::optional<SceneResult> SceneEngine::State::finish() {
    const SegmentBatch batch = stream->finish(host::audioValue(torch::zeros({channels, 0}), stream_rate));
    if (batch.empty())
        return std::nullopt;
    SceneResult result = resultOf(batch, batch.segments.size() - 1);
    result.segments = static_cast<int64_t>(batch.segments.size());
    return result;
}

SceneResult SceneEngine::State::resultOf(const SegmentBatch& batch, size_t index) const {
    SceneResult result;
    const Segment& segment = batch.segments[index];
    result.segment = segment.index;
    result.start = segment.start;
    result.end = segment.end;
    const auto row = static_cast<int64_t>(index);
    if (!probabilities_output.empty()) {
        const Value& p = batch.outputs.at(probabilities_output);
        torch::Tensor probabilities = segmentProbabilities(p.tensor, row);
        result.probabilities.assign(probabilities.data_ptr<float>(),
                                    probabilities.data_ptr<float>() + probabilities.numel());
        result.class_names = p.class_names;
        if (probabilities.numel() > 0) {
            result.top = static_cast<int>(probabilities.argmax().item<int64_t>());
            result.confidence = result.probabilities[static_cast<size_t>(result.top)];
        }
    }
    if (!image_output.empty()) {
        // [segment, 3, rows, cols] in [0, 255] (image nodes' convention) -> 8-bit RGB rows.
        torch::Tensor img = batch.outputs.at(image_output).tensor.to(torch::kCPU, torch::kFloat);
        if (img.dim() == 4 && img.size(1) == 3) {
            auto rgb = img[row].clamp(0, 255).round().to(torch::kUInt8).permute({1, 2, 0}).contiguous();
            result.image_height = static_cast<int>(rgb.size(0));
            result.image_width = static_cast<int>(rgb.size(1));
            result.image_rgb.assign(rgb.data_ptr<uint8_t>(), rgb.data_ptr<uint8_t>() + rgb.numel());
        }
    }
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
