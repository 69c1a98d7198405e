#include "plugins/scene_analyzer/scene_processor.h"

#include "plugins/scene_analyzer/preset_catalog.h"
#include "plugins/scene_analyzer/scene_editor.h"

// The audio thread's code gets a section of its own, and the plugin says where it is, so a host's
// checks (plugins/check_host) can tell what this code does on the audio thread from what the format
// wrapper around it does.
#define AVGRAPH_AUDIO_THREAD_CODE __attribute__((section("avgraph_audio_thread"), noinline))
extern "C" {
extern const char __start_avgraph_audio_thread[];
extern const char __stop_avgraph_audio_thread[];
__attribute__((visibility("default"))) void avgraph_audio_thread_code(const void** begin, const void** end) {
    *begin = __start_avgraph_audio_thread;
    *end = __stop_avgraph_audio_thread;
}
}

namespace avgraph::plugin {

namespace {

// Seconds of audio the ring holds: the worker drains it every few milliseconds, but not while it
// builds an engine or analyses a window, which can take a second on a slow machine.
constexpr double kRingSeconds = 8.0;

} // namespace

SceneProcessor::SceneProcessor()
    : AudioProcessor(BusesProperties()
                         .withInput("Input", juce::AudioChannelSet::stereo(), true)
                         .withOutput("Output", juce::AudioChannelSet::stereo(), true)),
      parameters_(*this, nullptr, "avgraph", layout()) {
    window_ = parameters_.getRawParameterValue("window");
    hop_ = parameters_.getRawParameterValue("hop");
    top_class_ = dynamic_cast<juce::AudioParameterInt*>(parameters_.getParameter("top_class"));
    confidence_ = dynamic_cast<juce::AudioParameterFloat*>(parameters_.getParameter("confidence"));
    worker_ = std::make_unique<AnalysisWorker>(ring_, *window_, *hop_, [this](int top, float confidence) {
        latest_top_.store(top);
        latest_confidence_.store(confidence);
        triggerAsyncUpdate();
    });
    // No preset yet: a host restoring a session sets the state next, and building the default first
    // would double the session's load time. prepareToPlay and the editor choose the default if not.
}

void SceneProcessor::chooseDefaultIfNone() {
    if (choice().first.isEmpty())
        choose(defaultPresetReference(), {});
}

SceneProcessor::~SceneProcessor() {
    worker_.reset();
    cancelPendingUpdate();
}

void SceneProcessor::handleAsyncUpdate() {
    // Each change in a gesture of its own, as an edit: hosts that record touch or latch automation
    // only record inside one.
    auto set = [](juce::RangedAudioParameter& p, float value) {
        p.beginChangeGesture();
        p.setValueNotifyingHost(p.convertTo0to1(value));
        p.endChangeGesture();
    };
    const int top = latest_top_.load();
    if (top != top_class_->get())
        set(*top_class_, static_cast<float>(top));
    const float confidence = latest_confidence_.load();
    if (confidence != confidence_->get())
        set(*confidence_, confidence);
}

juce::AudioProcessorValueTreeState::ParameterLayout SceneProcessor::layout() {
    juce::AudioProcessorValueTreeState::ParameterLayout params;
    auto seconds = juce::AudioParameterFloatAttributes().withLabel("s").withStringFromValueFunction(
        [](float v, int) { return juce::String(v, 2); });
    params.add(std::make_unique<juce::AudioParameterFloat>(
        juce::ParameterID("window", 1), "Window",
        juce::NormalisableRange<float>(0.5f, AnalysisWorker::kMaxWindowSeconds, 0.01f, 0.5f), 5.0f, seconds));
    params.add(std::make_unique<juce::AudioParameterFloat>(
        juce::ParameterID("hop", 1), "Hop", juce::NormalisableRange<float>(0.1f, 10.0f, 0.01f, 0.5f), 0.5f,
        seconds));
    params.add(std::make_unique<juce::AudioParameterInt>(
        juce::ParameterID("top_class", 1), "Top class (output)", -1, 255, -1,
        juce::AudioParameterIntAttributes().withStringFromValueFunction(
            [this](int v, int) { return worker_ ? juce::String(worker_->className(v)) : juce::String(v); })));
    params.add(std::make_unique<juce::AudioParameterFloat>(juce::ParameterID("confidence", 1),
                                                           "Confidence (output)",
                                                           juce::NormalisableRange<float>(0.0f, 1.0f), 0.0f));
    return params;
}

bool SceneProcessor::isBusesLayoutSupported(const BusesLayout& layouts) const {
    const auto in = layouts.getMainInputChannelSet(), out = layouts.getMainOutputChannelSet();
    return in == out && (out == juce::AudioChannelSet::mono() || out == juce::AudioChannelSet::stereo());
}

void SceneProcessor::prepareToPlay(double sample_rate, int) {
    chooseDefaultIfNone();
    worker_->pause();
    ring_.prepare(getTotalNumInputChannels(), static_cast<int>(std::ceil(kRingSeconds * sample_rate)));
    worker_->resume(sample_rate);
}

void SceneProcessor::releaseResources() {}

AVGRAPH_AUDIO_THREAD_CODE void SceneProcessor::processBlock(juce::AudioBuffer<float>& buffer,
                                                            juce::MidiBuffer&) {
    juce::ScopedNoDenormals no_denormals;
    const int inputs = getTotalNumInputChannels(), n = buffer.getNumSamples();
    for (int c = inputs; c < getTotalNumOutputChannels(); ++c)
        buffer.clear(c, 0, n);
    ring_.push(buffer, inputs, n); // the output is the input: the buffer is left as it came
}

juce::AudioProcessorEditor* SceneProcessor::createEditor() {
    chooseDefaultIfNone();
    return new SceneEditor(*this);
}

void SceneProcessor::choose(const juce::String& preset_reference, const juce::String& weights) {
    juce::String precision;
    {
        std::lock_guard lock(choice_mutex_);
        preset_reference_ = preset_reference;
        weights_ = weights;
        precision = precision_;
    }
    load(preset_reference, weights, precision);
}

std::pair<juce::String, juce::String> SceneProcessor::choice() const {
    std::lock_guard lock(choice_mutex_);
    return {preset_reference_, weights_};
}

juce::String SceneProcessor::knownPrecision(const juce::String& word) {
    for (const char* known : kPrecisions)
        if (word == known)
            return known;
    return "fp32";
}

void SceneProcessor::choosePrecision(const juce::String& word) {
    const juce::String precision = knownPrecision(word);
    juce::String preset, weights;
    {
        std::lock_guard lock(choice_mutex_);
        precision_ = precision;
        preset = preset_reference_;
        weights = weights_;
    }
    if (preset.isNotEmpty()) // else the default preset, when it is chosen, comes in this precision
        load(preset, weights, precision);
}

juce::String SceneProcessor::precision() const {
    std::lock_guard lock(choice_mutex_);
    return precision_;
}

void SceneProcessor::load(const juce::String& preset_reference, const juce::String& weights,
                          const juce::String& precision) {
    worker_->load({resolvePresetReference(preset_reference).getFullPathName().toStdString(),
                   weights.isEmpty() ? std::string() : weights.toStdString(), precision.toStdString()});
}

void SceneProcessor::getStateInformation(juce::MemoryBlock& data) {
    juce::XmlElement xml(kStateTag);
    xml.setAttribute("version", 1);
    juce::String preset, weights, precision;
    {
        std::lock_guard lock(choice_mutex_);
        preset = preset_reference_;
        weights = weights_;
        precision = precision_;
    }
    xml.setAttribute("preset", preset.isEmpty() ? defaultPresetReference() : preset);
    xml.setAttribute("weights", weights);
    xml.setAttribute("precision", precision);
    if (auto params = parameters_.copyState().createXml())
        xml.addChildElement(params.release());
    copyXmlToBinary(xml, data);
}

void SceneProcessor::setStateInformation(const void* data, int size) {
    const auto xml = getXmlFromBinary(data, size);
    if (!xml || !xml->hasTagName(kStateTag))
        return; // not ours (or damaged): keep the current state rather than guess
    if (auto* params = xml->getChildByName(parameters_.state.getType()))
        parameters_.replaceState(juce::ValueTree::fromXml(*params));
    // The outputs describe the audio, not the session: they start again from "none".
    latest_top_.store(-1);
    latest_confidence_.store(0.0f);
    triggerAsyncUpdate();
    const juce::String preset = xml->getStringAttribute("preset", defaultPresetReference());
    const juce::String weights = xml->getStringAttribute("weights");
    // A state from before the setting, or a word this plugin does not offer: fp32.
    const juce::String precision = knownPrecision(xml->getStringAttribute("precision", "fp32"));
    bool changed = false;
    {
        std::lock_guard lock(choice_mutex_);
        changed = preset != preset_reference_ || weights != weights_ || precision != precision_;
        preset_reference_ = preset;
        weights_ = weights;
        precision_ = precision;
    }
    if (changed)
        load(preset, weights, precision);
}

} // namespace avgraph::plugin

juce::AudioProcessor* JUCE_CALLTYPE createPluginFilter() { return new avgraph::plugin::SceneProcessor(); }
