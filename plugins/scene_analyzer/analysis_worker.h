#pragma once
/**
 * AnalysisWorker: the thread that runs the preset's graph beside the audio.
 *
 * It drains the AudioRing into a history of the last 30 s (the longest window), and every `hop`
 * seconds, once `window` seconds have arrived, runs the SceneEngine on it and publishes an AnalysisReport
 * (TripleBuffer, lock-free) for the editor, and the top class and its confidence through a callback (the
 * processor's output parameters). It builds a newly chosen preset's engine itself, between
 * analyses (which pause meanwhile), and only then drops the old one (a load that fails drops it
 * too, and says why): the audio thread never waits for any of this.
 * LibTorch runs here with one intra-op thread and no autograd.
 */
#include "plugins/analysis/scene_engine.h"
#include "plugins/analysis/triple_buffer.h"
#include "plugins/scene_analyzer/audio_ring.h"

#include <juce_core/juce_core.h>

#include <functional>
#include <mutex>
#include <optional>

namespace avgraph::plugin {

/** What the editor shows: the engine's state, the newest analysis and the recent top classes. */
struct AnalysisReport {
    enum class State { NoPreset, Loading, Filling, Running, Failed };
    State state = State::NoPreset;
    std::string message;       ///< the error of a failed load or analysis, else what is going on
    std::string preset_name;   ///< of the running engine
    SceneResult result;        ///< the newest analysis (empty before the first)
    int64_t analyses = 0;      ///< how many windows were analysed since the engine was built
    float window_fill = 0;     ///< 0..1: how much of the first window has arrived
    float cpu_load = 0;        ///< analysis time / hop duration (1 = the worker only just keeps up)
    int64_t dropped = 0;       ///< samples the ring could not take because the worker fell behind
    std::vector<int> timeline; ///< top class of the last kTimeline analyses, oldest first
    std::vector<std::string> timeline_names;
    static constexpr size_t kTimeline = 240;
};

class AnalysisWorker : private juce::Thread {
public:
    /** Called on the worker thread after each analysis with the top class (-1 if none) and confidence. */
    using ResultListener = std::function<void(int top, float confidence)>;
    /** The longest window: the history holds this much, whatever the window parameter says now. */
    static constexpr float kMaxWindowSeconds = 30.0f;

    AnalysisWorker(AudioRing& ring, const std::atomic<float>& window_seconds,
                   const std::atomic<float>& hop_seconds, ResultListener listener);
    ~AnalysisWorker() override;

    /**
     * Before the ring is resized (prepareToPlay): stops draining until resume(). Message or host thread.
     * The ring's owner resizes it between pause() and resume().
     */
    void pause();
    void resume(double sample_rate);

    /** Asks for a new engine (built on the worker thread). Any thread but the audio thread. */
    void load(const EngineChoice& choice);

    /** The editor's view (one reader: the message thread). */
    TripleBuffer<AnalysisReport>& reports() { return reports_; }

    /** Class names of the running engine, for the top-class parameter's text. Any thread but the audio
     * thread. */
    std::string className(int index) const;

private:
    void run() override;
    void buildEngine(const EngineChoice& choice);
    void drainRing();
    void analyseWindow();
    void publish();

    AudioRing& ring_;
    const std::atomic<float>& window_seconds_;
    const std::atomic<float>& hop_seconds_;
    ResultListener listener_;

    std::mutex ring_mutex_; ///< held while draining; pause() takes it so the ring can be resized
    bool paused_ = true;
    bool restart_ = false;
    double sample_rate_ = 0;

    std::mutex request_mutex_;
    std::optional<EngineChoice> request_;

    mutable std::mutex names_mutex_;
    std::vector<std::string> class_names_;

    // Worker thread only.
    std::unique_ptr<SceneEngine> engine_;
    double rate_ = 0;                         ///< the sample rate the history holds
    std::vector<std::vector<float>> history_; ///< circular, kMaxWindowSeconds long, one per channel
    size_t history_write_ = 0, history_filled_ = 0;
    int64_t since_analysis_ = 0;
    std::vector<std::vector<float>> window_;
    AnalysisReport report_;
    TripleBuffer<AnalysisReport> reports_;
};

} // namespace avgraph::plugin
