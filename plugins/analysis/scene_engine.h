#pragma once
/**
 * SceneEngine: one preset's graph, fed a plugin's audio block by block as it arrives.
 *
 * The bridge between the plugin and the engine. It keeps LibTorch and avgraph behind a header that
 * names neither, so the JUCE code of the plugin compiles without LibTorch's headers, and the
 * analysis can be tested without JUCE.
 *
 *     auto engine = SceneEngine::load({"presets/scene/esc10-logmel-cnn.json", ""});
 *     engine->startStream(48000.0, 2, 5.0, 1.0);               // on the worker thread
 *     if (auto r = engine->push(channels, 2, n))                // each block as it comes
 *         show(*r);                                             // a 5-s window ended: its answer
 *
 * The audio runs through the same streaming graph as `avgraph run --segment` (avgraph::SegmentedStream,
 * graph/segments.h): the graph streams as far as it can (channel mix, resampler, features, and the
 * convolutional trunk of a network such as CNN9, once over the stream), and the rest of it runs on
 * each segment of `window` seconds, one every `hop` seconds from the stream's start. A window of audio
 * is thus computed once, not once per hop that it lies in. What a segment's answer equals (the offline
 * run on that stretch cut out, but for its edges, which see the audio around it) is written at the top
 * of graph/segments.h. A segment's answer comes once the stream has the audio its last frames look at:
 * `lookaheadSeconds` after its end (CNN9 on a 16-kHz log-mel: 0.82 s).
 *
 * push() takes blocks of any size, but the engine holds them and feeds the graph once a hop, when the
 * next segment is due (and in small steps after that until its answer comes): a shared trunk's every run
 * reads its margin of context again, and every block costs the streaming nodes a fixed overhead, so
 * feeding the few milliseconds a worker drains at a time would cost more than the old way, the whole
 * graph on the last window once a hop.
 *
 * A preset the plugin can run has one audio input and at least one output of kind probabilities
 * (the class bars) or image (the imagined image). The audio goes in at the host's sample rate;
 * when the preset's input names a rate, it is resampled to it first, block by block (libsoxr, as
 * `avgraph run` does for files). Analysis runs on the CPU under NoGradGuard (the plugin's worker
 * runs LibTorch with one intra-op thread beside the DAW's own threads).
 *
 * EngineChoice::precision sets the precision of the preset's networks (Executor::setPrecision): bf16
 * runs them under LibTorch's autocast, which is fast only on CPUs with native bf16 (avx512_bf16 or
 * AMX) and emulated, many times slower than fp32, elsewhere; precisionNote() says what was chosen.
 */
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace avgraph::plugin {

/**
 * What the user chose: a preset file, optionally weights (a file or a training run's folder), and the
 * precision its networks compute in: a word of graph/precision.h ("fp32", "bf16", "auto"; "fp16" is
 * CUDA only, and the plugin runs on the CPU). Features and everything else stay float32.
 */
struct EngineChoice {
    std::string preset;
    std::string weights;
    std::string precision = "fp32";
    bool operator==(const EngineChoice& o) const {
        return preset == o.preset && weights == o.weights && precision == o.precision;
    }
};

/** The answer for one segment (a window of the stream), and what the push that gave it cost. */
struct SceneResult {
    std::vector<std::string> class_names;
    std::vector<float> probabilities; ///< empty when the preset has no probabilities output
    int top = -1;                     ///< index of the most probable class, -1 without probabilities
    float confidence = 0.0f;          ///< its probability
    int image_width = 0, image_height = 0;
    std::vector<uint8_t> image_rgb; ///< the imagined image, 8-bit RGB rows, when the preset draws one
    int64_t segment = -1;           ///< the segment's index in the stream (0: the first window)
    double start = 0.0, end = 0.0;  ///< where the segment lies in the stream, in seconds from its start
    int64_t segments = 0;           ///< segments the push completed (this result is the newest's)
    double seconds = 0.0;           ///< wall-clock time the push took
};

class SceneEngine {
public:
    /**
     * Loads and checks a preset (and its weights), and warms it up: 5 s of silence through the stream
     * find what only running shows (a window too short for the network, weights of the wrong shape),
     * learn the class names and make LibTorch allocate its buffers before the user's audio arrives.
     * Throws std::runtime_error (an avgraph::Error for problems in what the user wrote, naming the
     * file, JSON pointer and node) with a message fit for the plugin's editor. No stream runs after it.
     */
    static std::unique_ptr<SceneEngine> load(const EngineChoice& choice);
    ~SceneEngine();

    /** The preset's name, from its file. */
    const std::string& name() const;
    /** The class names of the probabilities output when the preset names them (else empty). */
    const std::vector<std::string>& classNames() const;
    bool producesProbabilities() const;
    bool producesImage() const;
    /**
     * How long after a segment's end its answer comes, in seconds of audio: what the stream's last
     * frames look ahead (a centred STFT's half window, a shared trunk's margin, a resampler's delay).
     * Measured at load to 10 ms, on 5-s segments at 48 kHz (or the preset's input rate).
     */
    double lookaheadSeconds() const;

    /** The precision the networks compute in: "fp32" or "bf16" (what "auto" chose). */
    const std::string& precision() const;
    /**
     * What the precision setting chose, for the editor: "fp32", "bf16", "bf16 (auto: <cpu> has
     * avx512_bf16)", "fp32 (auto: <cpu> has no native bf16 ...)", or with a warning after a colon
     * ("bf16: <cpu> has no native bf16 ...: LibTorch emulates it ... many times slower than fp32 ...").
     */
    const std::string& precisionNote() const;
    /** Non-empty when the precision runs slowly here (bf16 emulated on a CPU without native bf16). */
    const std::string& precisionWarning() const;

    /**
     * (Re)starts the stream: audio of `num_channels` channels at `sample_rate`, cut into segments of
     * `window_seconds` every `hop_seconds` (the first starting with the first sample pushed). Drops what
     * an earlier stream held. Throws std::runtime_error for settings the preset cannot run with (a
     * window too short for its network, a hop that is not positive); no stream runs then.
     */
    void startStream(double sample_rate, int num_channels, double window_seconds, double hop_seconds);
    /** Whether a stream runs (startStream succeeded since load). */
    bool streaming() const;

    /**
     * The next `num_samples` of the stream: `channels[c][i]` for c < num_channels (as startStream
     * said), i < num_samples. Returns the answer of the newest segment this block completed, or
     * nothing when it completed none (the engine holds the audio until a segment is due: see above).
     * Throws std::runtime_error without taking the block when it holds a sample that is not finite,
     * or when no stream runs; when the graph itself fails the stream is left in an unknown state:
     * start it again. Starting again with the same settings is cheap (no new plan, no probe run).
     */
    std::optional<SceneResult> push(const float* const* channels, int num_channels, int64_t num_samples);

private:
    SceneEngine();
    struct State;
    std::unique_ptr<State> state_;
};

/** Sets LibTorch's intra-op threads, and OpenBLAS's when it is the BLAS, for the process (the plugin's worker
 * uses 1). */
void setAnalysisThreads(int threads);

} // namespace avgraph::plugin
