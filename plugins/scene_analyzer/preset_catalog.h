#pragma once
/**
 * The presets the plugin offers, and how a choice is written into the plugin's state.
 *
 * The build copies `presets/` into each plugin bundle (VST3: Contents/Resources/presets, LV2 and
 * Standalone: presets/ beside the binary), so an installed plugin finds its presets wherever it is.
 * A shipped preset is stored in the state as "shipped:scene/esc10-logmel-cnn.json", so a session
 * still opens when the plugin moves; a user's file is stored as its absolute path.
 */
#include <juce_core/juce_core.h>

namespace avgraph::plugin {

struct ShippedPreset {
    juce::String id;   ///< "scene/esc10-logmel-cnn.json"
    juce::String name; ///< what the preset menu shows
    juce::File file;
};

/** The folder of shipped presets in the loaded plugin's bundle; none when the bundle lacks it. */
juce::File shippedPresetFolder();

/** The presets the plugin can run out of the box: every scene classifier and the imagined image. */
juce::Array<ShippedPreset> shippedPresets();

/** The preset a new instance starts with: the ESC-10 classifier. */
juce::String defaultPresetReference();

/** "shipped:ID" or a path -> the file (which may not exist: the engine's load reports that). */
juce::File resolvePresetReference(const juce::String& reference);

/** A file -> "shipped:ID" when it is a shipped preset, else its absolute path. */
juce::String presetReferenceFor(const juce::File& file);

} // namespace avgraph::plugin
