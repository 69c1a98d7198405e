#include "plugins/scene_analyzer/preset_catalog.h"

#include <dlfcn.h>

namespace avgraph::plugin {

namespace {

const juce::String kShipped = "shipped:";

/** The file this code was loaded from: the plugin's .so (or the Standalone's executable). */
juce::File thisBinary() {
    Dl_info info{};
    if (dladdr(reinterpret_cast<const void*>(&thisBinary), &info) && info.dli_fname)
        return juce::File(juce::String::fromUTF8(info.dli_fname));
    return juce::File::getSpecialLocation(juce::File::currentExecutableFile);
}

} // namespace

juce::File shippedPresetFolder() {
    const juce::File binary_dir = thisBinary().getParentDirectory();
    // VST3: <bundle>/Contents/x86_64-linux/avgraph.so -> <bundle>/Contents/Resources/presets
    // LV2 and Standalone: presets/ beside the binary.
    for (const auto& candidate :
         {binary_dir.getSiblingFile("Resources").getChildFile("presets"), binary_dir.getChildFile("presets")})
        if (candidate.isDirectory())
            return candidate;
    return {};
}

juce::Array<ShippedPreset> shippedPresets() {
    juce::Array<ShippedPreset> presets;
    const juce::File folder = shippedPresetFolder();
    if (!folder.isDirectory())
        return presets;
    auto add = [&](const juce::File& f, const juce::String& label) {
        if (f.existsAsFile())
            presets.add({f.getRelativePathFrom(folder).replaceCharacter('\\', '/'), label, f});
    };
    auto scene = folder.getChildFile("scene").findChildFiles(juce::File::findFiles, false, "*.json");
    scene.sort();
    for (const auto& f : scene)
        add(f, "Scene: " + f.getFileNameWithoutExtension());
    add(folder.getChildFile("ivf/imagine.json"), "IVF: imagined image (untrained unless given weights)");
    add(folder.getChildFile("models/cnn9-logmel.json"), "CNN9 log-mel (untrained unless given weights)");
    return presets;
}

juce::String defaultPresetReference() { return kShipped + "scene/esc10-logmel-cnn.json"; }

juce::File resolvePresetReference(const juce::String& reference) {
    if (reference.startsWith(kShipped))
        return shippedPresetFolder().getChildFile(reference.fromFirstOccurrenceOf(kShipped, false, false));
    return juce::File::isAbsolutePath(reference)
               ? juce::File(reference)
               : juce::File::getCurrentWorkingDirectory().getChildFile(reference);
}

juce::String presetReferenceFor(const juce::File& file) {
    const juce::File folder = shippedPresetFolder();
    if (folder.isDirectory() && file.isAChildOf(folder))
        return kShipped + file.getRelativePathFrom(folder).replaceCharacter('\\', '/');
    return file.getFullPathName();
}

} // namespace avgraph::plugin
