#pragma once
/**
 * AnalysisWorker: the thread that runs the preset's graph beside the audio.
 *
 * It drains the AudioRing every few milliseconds and pushes what it drained to the SceneEngine's stream,
 * whose segments are the plugin's windows: `window` seconds long, one every `hop` seconds. Each answer
 * goes out as an AnalysisReport (TripleBuffer, lock-free) for the editor, and as the top class and its
 * confidence through a callback (the processor's output parameters). It also keeps the last 30 s (the
 * longest window) in a history: when the window or the hop changes, or a new engine comes, the stream
 * starts again on the last `window` seconds of it (and the look-ahead), so an answer comes at once.
 * It builds a newly chosen preset's engine itself, between pushes (which pause meanwhile), and only
 * then drops the old one (a load that fails drops it too, and says why): the audio thread never waits
 * for any of this. LibTorch runs here with one intra-op thread and no autograd.
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
    std::string message;         ///< the error of a failed load or analysis, else what is going on
    std::string preset_name;     ///< of the running engine
    std::string precision;       ///< what its networks compute in: "fp32" or "bf16" (empty: no engine)
    std::string precision_note;  ///< SceneEngine::precisionNote(): why, and any warning
    bool precision_slow = false; ///< bf16 emulated on this CPU (SceneEngine::precisionWarning())
    bool precision_auto = false; ///< the precision was chosen by "auto"
    SceneResult result;          ///< the newest window's answer (empty before the first)
    int64_t analyses = 0;        ///< how many windows (segments) were answered since the engine was built
    float window_fill = 0;       ///< 0..1: how much of the first window and its look-ahead has arrived
    float cpu_load = 0;          ///< time in push over the last hop / the hop (1: only just keeps up)
    int64_t dropped = 0;         ///< samples the ring could not take because the worker fell behind
    std::vector<int> timeline;   ///< top class of the last kTimeline analyses, oldest first
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
    /** What the stream cuts: the parameters as the worker last read them, and the audio's format. */
    struct StreamSettings {
        double rate = 0;
        int channels = 0;
        float window = 0, hop = 0;
        bool operator==(const StreamSettings& o) const {
            return rate == o.rate && channels == o.channels && window == o.window && hop == o.hop;
        }
        bool operator!=(const StreamSettings& o) const { return !(*this == o); }
    };

    void run() override;
    void buildEngine(const EngineChoice& choice);
    /** Moves what the ring holds into the history; returns how many samples came. */
    int64_t drainRing();
    /** Feeds the `fresh` newest samples of the history to the stream, (re)starting it first if needed. */
    void analyse(int64_t fresh);
    /** (Re)starts the stream with `settings` and feeds it the end of the history. */
    void restartStream(const StreamSettings& settings);
    /** Pushes the `count` newest samples of the history to the stream. */
    void pushHistory(int64_t count);
    void takeResult(const SceneResult& result);
    void fail(const std::string& message);
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
    bool history_reset_ = false;            ///< the history started again: so must the stream
    std::optional<StreamSettings> stream_;  ///< the settings of the stream the engine runs, or tried to
    bool stream_running_ = false;           ///< whether the engine's stream runs with stream_
    std::optional<StreamSettings> pending_; ///< settings that differ from stream_, waiting to hold still
    double pending_since_ = 0;              ///< when they were first seen (ms)
    int64_t since_start_ = 0;               ///< samples pushed since the stream started
    bool answered_ = false;                 ///< the stream gave an answer since it started
    double busy_seconds_ = 0;               ///< time in push since the last cpu_load
    int64_t busy_samples_ = 0;              ///< new audio drained meanwhile
    std::vector<const float*> pointers_;    ///< channel pointers into the history, for push
    AnalysisReport report_;
    TripleBuffer<AnalysisReport> reports_;
};

} // namespace avgraph::plugin
