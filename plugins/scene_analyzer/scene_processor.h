#pragma once
/**
 * SceneProcessor: the avgraph plugin. Audio passes through untouched; a copy goes to the analysis
 * worker, which runs the chosen preset on the last `window` seconds every `hop` seconds.
 *
 * Parameters: "window" and "hop" (seconds) are the user's; "top_class" and "confidence" are outputs
 * set after each analysis, so a DAW can record or automate from them (the top class's text is the
 * class name). They are set on the message thread: there JUCE's wrappers tell the host at once
 * (VST3 performEdit), as for a user's edit. The state holds the preset, its weights, the precision of
 * its networks and the parameters.
 *
 * The audio thread only copies into the AudioRing: no allocation, lock, log or LibTorch call.
 */
#include "plugins/scene_analyzer/analysis_worker.h"
#include "plugins/scene_analyzer/audio_ring.h"

#include <juce_audio_processors/juce_audio_processors.h>

namespace avgraph::plugin {

class SceneProcessor : public juce::AudioProcessor, private juce::AsyncUpdater {
public:
    SceneProcessor();
    ~SceneProcessor() override;

    void prepareToPlay(double sample_rate, int maximum_block_size) override;
    void releaseResources() override;
    bool isBusesLayoutSupported(const BusesLayout& layouts) const override;
    void processBlock(juce::AudioBuffer<float>& buffer, juce::MidiBuffer& midi) override;
    using AudioProcessor::processBlock;

    juce::AudioProcessorEditor* createEditor() override;
    bool hasEditor() const override { return true; }

    const juce::String getName() const override { return "avgraph"; }
    bool acceptsMidi() const override { return false; }
    bool producesMidi() const override { return false; }
    double getTailLengthSeconds() const override { return 0.0; }
    int getNumPrograms() override { return 1; }
    int getCurrentProgram() override { return 0; }
    void setCurrentProgram(int) override {}
    const juce::String getProgramName(int) override { return "Default"; }
    void changeProgramName(int, const juce::String&) override {}

    void getStateInformation(juce::MemoryBlock& data) override;
    void setStateInformation(const void* data, int size) override;

    /** The user's choice (message thread): recorded in the state and built on the worker, in the
     * precision chosen last. */
    void choose(const juce::String& preset_reference, const juce::String& weights);
    /** The preset reference (preset_catalog.h) and weights chosen, read together; empty before any. */
    std::pair<juce::String, juce::String> choice() const;
    /**
     * The precision of the networks (message thread): one of kPrecisions ("fp32" for anything else).
     * Recorded in the state; the worker builds the current preset and weights again with it.
     */
    void choosePrecision(const juce::String& precision);
    /** The precision chosen: one of kPrecisions. */
    juce::String precision() const;
    /** The precisions the plugin offers (graph/precision.h's words that run on the CPU: fp16 is CUDA
     * only). */
    static constexpr const char* kPrecisions[] = {"fp32", "bf16", "auto"};
    /** `word` if it is one of kPrecisions, else "fp32". */
    static juce::String knownPrecision(const juce::String& word);
    /** The shipped default preset, unless something was chosen or restored. */
    void chooseDefaultIfNone();

    AnalysisWorker& worker() { return *worker_; }
    juce::AudioProcessorValueTreeState& parameters() { return parameters_; }

    /** Tag of the state's XML, and its attributes (docs/plugin.md documents them for hosts' scripts). */
    static constexpr const char* kStateTag = "avgraph-plugin";

private:
    juce::AudioProcessorValueTreeState::ParameterLayout layout();
    /** On the message thread: the newest analysis into the output parameters. */
    void handleAsyncUpdate() override;

    AudioRing ring_;
    juce::AudioProcessorValueTreeState parameters_;
    std::atomic<float>* window_ = nullptr;
    std::atomic<float>* hop_ = nullptr;
    juce::AudioParameterInt* top_class_ = nullptr;
    juce::AudioParameterFloat* confidence_ = nullptr;
    std::atomic<int> latest_top_{-1};
    std::atomic<float> latest_confidence_{0.0f};
    std::unique_ptr<AnalysisWorker> worker_;

    /** Asks the worker for the engine of the current choice. */
    void load(const juce::String& preset_reference, const juce::String& weights,
              const juce::String& precision);

    mutable std::mutex choice_mutex_; ///< message thread vs. the host's state calls
    juce::String preset_reference_, weights_, precision_{"fp32"};
};

} // namespace avgraph::plugin
