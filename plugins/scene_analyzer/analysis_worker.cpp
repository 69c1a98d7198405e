#include "plugins/scene_analyzer/analysis_worker.h"

#include <algorithm>
#include <cmath>

namespace avgraph::plugin {

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
        drainRing();
        analyseWindow();
        wait(5);
    }
}

void AnalysisWorker::buildEngine(const EngineChoice& choice) {
    report_.state = AnalysisReport::State::Loading;
    report_.message = "Loading " + choice.preset;
    publish();
    std::unique_ptr<SceneEngine> engine;
    try {
        engine = SceneEngine::load(choice);
    } catch (const std::exception& e) {
        engine_.reset();
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
    report_ = AnalysisReport{};
    report_.preset_name = engine_->name();
    report_.state = AnalysisReport::State::Filling;
    report_.message = "Listening";
    since_analysis_ = 0;
    publish();
}

void AnalysisWorker::drainRing() {
    std::lock_guard lock(ring_mutex_);
    if (paused_ || sample_rate_ <= 0)
        return;
    if (restart_ || rate_ != sample_rate_) {
        history_.clear();
        restart_ = false;
        rate_ = sample_rate_;
    }
    const int channels = ring_.channels();
    // The history holds the longest window the parameter allows, so a new window length takes the
    // last `window` seconds of it rather than starting again.
    const auto capacity = static_cast<size_t>(std::ceil(kMaxWindowSeconds * rate_));
    if (history_.size() != static_cast<size_t>(channels)) {
        history_.assign(static_cast<size_t>(channels), std::vector<float>(capacity, 0.0f));
        history_write_ = history_filled_ = 0;
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
    since_analysis_ += popped;
    report_.dropped = ring_.dropped();
}

void AnalysisWorker::analyseWindow() {
    if (!engine_ || history_.empty())
        return;
    const size_t capacity = history_[0].size();
    const auto window =
        std::min(capacity, static_cast<size_t>(std::max(
                               1.0, std::round(window_seconds_.load(std::memory_order_relaxed) * rate_))));
    if (history_filled_ < window) {
        const float fill = static_cast<float>(history_filled_) / static_cast<float>(window);
        if (report_.state == AnalysisReport::State::Filling && std::abs(fill - report_.window_fill) > 0.01f) {
            report_.window_fill = fill;
            publish();
        }
        return;
    }
    const double hop_seconds =
        std::max(0.01, static_cast<double>(hop_seconds_.load(std::memory_order_relaxed)));
    const auto hop = static_cast<int64_t>(std::round(hop_seconds * rate_));
    if (report_.analyses > 0 && since_analysis_ < hop)
        return;
    since_analysis_ = 0;
    // The last `window` samples in time order; the newest sample sits just before history_write_.
    window_.resize(history_.size());
    std::vector<const float*> pointers;
    const size_t start = (history_write_ + capacity - window) % capacity;
    for (size_t c = 0; c < history_.size(); ++c) {
        auto& w = window_[c];
        w.resize(window);
        const size_t first = std::min(window, capacity - start); // up to the end of the circle
        std::copy(history_[c].begin() + static_cast<std::ptrdiff_t>(start),
                  history_[c].begin() + static_cast<std::ptrdiff_t>(start + first), w.begin());
        std::copy(history_[c].begin(), history_[c].begin() + static_cast<std::ptrdiff_t>(window - first),
                  w.begin() + static_cast<std::ptrdiff_t>(first));
        pointers.push_back(w.data());
    }
    try {
        report_.result = engine_->analyse(pointers.data(), static_cast<int>(pointers.size()),
                                          static_cast<int64_t>(window), rate_);
        report_.state = AnalysisReport::State::Running;
        report_.message.clear();
    } catch (const std::exception& e) {
        report_.result = SceneResult{};
        report_.state = AnalysisReport::State::Failed;
        report_.message = e.what();
    }
    ++report_.analyses;
    report_.window_fill = 1.0f;
    report_.cpu_load = static_cast<float>(report_.result.seconds / hop_seconds);
    report_.timeline.push_back(report_.result.top);
    if (report_.timeline.size() > AnalysisReport::kTimeline)
        report_.timeline.erase(report_.timeline.begin());
    report_.timeline_names = engine_->classNames();
    if (report_.timeline_names.empty())
        report_.timeline_names = report_.result.class_names;
    publish();
    if (listener_)
        listener_(report_.result.top, report_.result.confidence);
}

void AnalysisWorker::publish() {
    reports_.write() = report_;
    reports_.publish();
}

} // namespace avgraph::plugin
