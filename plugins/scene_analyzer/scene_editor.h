#pragma once
/**
 * SceneEditor: what the plugin shows. Top row: the preset menu (shipped presets, or a file), its
 * weights, the precision of its networks (fp32, bf16, auto), and the window and hop. Below: the class
 * probabilities as bars (most probable first), the imagined image when the preset draws one, a scrolling
 * timeline of the top class, and a status line with the worker's CPU load or what is wrong with the preset.
 * Everything follows the editor's size.
 */
#include "plugins/scene_analyzer/preset_catalog.h"
#include "plugins/scene_analyzer/scene_processor.h"

#include <juce_gui_basics/juce_gui_basics.h>

namespace avgraph::plugin {

/** Class probabilities as horizontal bars, most probable first. */
class ProbabilityBars : public juce::Component {
public:
    void show(const SceneResult& result);
    void paint(juce::Graphics& g) override;

private:
    std::vector<std::pair<float, juce::String>> rows_;
};

/** The top class of each recent analysis, oldest on the left, one colour per class, labelled where it
 * changes. */
class TopClassTimeline : public juce::Component {
public:
    void show(const std::vector<int>& timeline, const std::vector<std::string>& names, float hop_seconds);
    void paint(juce::Graphics& g) override;

private:
    std::vector<int> timeline_;
    juce::StringArray names_;
    float hop_seconds_ = 0.5f;
};

class SceneEditor : public juce::AudioProcessorEditor, private juce::Timer {
public:
    explicit SceneEditor(SceneProcessor& processor);
    ~SceneEditor() override;

    void paint(juce::Graphics& g) override;
    void resized() override;

private:
    void timerCallback() override;
    void fillPresetMenu();
    void presetChosen();
    void chooseWeights();
    void precisionChosen();
    /** Selects the processor's precision in the menu. */
    void showPrecision();
    void showReport(const AnalysisReport& report);

    SceneProcessor& processor_;
    juce::Array<ShippedPreset> shipped_;
    juce::ComboBox preset_menu_;
    juce::TextButton weights_button_{"Weights..."};
    juce::Label weights_label_;
    juce::ComboBox precision_menu_;
    juce::Slider window_slider_, hop_slider_;
    juce::Label window_label_{{}, "Window"}, hop_label_{{}, "Hop"};
    juce::AudioProcessorValueTreeState::SliderAttachment window_attachment_, hop_attachment_;
    ProbabilityBars bars_;
    TopClassTimeline timeline_;
    juce::ImageComponent image_;
    juce::Label top_label_, status_label_, load_label_;
    std::unique_ptr<juce::FileChooser> chooser_;
    juce::TooltipWindow tooltips_{this}; ///< the full precision note and messages, on hover
    bool has_image_ = false;

    static constexpr int kOpenFileId = 10000;
};

} // namespace avgraph::plugin
