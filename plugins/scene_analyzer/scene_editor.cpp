#include "plugins/scene_analyzer/scene_editor.h"

#include <algorithm>
#include <iterator>

namespace avgraph::plugin {

namespace {

const juce::Colour kBackground(0xff15181d), kPanel(0xff1f242b), kText(0xffe6e9ee), kDim(0xff8a93a0),
    kAccent(0xff4fb3ff), kError(0xffff6b5e);

/** A class's colour: evenly spaced hues, so neighbouring classes differ. */
juce::Colour classColour(int index) {
    if (index < 0)
        return kDim.withAlpha(0.4f);
    return juce::Colour::fromHSV(std::fmod(static_cast<float>(index) * 0.618034f, 1.0f), 0.55f, 0.9f, 1.0f);
}

juce::String className(const std::vector<std::string>& names, int index) {
    if (index < 0)
        return "-";
    return static_cast<size_t>(index) < names.size() ? juce::String(names[static_cast<size_t>(index)])
                                                     : "class " + juce::String(index);
}

} // namespace

void ProbabilityBars::show(const SceneResult& result) {
    rows_.clear();
    for (size_t i = 0; i < result.probabilities.size(); ++i)
        rows_.emplace_back(result.probabilities[i], className(result.class_names, static_cast<int>(i)));
    std::stable_sort(rows_.begin(), rows_.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    repaint();
}

void ProbabilityBars::paint(juce::Graphics& g) {
    g.fillAll(kPanel);
    auto area = getLocalBounds().reduced(8);
    if (rows_.empty()) {
        g.setColour(kDim);
        g.drawText("No class probabilities yet", area, juce::Justification::centred);
        return;
    }
    const int row_height = juce::jlimit(12, 28, area.getHeight() / static_cast<int>(rows_.size()));
    const int label_width = juce::jmin(180, area.getWidth() / 3);
    g.setFont(juce::Font(static_cast<float>(row_height) * 0.62f));
    for (size_t i = 0; i < rows_.size() && area.getHeight() >= row_height; ++i) {
        auto row = area.removeFromTop(row_height).reduced(0, 2);
        auto label = row.removeFromLeft(label_width);
        auto value = row.removeFromRight(52);
        g.setColour(i == 0 ? kText : kDim);
        g.drawText(rows_[i].second, label, juce::Justification::centredLeft, true);
        g.drawText(juce::String(rows_[i].first * 100.0f, 1) + " %", value, juce::Justification::centredRight);
        g.setColour(kBackground);
        g.fillRect(row);
        g.setColour(i == 0 ? kAccent : kAccent.withAlpha(0.45f));
        g.fillRect(row.withWidth(
            juce::roundToInt(static_cast<float>(row.getWidth()) * juce::jlimit(0.0f, 1.0f, rows_[i].first))));
    }
}

void TopClassTimeline::show(const std::vector<int>& timeline, const std::vector<std::string>& names,
                            float hop_seconds) {
    timeline_ = timeline;
    names_.clear();
    for (const auto& n : names)
        names_.add(n);
    hop_seconds_ = hop_seconds;
    repaint();
}

void TopClassTimeline::paint(juce::Graphics& g) {
    g.fillAll(kPanel);
    auto area = getLocalBounds().reduced(8);
    auto axis = area.removeFromBottom(14);
    g.setFont(juce::Font(12.0f));
    g.setColour(kDim);
    const int slots = static_cast<int>(AnalysisReport::kTimeline);
    g.drawText(juce::String(juce::roundToInt(static_cast<float>(slots) * hop_seconds_)) + " s ago", axis,
               juce::Justification::centredLeft);
    g.drawText("now", axis, juce::Justification::centredRight);
    if (timeline_.empty()) {
        g.drawText("Timeline of the top class", area, juce::Justification::centred);
        return;
    }
    const float slot_width = static_cast<float>(area.getWidth()) / static_cast<float>(slots);
    const float x0 = static_cast<float>(area.getRight()) - slot_width * static_cast<float>(timeline_.size());
    g.setFont(juce::Font(13.0f));
    for (size_t i = 0; i < timeline_.size();) {
        size_t j = i;
        while (j < timeline_.size() && timeline_[j] == timeline_[i])
            ++j;
        const juce::Rectangle<float> run(
            x0 + slot_width * static_cast<float>(i), static_cast<float>(area.getY()),
            slot_width * static_cast<float>(j - i), static_cast<float>(area.getHeight()));
        g.setColour(classColour(timeline_[i]));
        g.fillRect(run);
        if (run.getWidth() > 30.0f && timeline_[i] >= 0) {
            g.setColour(kBackground);
            const juce::String name =
                timeline_[i] < names_.size() ? names_[timeline_[i]] : "class " + juce::String(timeline_[i]);
            g.drawText(name, run.reduced(4.0f, 2.0f), juce::Justification::centredLeft, true);
        }
        i = j;
    }
}

SceneEditor::SceneEditor(SceneProcessor& owner)
    : AudioProcessorEditor(owner), processor_(owner),
      window_attachment_(owner.parameters(), "window", window_slider_),
      hop_attachment_(owner.parameters(), "hop", hop_slider_) {
    for (auto* label :
         {&window_label_, &hop_label_, &weights_label_, &top_label_, &status_label_, &load_label_}) {
        label->setColour(juce::Label::textColourId, kText);
        addAndMakeVisible(*label);
    }
    for (auto* slider : {&window_slider_, &hop_slider_}) {
        slider->setSliderStyle(juce::Slider::LinearHorizontal);
        slider->setTextBoxStyle(juce::Slider::TextBoxRight, false, 56, 20);
        slider->setTextValueSuffix(" s");
        addAndMakeVisible(*slider);
    }
    for (int i = 0; i < static_cast<int>(std::size(SceneProcessor::kPrecisions)); ++i)
        precision_menu_.addItem(SceneProcessor::kPrecisions[i], i + 1);
    precision_menu_.setTooltip("Precision of the preset's networks (features stay float32). bf16 is fast "
                               "only on CPUs with avx512_bf16 or AMX, emulated and slow elsewhere; auto "
                               "picks bf16 where it is native, else fp32");
    precision_menu_.onChange = [this] { precisionChosen(); };
    addAndMakeVisible(precision_menu_);
    fillPresetMenu();
    preset_menu_.onChange = [this] { presetChosen(); };
    addAndMakeVisible(preset_menu_);
    weights_button_.onClick = [this] { chooseWeights(); };
    addAndMakeVisible(weights_button_);
    weights_label_.setColour(juce::Label::textColourId, kDim);
    top_label_.setFont(juce::Font(22.0f, juce::Font::bold));
    load_label_.setColour(juce::Label::textColourId, kDim);
    load_label_.setJustificationType(juce::Justification::centredRight);
    image_.setImagePlacement(juce::RectanglePlacement::centred);
    addAndMakeVisible(bars_);
    addAndMakeVisible(timeline_);
    addChildComponent(image_);

    setResizable(true, true);
    setResizeLimits(520, 360, 2400, 1600);
    setSize(820, 520);
    // What the worker last said, even if an earlier editor already took it.
    processor_.worker().reports().update();
    showReport(processor_.worker().reports().read());
    startTimerHz(20);
}

SceneEditor::~SceneEditor() { stopTimer(); }

void SceneEditor::fillPresetMenu() {
    shipped_ = shippedPresets();
    preset_menu_.clear(juce::dontSendNotification);
    const auto [current, weights] = processor_.choice();
    int selected = 0;
    for (int i = 0; i < shipped_.size(); ++i) {
        preset_menu_.addItem(shipped_[i].name, i + 1);
        if (presetReferenceFor(shipped_[i].file) == current)
            selected = i + 1;
    }
    if (selected == 0) {
        // A user's file: shown by name above the separator.
        preset_menu_.addItem(resolvePresetReference(current).getFileName(), shipped_.size() + 1);
        selected = shipped_.size() + 1;
    }
    preset_menu_.addSeparator();
    preset_menu_.addItem("Open preset file...", kOpenFileId);
    preset_menu_.setSelectedId(selected, juce::dontSendNotification);
    showPrecision();
    weights_label_.setText(weights.isEmpty() ? "weights: as the preset names them"
                                             : "weights: " + juce::File(weights).getFileName(),
                           juce::dontSendNotification);
}

void SceneEditor::presetChosen() {
    const int id = preset_menu_.getSelectedId();
    if (id == kOpenFileId) {
        chooser_ = std::make_unique<juce::FileChooser>("Open an avgraph preset", juce::File(), "*.json");
        chooser_->launchAsync(juce::FileBrowserComponent::openMode |
                                  juce::FileBrowserComponent::canSelectFiles,
                              [this](const juce::FileChooser& chooser) {
                                  const auto file = chooser.getResult();
                                  if (file.existsAsFile())
                                      processor_.choose(presetReferenceFor(file), {});
                                  fillPresetMenu();
                              });
        return;
    }
    if (id >= 1 && id <= shipped_.size())
        processor_.choose(presetReferenceFor(shipped_[id - 1].file), {});
    fillPresetMenu();
}

void SceneEditor::chooseWeights() {
    chooser_ = std::make_unique<juce::FileChooser>("Weights: a .pt file, or the run folder of avgraph train",
                                                   juce::File(), "*.pt");
    chooser_->launchAsync(juce::FileBrowserComponent::openMode | juce::FileBrowserComponent::canSelectFiles |
                              juce::FileBrowserComponent::canSelectDirectories,
                          [this](const juce::FileChooser& chooser) {
                              const auto file = chooser.getResult();
                              if (file.exists())
                                  processor_.choose(processor_.choice().first, file.getFullPathName());
                              fillPresetMenu();
                          });
}

void SceneEditor::showPrecision() {
    const juce::String precision = processor_.precision();
    for (int i = 0; i < static_cast<int>(std::size(SceneProcessor::kPrecisions)); ++i)
        if (precision == SceneProcessor::kPrecisions[i])
            precision_menu_.setSelectedId(i + 1, juce::dontSendNotification);
}

void SceneEditor::precisionChosen() {
    const int id = precision_menu_.getSelectedId();
    if (id >= 1 && id <= static_cast<int>(std::size(SceneProcessor::kPrecisions)) &&
        processor_.precision() != SceneProcessor::kPrecisions[id - 1])
        processor_.choosePrecision(SceneProcessor::kPrecisions[id - 1]);
}

void SceneEditor::timerCallback() {
    auto& reports = processor_.worker().reports();
    if (reports.update())
        showReport(reports.read());
}

void SceneEditor::showReport(const AnalysisReport& report) {
    using State = AnalysisReport::State;
    showPrecision(); // a host may have restored a state with another one
    bars_.show(report.result);
    timeline_.show(report.timeline, report.timeline_names,
                   processor_.parameters().getRawParameterValue("hop")->load());
    top_label_.setText(report.result.top >= 0
                           ? className(report.result.class_names, report.result.top) + "  " +
                                 juce::String(juce::roundToInt(report.result.confidence * 100.0f)) + " %"
                           : juce::String(report.preset_name),
                       juce::dontSendNotification);
    juce::String status;
    switch (report.state) {
    case State::NoPreset:
        status = "No preset: choose one above";
        break;
    case State::Loading:
        status = report.message;
        break;
    case State::Filling:
        status = juce::String(report.preset_name) + ": listening, window " +
                 juce::String(juce::roundToInt(report.window_fill * 100.0f)) + " % full";
        break;
    case State::Running:
        status =
            juce::String(report.preset_name) + ": " + juce::String(report.analyses) + " windows analysed";
        break;
    case State::Failed:
        status = "Problem: " + juce::String(report.message);
        break;
    }
    // The precision in a word or two, unless it is plain fp32 (the whole note, with its reason or
    // warning, on hover).
    if (!report.precision.empty() && (report.precision != "fp32" || report.precision_auto) &&
        report.state != State::Failed && report.state != State::Loading) {
        status += ", " + juce::String(report.precision);
        if (report.precision_slow)
            status += " (emulated, slow)";
        else if (report.precision_auto)
            status += " (auto)";
    }
    status_label_.setText(status, juce::dontSendNotification);
    status_label_.setColour(juce::Label::textColourId, report.state == State::Failed ? kError : kText);
    status_label_.setTooltip(report.message.empty() ? report.precision_note : report.message);
    load_label_.setText(
        "worker CPU " + juce::String(report.cpu_load * 100.0f, 1) + " %" +
            (report.dropped > 0 ? ", " + juce::String(report.dropped) + " samples skipped" : ""),
        juce::dontSendNotification);
    const bool image = !report.result.image_rgb.empty();
    if (image) {
        juce::Image picture(juce::Image::RGB, report.result.image_width, report.result.image_height, false);
        juce::Image::BitmapData pixels(picture, juce::Image::BitmapData::writeOnly);
        const uint8_t* rgb = report.result.image_rgb.data();
        for (int y = 0; y < report.result.image_height; ++y)
            for (int x = 0; x < report.result.image_width; ++x, rgb += 3)
                pixels.setPixelColour(x, y, juce::Colour(rgb[0], rgb[1], rgb[2]));
        image_.setImage(picture);
    }
    if (image != has_image_) {
        has_image_ = image;
        image_.setVisible(image);
        resized();
    }
}

void SceneEditor::paint(juce::Graphics& g) { g.fillAll(kBackground); }

void SceneEditor::resized() {
    auto area = getLocalBounds().reduced(10);
    auto top = area.removeFromTop(28);
    preset_menu_.setBounds(top.removeFromLeft(juce::jmin(340, top.getWidth() / 2)));
    top.removeFromLeft(8);
    weights_button_.setBounds(top.removeFromLeft(90));
    top.removeFromLeft(8);
    precision_menu_.setBounds(top.removeFromLeft(72));
    top.removeFromLeft(8);
    weights_label_.setBounds(top);
    area.removeFromTop(6);
    auto sliders = area.removeFromTop(26);
    const int half = sliders.getWidth() / 2;
    auto left = sliders.removeFromLeft(half), right = sliders;
    window_label_.setBounds(left.removeFromLeft(60));
    window_slider_.setBounds(left.reduced(4, 0));
    hop_label_.setBounds(right.removeFromLeft(40));
    hop_slider_.setBounds(right.reduced(4, 0));
    area.removeFromTop(6);
    auto status = area.removeFromBottom(22);
    load_label_.setBounds(status.removeFromRight(juce::jmin(300, status.getWidth() / 3)));
    status_label_.setBounds(status);
    top_label_.setBounds(area.removeFromTop(32));
    area.removeFromTop(4);
    auto timeline = area.removeFromBottom(juce::jlimit(60, 140, area.getHeight() / 4));
    area.removeFromBottom(8);
    timeline_.setBounds(timeline);
    if (has_image_) {
        const int side = juce::jmin(area.getHeight(), area.getWidth() / 2);
        image_.setBounds(area.removeFromRight(side));
        area.removeFromRight(8);
    }
    bars_.setBounds(area);
}

} // namespace avgraph::plugin
