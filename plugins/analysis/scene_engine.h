#pragma once
/**
 * SceneEngine: one preset's graph, ready to analyse windows of a plugin's audio.
 *
 * The bridge between the plugin and the engine. It keeps LibTorch and avgraph behind a header that
 * names neither, so the JUCE code of the plugin compiles without LibTorch's headers, and the
 * analysis can be tested without JUCE.
 *
 *     auto engine = SceneEngine::load({"presets/scene/esc10-logmel-cnn.json", ""});
 *     SceneResult r = engine->analyse(channels, 2, 5 * 48000, 48000.0);   // on the worker thread
 *
 * A preset the plugin can run has one audio input and at least one output of kind probabilities
 * (the class bars) or image (the imagined image). The audio goes in at the host's sample rate;
 * when the preset's input names a rate, it is resampled to it first (libsoxr, as `avgraph run` does
 * for files). Analysis runs on the CPU under NoGradGuard, one step at a time (the plugin's worker
 * runs LibTorch with one intra-op thread beside the DAW's own threads).
 */
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace avgraph::plugin {

/** What the user chose: a preset file and, optionally, weights (a file or a training run's folder). */
struct EngineChoice {
    std::string preset;
    std::string weights;
    bool operator==(const EngineChoice& o) const { return preset == o.preset && weights == o.weights; }
};

/** One analysis of a window. */
struct SceneResult {
    std::vector<std::string> class_names;
    std::vector<float> probabilities; ///< empty when the preset has no probabilities output
    int top = -1;                     ///< index of the most probable class, -1 without probabilities
    float confidence = 0.0f;          ///< its probability
    int image_width = 0, image_height = 0;
    std::vector<uint8_t> image_rgb; ///< the imagined image, 8-bit RGB rows, when the preset draws one
    double seconds = 0.0;           ///< wall-clock time the analysis took
};

class SceneEngine {
public:
    /**
     * Loads and checks a preset (and its weights). Throws std::runtime_error (an avgraph::Error for
     * problems in what the user wrote, naming the file, JSON pointer and node) with a message fit
     * for the plugin's editor.
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
     * Runs the graph on one window: `channels[c][i]` for c < num_channels, i < num_samples, at
     * `sample_rate`. Throws std::runtime_error when the graph fails (e.g. non-finite input).
     */
    SceneResult analyse(const float* const* channels, int num_channels, int64_t num_samples,
                        double sample_rate);

private:
    SceneEngine();
    struct State;
    std::unique_ptr<State> state_;
};

/** Sets LibTorch's intra-op threads, and OpenBLAS's when it is the BLAS, for the process (the plugin's worker
 * uses 1). */
void setAnalysisThreads(int threads);

} // namespace avgraph::plugin
