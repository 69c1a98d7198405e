#include "plugins/scene_analyzer/analysis_worker.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace avgraph::plugin {

namespace {

/** How long the window and the hop must hold still before the stream starts again with them: a host's
 *  automation or a dragged slider moves them many times a second, and each start runs the graph once. */
constexpr double kSettleMilliseconds = 250.0;
/** What a restart feeds of the history beyond the window and the engine's look-ahead: the engine's
 *  allowance for a segment's end rounded to frames (70 ms), and a margin. */
constexpr double kRefeedExtraSeconds = 0.1;

} // namespace

AnalysisWorker::AnalysisWorker(AudioRing& ring, const std::atomic<float>& window_seconds,
                               const std::atomic<float>& hop_seconds, ResultListener listener)
    : juce::Thread("avgraph analysis"), ring_(ring), window_seconds_(window_seconds),
      hop_seconds_(hop_seconds), listener_(std::move(listener)) {
    report_.message = "No preset chosen";
    publish();
    startThread();
}

// Wait for the worker however long an engine build or analysis takes: JUCE kills a thread that
// outlives the timeout, which inside LibTorch would leave its state broken.
AnalysisWorker::~AnalysisWorker() { stopThread(-1); }

void AnalysisWorker::pause() {
    std::lock_guard lock(ring_mutex_);
    paused_ = true;
}

void AnalysisWorker::resume(double sample_rate) {
    std::lock_guard lock(ring_mutex_);
    paused_ = false;
    sample_rate_ = sample_rate;
    restart_ = true; // the ring was reset: the worker starts a new history on its next drain
    notify();
}

void AnalysisWorker::load(const EngineChoice& choice) {
    {
        std::lock_guard lock(request_mutex_);
        request_ = choice;
    }
    notify();
}

std::string AnalysisWorker::className(int index) const {
    std::lock_guard lock(names_mutex_);
    if (index >= 0 && static_cast<size_t>(index) < class_names_.size())
        return class_names_[static_cast<size_t>(index)];
    return index >= 0 ? "class " + std::to_string(index) : "none";
}

void AnalysisWorker::run() {
    setAnalysisThreads(1);
    while (!threadShouldExit()) {
        std::optional<EngineChoice> request;
        {
            std::lock_guard lock(request_mutex_);
            request.swap(request_);
        }
        if (request)
            buildEngine(*request);
        analyse(drainRing());
        wait(5);
    }
}

void AnalysisWorker::buildEngine(const EngineChoice& choice) {
    report_.state = AnalysisReport::State::Loading;
    report_.message =
        "Loading " + choice.preset + (choice.precision == "fp32" ? "" : " in " + choice.precision);
    publish();
    std::unique_ptr<SceneEngine> engine;
    try {
        engine = SceneEngine::load(choice);
    } catch (const std::exception& e) {
        engine_.reset();
        stream_.reset();
        stream_running_ = false;
        report_ = AnalysisReport{};
        report_.state = AnalysisReport::State::Failed;
        report_.message = e.what();
        {
            std::lock_guard lock(names_mutex_);
            class_names_.clear();
        }
        publish();
        if (listener_)
            listener_(-1, 0.0f);
        return;
    }
    {
        std::lock_guard lock(names_mutex_);
        class_names_ = engine->classNames();
    }
    engine_ = std::move(engine); // the old engine goes here, after the new one is ready
    stream_.reset();             // the next analyse() starts the new engine's stream on the history
    stream_running_ = false;
    report_ = AnalysisReport{};
    report_.preset_name = engine_->name();
    report_.precision = engine_->precision();
    report_.precision_note = engine_->precisionNote();
    report_.precision_slow = !engine_->precisionWarning().empty();
    report_.precision_auto = choice.precision == "auto";
    report_.state = AnalysisReport::State::Filling;
    report_.message = "Listening";
    publish();
}

int64_t AnalysisWorker::drainRing() {
    std::lock_guard lock(ring_mutex_);
    if (paused_ || sample_rate_ <= 0)
        return 0;
    if (restart_ || rate_ != sample_rate_) {
        history_.clear();
        restart_ = false;
        rate_ = sample_rate_;
    }
    const int channels = ring_.channels();
    // The history holds the longest window the parameter allows, so that a new window length, hop or
    // engine starts on the last `window` seconds of it rather than on nothing.
    const auto capacity = static_cast<size_t>(std::ceil(kMaxWindowSeconds * rate_));
    if (history_.size() != static_cast<size_t>(channels)) {
        history_.assign(static_cast<size_t>(channels), std::vector<float>(capacity, 0.0f));
        history_write_ = history_filled_ = 0;
        history_reset_ = true;
    }
    const int64_t popped = ring_.pop([&](const float* const* parts, int n_channels, int n) {
        for (int i = 0; i < n;) {
            const size_t chunk = std::min(static_cast<size_t>(n - i), capacity - history_write_);
            for (int c = 0; c < n_channels; ++c)
                std::copy(parts[c] + i, parts[c] + i + static_cast<int>(chunk),
                          history_[static_cast<size_t>(c)].begin() +
                              static_cast<std::ptrdiff_t>(history_write_));
            history_write_ = (history_write_ + chunk) % capacity;
            i += static_cast<int>(chunk);
        }
    });
    history_filled_ = std::min(capacity, history_filled_ + static_cast<size_t>(popped));
    report_.dropped = ring_.dropped();
    return popped;
}

void AnalysisWorker::analyse(int64_t fresh) {
    if (!engine_ || history_.empty())
        return;
    StreamSettings wanted;
    wanted.rate = rate_;
    wanted.channels = static_cast<int>(history_.size());
    wanted.window = std::clamp(window_seconds_.load(std::memory_order_relaxed), 0.05f, kMaxWindowSeconds);
    wanted.hop = std::max(0.01f, hop_seconds_.load(std::memory_order_relaxed));
    if (!stream_ || history_reset_ || wanted.rate != stream_->rate || wanted.channels != stream_->channels) {
        // A new engine or new audio (another rate, another history): start at once.
        history_reset_ = false;
        restartStream(wanted);
    } else if (wanted != *stream_) {
        // New settings: once they hold still. Meanwhile the stream goes on with the old ones.
        const double now = juce::Time::getMillisecondCounterHiRes();
        if (!pending_ || *pending_ != wanted) {
            pending_ = wanted;
            pending_since_ = now;
        }
        if (now - pending_since_ >= kSettleMilliseconds)
            restartStream(wanted);
        else if (stream_running_)
            pushHistory(fresh);
    } else if (stream_running_) {
        pending_.reset();
        pushHistory(fresh);
    }
    // The load: time in push over the audio of the last hop.
    busy_samples_ += fresh;
    if (stream_ && static_cast<double>(busy_samples_) >= static_cast<double>(stream_->hop) * rate_) {
        report_.cpu_load = static_cast<float>(busy_seconds_ / (static_cast<double>(busy_samples_) / rate_));
        busy_seconds_ = 0;
        busy_samples_ = 0;
        publish();
    }
}

void AnalysisWorker::restartStream(const StreamSettings& settings) {
    stream_ = settings;
    pending_.reset();
    stream_running_ = false;
    since_start_ = 0;
    answered_ = false;
    try {
        engine_->startStream(settings.rate, settings.channels, settings.window, settings.hop);
    } catch (const std::exception& e) {
        fail(e.what()); // e.g. a window too short for the network: waits for other settings
        return;
    }
    stream_running_ = true;
    if (report_.state == AnalysisReport::State::Failed) { // settings it could not start with before
        report_.state = AnalysisReport::State::Filling;
        report_.message = "Listening";
        report_.window_fill = 0;
        publish();
    }
    // The end of the history: the window and the look-ahead after it, so that an answer comes now.
    const double seconds = settings.window + engine_->lookaheadSeconds() + kRefeedExtraSeconds;
    pushHistory(
        static_cast<int64_t>(std::min(history_filled_, static_cast<size_t>(std::ceil(seconds * rate_)))));
}

void AnalysisWorker::pushHistory(int64_t count) {
    if (count <= 0)
        return;
    const size_t capacity = history_[0].size();
    const auto n_channels = static_cast<int>(history_.size());
    const size_t first = (history_write_ + capacity - static_cast<size_t>(count)) % capacity;
    std::optional<SceneResult> newest;
    int64_t segments = 0;
    pointers_.resize(history_.size());
    try {
        // In time order: up to the end of the circle, then from its start.
        for (size_t done = 0; done < static_cast<size_t>(count);) {
            const size_t at = (first + done) % capacity;
            const size_t n = std::min(static_cast<size_t>(count) - done, capacity - at);
            for (size_t c = 0; c < history_.size(); ++c)
                pointers_[c] = history_[c].data() + at;
            const auto t0 = std::chrono::steady_clock::now();
            auto result = engine_->push(pointers_.data(), n_channels, static_cast<int64_t>(n));
            busy_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (result) {
                segments += result->segments;
                newest = std::move(result);
            }
            done += n;
            since_start_ += static_cast<int64_t>(n);
        }
    } catch (const std::exception& e) {
        // Input the engine refused (samples that are not finite) or a graph that failed: no window holding
        // it is answered; the stream starts again after it (the same settings: no new plan).
        fail(e.what());
        since_start_ = 0;
        answered_ = false;
        try {
            engine_->startStream(stream_->rate, stream_->channels, stream_->window, stream_->hop);
        } catch (const std::exception&) {
            stream_running_ = false;
        }
        return;
    }
    if (newest) {
        newest->segments = segments;
        takeResult(*newest);
    } else if (!answered_ && report_.state == AnalysisReport::State::Filling) {
        const double first_answer = (stream_->window + engine_->lookaheadSeconds()) * rate_;
        const auto fill = static_cast<float>(std::min(1.0, static_cast<double>(since_start_) / first_answer));
        if (std::abs(fill - report_.window_fill) > 0.01f) {
            report_.window_fill = fill;
            publish();
        }
    }
}

void AnalysisWorker::takeResult(const SceneResult& result) {
    answered_ = true;
    report_.result = result;
    report_.state = AnalysisReport::State::Running;
    report_.message.clear();
    report_.analyses += result.segments;
    report_.window_fill = 1.0f;
    report_.timeline.push_back(result.top);
    if (report_.timeline.size() > AnalysisReport::kTimeline)
        report_.timeline.erase(report_.timeline.begin());
    report_.timeline_names = engine_->classNames();
    if (report_.timeline_names.empty())
        report_.timeline_names = result.class_names;
    publish();
    if (listener_)
        listener_(result.top, result.confidence);
}

void AnalysisWorker::fail(const std::string& message) {
    report_.result = SceneResult{};
    report_.state = AnalysisReport::State::Failed;
    report_.message = message;
    publish();
}

void AnalysisWorker::publish() {
    reports_.write() = report_;
    reports_.publish();
}

} // namespace avgraph::plugin
