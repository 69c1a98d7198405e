// avgraph-plugin-check: loads the built avgraph plugin as a DAW does (JUCE's VST3 or LV2 hosting)
// and checks what pluginval's users rely on, plus what the plugin promises:
//
//   - output equals input, sample for sample, and holds no NaN or infinity, for sample rates
//     22.05-192 kHz and blocks of 1 to 4096 samples, and (LV2) for blocks larger than prepared
//   - no heap allocation and no lock by avgraph's audio-thread code once prepared, what the format
//     wrapper around it does printed beside (allocation_counter.h; AVGRAPH_CHECK_TRACE=1 prints the
//     stacks of the first ones)
//   - state saved and restored into a fresh instance (preset, weights, precision, parameters); a state
//     without a precision or with one the plugin does not offer runs in fp32; bypass; parameter
//     changes while processing; a preset swapped through the state while audio runs, without a dropout
//   - a real recording played in real time: the top-class output parameter names the expected class
//     within the analysis window
//   - optional: an editor screenshot (under Xvfb)
//
//   avgraph-plugin-check PLUGIN (.vst3 bundle or .lv2 bundle) [--wav CLIP --expect CLASS [--expect-index I]]
//                        [--screenshot FILE.png] [--preset REFERENCE [--weights FILE|RUN_DIR]]
//                        [--precision fp32|bf16|auto]
//
// --preset chooses what the recording and the screenshot run with (a path, or shipped:PATH inside the
// bundle; docs/plugin.md), instead of the default ESC-10 classifier; --precision the precision of its
// networks (the state's "precision" attribute), instead of fp32.
//   avgraph-plugin-check PLUGIN --costs FILE.md     the benchmark instead: the audio thread's cost per
//                                                   block at 48 kHz (p50, p99), 64-1024 samples
//
// (An LV2 host shows the top-class output as its number, a VST3 host as the plugin's text: the class
// name; --expect-index is the number for LV2.)
//
// Prints one line per check and exits non-zero when any fails.
#include "plugins/check_host/allocation_counter.h"

#include <juce_audio_formats/juce_audio_formats.h>
#include <juce_audio_processors/juce_audio_processors.h>
#include <juce_gui_basics/juce_gui_basics.h>

#include <X11/Xlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>
#include <mutex>
#include <random>
#include <regex>
#include <thread>

namespace {

using Clock = std::chrono::steady_clock;

int failures = 0;

void report(bool ok, const juce::String& check, const juce::String& detail = {}) {
    std::cout << (ok ? "PASS  " : "FAIL  ") << check << (detail.isEmpty() ? "" : "  (" + detail + ")")
              << std::endl;
    if (!ok)
        ++failures;
}

/** Lets the message thread run (parameter and state callbacks, the editor's timer) for a while. */
void pump(int milliseconds) { juce::MessageManager::getInstance()->runDispatchLoopUntil(milliseconds); }

juce::AudioProcessorParameter* parameterNamed(juce::AudioPluginInstance& plugin, const juce::String& prefix) {
    for (auto* p : plugin.getParameters())
        if (p->getName(128).startsWith(prefix))
            return p;
    return nullptr;
}

/** What processing a stretch of audio showed. */
struct Processed {
    bool identical = true, finite = true;
    int64_t allocations = 0, locks = 0, blocks = 0; ///< by the plugin binary, format wrapper included
    int64_t own_allocations = 0, own_locks = 0;     ///< by avgraph's audio-thread code
    juce::String first_difference;
};

/** The plugin's own code neither allocated nor locked on the audio thread. */
bool realtimeClean(const Processed& r) { return r.own_allocations == 0 && r.own_locks == 0; }

juce::String realtimeDetail(const Processed& r) {
    return juce::String(r.blocks) + " blocks; avgraph's code: " + juce::String(r.own_allocations) +
           " allocations, " + juce::String(r.own_locks) +
           " locks; the whole plugin binary with its format wrapper: " + juce::String(r.allocations) +
           " allocations, " + juce::String(r.locks) + " locks" +
           (r.identical ? "" : "; differs at " + r.first_difference) +
           (r.finite ? "" : "; NaN/Inf in the output");
}

/**
 * Feeds `input` (channels x samples) through the plugin in blocks of `block` samples, as the audio
 * thread would, checking each output block against its input. `between` runs between blocks
 * outside the counted scope (what the host's other threads would do meanwhile).
 */
Processed processThrough(juce::AudioPluginInstance& plugin, const juce::AudioBuffer<float>& input, int block,
                         bool bypassed = false, const std::function<void(int)>& between = {},
                         std::vector<double>* block_seconds = nullptr, bool real_time = false,
                         double rate = 48000) {
    Processed result;
    const int channels = plugin.getTotalNumOutputChannels();
    juce::AudioBuffer<float> buffer(channels, block);
    juce::MidiBuffer midi;
    midi.ensureSize(256);
    const auto start = Clock::now();
    for (int offset = 0, index = 0; offset < input.getNumSamples(); offset += block, ++index) {
        const int n = std::min(block, input.getNumSamples() - offset);
        buffer.setSize(channels, n, false, false, true); // never grows: n <= block
        for (int c = 0; c < channels; ++c)
            buffer.copyFrom(c, 0, input, c % input.getNumChannels(), offset, n);
        midi.clear();
        {
            avgraph::check::RealtimeScope scope;
            const auto t0 = Clock::now();
            if (bypassed)
                plugin.processBlockBypassed(buffer, midi);
            else
                plugin.processBlock(buffer, midi);
            const auto t1 = Clock::now();
            result.allocations += scope.allocations();
            result.locks += scope.locks();
            result.own_allocations += scope.ownAllocations();
            result.own_locks += scope.ownLocks();
            if (block_seconds)
                block_seconds->push_back(std::chrono::duration<double>(t1 - t0).count());
        }
        ++result.blocks;
        for (int c = 0; c < channels && result.identical; ++c) {
            const float* out = buffer.getReadPointer(c);
            const float* in = input.getReadPointer(c % input.getNumChannels(), offset);
            for (int i = 0; i < n; ++i) {
                if (!std::isfinite(out[i]))
                    result.finite = false;
                if (out[i] != in[i]) {
                    result.identical = false;
                    result.first_difference = "channel " + juce::String(c) + " sample " +
                                              juce::String(offset + i) + ": in " + juce::String(in[i], 9) +
                                              ", out " + juce::String(out[i], 9);
                    break;
                }
            }
        }
        if (between)
            between(index);
        if (real_time) {
            // Hold the pace of a real audio callback (on the message thread, letting it run meanwhile).
            const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>((offset + n) / rate));
            const bool message_thread = juce::MessageManager::getInstance()->isThisTheMessageThread();
            while (Clock::now() < due)
                if (message_thread)
                    pump(2);
                else
                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    return result;
}

juce::AudioBuffer<float> noise(int channels, int samples, unsigned seed) {
    juce::AudioBuffer<float> b(channels, samples);
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-0.9f, 0.9f);
    for (int c = 0; c < channels; ++c)
        for (int i = 0; i < samples; ++i)
            b.setSample(c, i, u(rng));
    return b;
}

std::unique_ptr<juce::AudioPluginInstance> instantiate(juce::AudioPluginFormatManager& formats,
                                                       const juce::PluginDescription& description,
                                                       double rate, int block) {
    juce::String error;
    auto plugin = formats.createPluginInstance(description, rate, block, error);
    if (!plugin) {
        report(false, "instantiate " + description.name, error);
        return nullptr;
    }
    plugin->enableAllBuses();
    return plugin;
}

void prepare(juce::AudioPluginInstance& plugin, double rate, int block) {
    plugin.releaseResources();
    plugin.setRateAndBufferSizeDetails(rate, block);
    plugin.prepareToPlay(rate, block);
}

/** Parameter changes reach a hosted plugin with its next block (VST3 sends them in process()). */
void settle(juce::AudioPluginInstance& plugin) {
    juce::AudioBuffer<float> silence(2, 2048);
    silence.clear();
    processThrough(plugin, silence, 512);
    pump(100);
}

/**
 * Finds the avgraph plugin's own state (its XML, docs/plugin.md) inside what a host's wrapper saved,
 * and lets `edit` change it. The plugin writes its XML with copyXmlToBinary ("VC2!", length, text);
 * JUCE's VST3 host wraps that in XML of its own, its LV2 host in Turtle, both as JUCE base64 tokens
 * ("<size>.<chars>"). Returns whether the plugin's XML was found; `bytes` holds the edited state.
 */
bool visitPluginState(std::string& bytes, const std::function<bool(juce::XmlElement&)>& edit) {
    static const std::string magic = "VC2!";
    if (const auto pos = bytes.find(magic); pos != std::string::npos && bytes.size() >= pos + 8) {
        uint32_t length = 0;
        std::memcpy(&length, bytes.data() + pos + 4, 4);
        if (auto xml = juce::AudioProcessor::getXmlFromBinary(bytes.data() + pos,
                                                              static_cast<int>(bytes.size() - pos))) {
            const size_t region = std::min(bytes.size() - pos, size_t{8} + length + 1);
            bool changed = false, found = false;
            if (xml->hasTagName("avgraph-plugin")) {
                found = true;
                changed = edit(*xml);
            } else {
                std::string text = xml->toString().toStdString();
                found = visitPluginState(text, [&](juce::XmlElement& e) { return changed = edit(e); });
                if (found && changed)
                    xml = juce::parseXML(juce::String(text));
            }
            if (found && changed && xml) {
                juce::MemoryBlock rewritten;
                juce::AudioProcessor::copyXmlToBinary(*xml, rewritten);
                bytes.replace(pos, region, static_cast<const char*>(rewritten.getData()),
                              rewritten.getSize());
            }
            if (found)
                return true;
        }
    }
    static const std::regex token(R"(([0-9]+)\.([.A-Za-z0-9+]+))");
    for (auto it = std::sregex_iterator(bytes.begin(), bytes.end(), token); it != std::sregex_iterator();
         ++it) {
        juce::MemoryBlock decoded;
        if (!decoded.fromBase64Encoding(juce::String(it->str())) || decoded.getSize() < 8)
            continue;
        std::string inner(static_cast<const char*>(decoded.getData()), decoded.getSize());
        bool changed = false;
        if (!visitPluginState(inner, [&](juce::XmlElement& e) { return changed = edit(e); }))
            continue;
        if (changed)
            bytes.replace(static_cast<size_t>(it->position()), static_cast<size_t>(it->length()),
                          juce::MemoryBlock(inner.data(), inner.size()).toBase64Encoding().toStdString());
        return true;
    }
    return false;
}

std::string savedState(juce::AudioPluginInstance& plugin) {
    juce::MemoryBlock state;
    plugin.getStateInformation(state);
    return std::string(static_cast<const char*>(state.getData()), state.getSize());
}

/** The plugin's own XML in the host's saved state, or null. */
std::unique_ptr<juce::XmlElement> pluginStateXml(juce::AudioPluginInstance& plugin) {
    std::string bytes = savedState(plugin);
    std::unique_ptr<juce::XmlElement> copy;
    visitPluginState(bytes, [&](juce::XmlElement& e) {
        copy = std::make_unique<juce::XmlElement>(e);
        return false;
    });
    return copy;
}

/** The host's saved state with the plugin's XML changed by `edit`. */
std::string editedState(juce::AudioPluginInstance& plugin,
                        const std::function<void(juce::XmlElement&)>& edit) {
    std::string bytes = savedState(plugin);
    visitPluginState(bytes, [&](juce::XmlElement& e) {
        edit(e);
        return true;
    });
    return bytes;
}

/** The host's saved state with another preset (and weights) chosen in the plugin's XML. */
std::string stateWith(juce::AudioPluginInstance& plugin, const juce::String& preset,
                      const juce::String& weights = {}) {
    return editedState(plugin, [&](juce::XmlElement& e) {
        e.setAttribute("preset", preset);
        e.setAttribute("weights", weights);
    });
}

void restore(juce::AudioPluginInstance& plugin, const std::string& state) {
    plugin.setStateInformation(state.data(), static_cast<int>(state.size()));
}

void checkSampleRatesAndBlocks(juce::AudioPluginInstance& plugin, bool vst3) {
    for (double rate : {22050.0, 44100.0, 48000.0, 88200.0, 96000.0, 192000.0}) {
        prepare(plugin, rate, 4096);
        const auto input = noise(2, static_cast<int>(rate * 0.25), static_cast<unsigned>(rate));
        for (int block : {1, 64, 480, 1024, 4096}) {
            const auto r = processThrough(plugin, input, block);
            report(r.identical && r.finite && realtimeClean(r),
                   "passes audio through at " + juce::String(rate / 1000.0, 2) + " kHz, blocks of " +
                       juce::String(block),
                   realtimeDetail(r));
        }
    }
    // Hosts may send more than they announced (some do on the first block after a transport jump).
    // VST3 forbids it (maxSamplesPerBlock is a promise), and JUCE's VST3 host overruns its own
    // buffers if asked to: that case runs through LV2.
    if (vst3) {
        std::cout << "SKIP  blocks larger than prepared: VST3 hosts may not send them "
                     "(processSetup.maxSamplesPerBlock)"
                  << std::endl;
        return;
    }
    prepare(plugin, 48000.0, 256);
    const auto r = processThrough(plugin, noise(2, 48000, 7), 4096);
    report(r.identical && r.finite && realtimeClean(r), "blocks of 4096 after preparing for 256",
           realtimeDetail(r));
}

void checkBypassAndParameters(juce::AudioPluginInstance& plugin) {
    prepare(plugin, 48000.0, 512);
    const auto input = noise(2, 48000, 11);
    auto r = processThrough(plugin, input, 512, /*bypassed=*/true);
    report(r.identical && r.finite, "bypassed: output equals input", r.first_difference);

    auto* window = parameterNamed(plugin, "Window");
    auto* hop = parameterNamed(plugin, "Hop");
    report(window && hop, "has Window and Hop parameters");
    if (!window || !hop)
        return;
    // A host thread moves the parameters while the audio thread processes.
    std::atomic<bool> done{false};
    std::thread automation([&] {
        std::mt19937 rng(3);
        std::uniform_real_distribution<float> u(0.0f, 1.0f);
        while (!done) {
            window->setValueNotifyingHost(u(rng));
            hop->setValueNotifyingHost(u(rng));
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    });
    r = processThrough(plugin, noise(2, 48000 * 2, 12), 256);
    done = true;
    automation.join();
    report(r.identical && r.finite && realtimeClean(r),
           "parameters changed from another thread while processing", realtimeDetail(r));
    // JUCE's VST3 host queues changes made off the message thread for its timer: let it deliver them
    // before the reset, or they arrive after it.
    pump(300);
    // Back to 5 s every 0.5 s (by text: a host's idea of the normalised default may differ from the
    // plugin's).
    window->setValueNotifyingHost(window->getValueForText("5"));
    hop->setValueNotifyingHost(hop->getValueForText("0.5"));
    settle(plugin);
}

void checkState(juce::AudioPluginFormatManager& formats, const juce::PluginDescription& description,
                juce::AudioPluginInstance& plugin, const juce::File& presets) {
    // Not the defaults, so that a restore that ignored them would show: the untrained CNN9 with the
    // shipped classifier's weights (a file in the bundle) in bf16, and a window of 0.25 of its range.
    const auto original = savedState(plugin);
    const juce::String preset = "shipped:models/cnn9-logmel.json";
    const juce::String weights = presets.getChildFile("scene/esc10-logmel-cnn.pt").getFullPathName();
    const juce::String precision = "bf16";
    restore(plugin, editedState(plugin, [&](juce::XmlElement& e) {
                e.setAttribute("preset", preset);
                e.setAttribute("weights", weights);
                e.setAttribute("precision", precision);
            }));
    auto* window = parameterNamed(plugin, "Window");
    if (window)
        window->setValueNotifyingHost(0.25f);
    settle(plugin);
    const auto saved = savedState(plugin);
    const auto ours = pluginStateXml(plugin);
    report(ours != nullptr && ours->getStringAttribute("preset") == preset &&
               ours->getStringAttribute("weights") == weights &&
               ours->getStringAttribute("precision") == precision,
           "the saved state holds the plugin's XML with the chosen preset, weights and precision",
           ours ? ours->getStringAttribute("preset") + ", " + ours->getStringAttribute("weights") + ", " +
                      ours->getStringAttribute("precision")
                : juce::String());
    // A state from before the precision setting, and one with a precision the plugin does not offer
    // (fp16 is CUDA only): fp32.
    for (const juce::String stored : {"", "fp16", "fp64"}) {
        restore(plugin, editedState(plugin, [&](juce::XmlElement& e) {
                    if (stored.isEmpty())
                        e.removeAttribute("precision");
                    else
                        e.setAttribute("precision", stored);
                }));
        const auto now = pluginStateXml(plugin);
        const juce::String read = now ? now->getStringAttribute("precision") : juce::String("?");
        report(read == "fp32",
               "a restored state with " +
                   (stored.isEmpty() ? juce::String("no precision") : "precision " + stored) +
                   " runs in fp32",
               "saved again as " + read);
    }
    restore(plugin, saved);
    settle(plugin);
    auto other = instantiate(formats, description, 48000.0, 512);
    if (!other || !ours)
        return;
    restore(*other, saved);
    prepare(*other, 48000.0, 512);
    settle(*other);
    const auto restored = pluginStateXml(*other);
    auto* other_window = parameterNamed(*other, "Window");
    // 0.25 of the range, as the plugin snaps it to its 0.01-s steps.
    const bool same_window = window && other_window && std::abs(other_window->getValue() - 0.25f) < 1e-3f;
    const bool same_choice = restored && restored->getStringAttribute("preset") == preset &&
                             restored->getStringAttribute("weights") == weights &&
                             restored->getStringAttribute("precision") == precision;
    report(same_choice && same_window, "state saved and restored into a new instance",
           juce::String(saved.size()) + " bytes; restored preset " +
               (restored ? restored->getStringAttribute("preset") : juce::String("?")) + " in " +
               (restored ? restored->getStringAttribute("precision") : juce::String("?")) + ", window " +
               (other_window ? other_window->getCurrentValueAsText() : juce::String("?")) + " s");
    restore(plugin, original);
    settle(plugin);
}

/** Plays a recording in real time: the top-class output must name `expected` within the window. */
void checkRecording(juce::AudioPluginInstance& plugin, const juce::File& wav, const juce::String& expected,
                    const juce::String& expected_index) {
    juce::AudioFormatManager readers;
    readers.registerBasicFormats();
    std::unique_ptr<juce::AudioFormatReader> reader(readers.createReaderFor(wav));
    if (!reader) {
        report(false, "read " + wav.getFullPathName());
        return;
    }
    const double rate = reader->sampleRate;
    juce::AudioBuffer<float> clip(static_cast<int>(reader->numChannels),
                                  static_cast<int>(reader->lengthInSamples));
    reader->read(&clip, 0, clip.getNumSamples(), 0, true, true);
    auto* top = parameterNamed(plugin, "Top class");
    auto* confidence = parameterNamed(plugin, "Confidence");
    auto* window = parameterNamed(plugin, "Window");
    report(top && confidence && window, "has the Top class and Confidence output parameters");
    if (!top || !confidence || !window)
        return;
    const double window_seconds = window->getCurrentValueAsText().getDoubleValue();
    prepare(plugin, rate, 512); // a new sample rate: the worker starts a new history
    // Restoring the state sets the outputs back to "none" (-1, the bottom of the range): what the
    // earlier checks' noise was classified as must not count for the recording.
    restore(plugin, savedState(plugin));
    for (int i = 0; i < 100 && top->getValue() > 1e-6f; ++i)
        settle(plugin);
    report(top->getValue() <= 1e-6f, "the top-class output reads \"none\" before the recording",
           top->getCurrentValueAsText());
    // Twice the clip (ESC-10 clips loop well), at the pace of a real audio callback.
    juce::AudioBuffer<float> twice(clip.getNumChannels(), clip.getNumSamples() * 2);
    for (int c = 0; c < clip.getNumChannels(); ++c) {
        twice.copyFrom(c, 0, clip, c, 0, clip.getNumSamples());
        twice.copyFrom(c, clip.getNumSamples(), clip, c, 0, clip.getNumSamples());
    }
    double found_at = -1;
    juce::String last;
    const auto r = processThrough(
        plugin, twice, 512, false,
        [&](int index) {
            last = top->getCurrentValueAsText();
            // VST3 hosts show the plugin's text (the class name); LV2 hosts the port's value (the index).
            if (found_at < 0 && (last == expected || (expected_index.isNotEmpty() && last == expected_index)))
                found_at = (index + 1) * 512 / rate;
        },
        nullptr, /*real_time=*/true, rate);
    report(r.identical && r.finite && realtimeClean(r),
           "a real recording passes through unchanged (" + wav.getFileName() + ", " + juce::String(rate, 0) +
               " Hz)",
           realtimeDetail(r));
    // The worker answers for a window once the stream is past its end by the graph's look-ahead: the
    // shared CNN9 trunk's margin of 48 log-mel frames (0.77 s at 16 kHz, hop 256) and the centred STFT's
    // 32 ms, fed at the next hop boundary (SceneEngine::lookaheadSeconds): 0.9 s beyond the second of slack.
    report(found_at >= 0 && found_at <= window_seconds + 1.0 + 0.9,
           "top class is \"" + expected + "\" within the window",
           found_at >= 0 ? "after " + juce::String(found_at, 2) + " s of audio, confidence " +
                               confidence->getCurrentValueAsText()
                         : "last top class \"" + last + "\"");
}

/**
 * Swaps the preset through the state on the message thread while another thread plays audio, as a
 * DAW does: every sample still passes, avgraph's audio-thread code neither allocates nor waits
 * meanwhile, and the new preset is what runs afterwards.
 */
void checkPresetSwap(juce::AudioPluginInstance& plugin, bool vst3) {
    prepare(plugin, 48000.0, 256);
    const auto back = savedState(plugin);
    // The untrained CNN9 names no classes: a VST3 host's text for the top class becomes "class N".
    const auto swap = stateWith(plugin, "shipped:models/cnn9-logmel.json");
    const auto input = noise(2, 48000 * 8, 21);
    Processed r;
    std::vector<double> seconds;
    std::atomic<bool> done{false};
    std::thread audio([&] {
        r = processThrough(plugin, input, 256, false, {}, &seconds, /*real_time=*/true, 48000.0);
        done = true;
    });
    pump(1000);
    restore(plugin, swap);
    juce::String top_text;
    auto* top = parameterNamed(plugin, "Top class");
    while (!done) {
        pump(20);
        if (top)
            top_text = top->getCurrentValueAsText();
    }
    audio.join();
    const auto now = pluginStateXml(plugin);
    const juce::String chosen = now ? now->getStringAttribute("preset") : juce::String("(no plugin state)");
    const bool new_engine_ran = !vst3 || top_text.startsWith("class ");
    report(r.identical && r.finite && realtimeClean(r) && chosen == "shipped:models/cnn9-logmel.json" &&
               new_engine_ran,
           "preset swapped from the message thread while the audio thread plays, without a dropout",
           "state names " + chosen + (vst3 ? ", top class after it \"" + top_text + "\"" : juce::String()) +
               ", slowest block " + juce::String(*std::max_element(seconds.begin(), seconds.end()) * 1e6, 1) +
               " us of " + juce::String(256.0 / 48.0, 2) + " ms; " + realtimeDetail(r));
    restore(plugin, back);
}

void measureCosts(juce::AudioPluginInstance& plugin, const juce::File& out) {
    juce::String table = juce::CharPointer_UTF8(
        "| block (samples) | block duration (ms) | p50 (µs) | p99 (µs) | max (µs) | p99 / duration |\n"
        "|---:|---:|---:|---:|---:|---:|\n");
    bool all_ok = true;
    for (int block : {64, 128, 256, 512, 1024}) {
        prepare(plugin, 48000.0, block);
        std::vector<double> seconds;
        // 20 s of audio a size, at full speed: the worker analyses meanwhile, as it would in a session.
        processThrough(plugin, noise(2, 48000 * 20, static_cast<unsigned>(block)), block, false, {},
                       &seconds);
        std::sort(seconds.begin(), seconds.end());
        auto at = [&](double q) {
            return seconds[static_cast<size_t>(q * static_cast<double>(seconds.size() - 1))];
        };
        const double duration = block / 48000.0;
        const double p99_share = at(0.99) / duration;
        all_ok = all_ok && p99_share < 0.05;
        table += "| " + juce::String(block) + " | " + juce::String(duration * 1000.0, 2) + " | " +
                 juce::String(at(0.5) * 1e6, 1) + " | " + juce::String(at(0.99) * 1e6, 1) + " | " +
                 juce::String(seconds.back() * 1e6, 1) + " | " + juce::String(p99_share * 100.0, 2) +
                 " % |\n";
    }
    std::cout << table;
    out.getParentDirectory().createDirectory();
    out.replaceWithText(table);
    report(all_ok, "audio-thread cost: p99 under 5 % of the block's duration at 48 kHz, 64-1024 samples");
}

int ignoreXErrors(Display*, XErrorEvent*) { return 0; }

void screenshot(juce::AudioPluginInstance& plugin, const juce::File& png) {
    // Bare Xvfb lacks atoms JUCE asks for; their BadAtom errors would end the process.
    XSetErrorHandler(ignoreXErrors);
    std::unique_ptr<juce::AudioProcessorEditor> editor(plugin.createEditorIfNeeded());
    if (!editor) {
        report(false, "the plugin has an editor");
        return;
    }
    juce::DocumentWindow window("avgraph", juce::Colours::black, 0);
    window.setUsingNativeTitleBar(false);
    window.setTitleBarHeight(0);
    window.setContentNonOwned(editor.get(), true);
    window.setTopLeftPosition(0, 0);
    window.setVisible(true);
    pump(1500);
    const auto bounds = window.getScreenBounds();
    png.getParentDirectory().createDirectory();
    juce::ChildProcess import;
    const juce::String geometry = juce::String(bounds.getWidth()) + "x" + juce::String(bounds.getHeight()) +
                                  "+" + juce::String(bounds.getX()) + "+" + juce::String(bounds.getY());
    const bool started = import.start(
        juce::StringArray{"import", "-window", "root", "-crop", geometry, "+repage", png.getFullPathName()});
    if (started)
        import.waitForProcessToFinish(20000);
    report(started && png.existsAsFile() && png.getSize() > 1000,
           "editor screenshot " + png.getFullPathName(),
           juce::String(bounds.getWidth()) + "x" + juce::String(bounds.getHeight()));
    window.clearContentComponent();
    plugin.editorBeingDeleted(editor.get());
}

} // namespace

int main(int argc, char** argv) {
    juce::ScopedJuceInitialiser_GUI juce_runtime;
    juce::StringArray args;
    for (int i = 1; i < argc; ++i)
        args.add(argv[i]);
    auto option = [&](const juce::String& name) {
        const int i = args.indexOf(name);
        return i >= 0 && i + 1 < args.size() ? args[i + 1] : juce::String();
    };
    if (args.isEmpty() || args[0].startsWith("-")) {
        std::cerr << "usage: avgraph-plugin-check PLUGIN.vst3|PLUGIN.lv2 [--wav CLIP --expect CLASS "
                     "[--expect-index I]] "
                     "[--screenshot FILE.png] [--preset REFERENCE [--weights FILE|RUN_DIR]] "
                     "[--precision fp32|bf16|auto] [--costs FILE.md]\n";
        return 2;
    }
    const juce::File bundle = juce::File::getCurrentWorkingDirectory().getChildFile(args[0]);
    if (!bundle.exists()) {
        std::cerr << "avgraph-plugin-check: " << bundle.getFullPathName() << ": no such plugin bundle\n";
        return 2;
    }

    juce::AudioPluginFormatManager formats;
    juce::OwnedArray<juce::PluginDescription> found;
    if (bundle.hasFileExtension("vst3")) {
        auto* vst3 = new juce::VST3PluginFormat;
        formats.addFormat(vst3);
        vst3->findAllTypesForFile(found, bundle.getFullPathName());
    } else if (bundle.hasFileExtension("lv2")) {
        auto* lv2 = new juce::LV2PluginFormat;
        formats.addFormat(lv2);
        // LV2 hosts find bundles by folder (LV2_PATH); JUCE identifies them by URI.
        for (const auto& uri : lv2->searchPathsForPlugins(
                 juce::FileSearchPath(bundle.getParentDirectory().getFullPathName()), false, false))
            if (uri.startsWith("https://avgraph.org/"))
                lv2->findAllTypesForFile(found, uri);
    } else {
        std::cerr << "avgraph-plugin-check: " << bundle.getFullPathName()
                  << ": expected a .vst3 or .lv2 bundle\n";
        return 2;
    }
    report(!found.isEmpty(), "found the plugin in " + bundle.getFileName(),
           found.isEmpty() ? juce::String() : found[0]->pluginFormatName + " " + found[0]->name);
    if (found.isEmpty())
        return 1;
    const juce::PluginDescription description = *found[0];

    auto plugin = instantiate(formats, description, 48000.0, 512);
    if (!plugin)
        return 1;
    report(plugin->getLatencySamples() == 0, "reports no latency (analysis only)",
           juce::String(plugin->getLatencySamples()) + " samples");

    // The plugin binary inside the bundle (VST3: Contents/x86_64-linux/NAME.so, JUCE's LV2: libNAME.so at the
    // top; the engine's libraries lie beside it).
    const juce::String name = bundle.getFileNameWithoutExtension();
    const juce::String binary =
        (bundle.hasFileExtension("vst3") ? bundle.getChildFile("Contents/x86_64-linux/" + name + ".so")
                                         : bundle.getChildFile("lib" + name + ".so"))
            .getLinkedTarget()
            .getFullPathName();
    if (const auto costs = option("--costs"); costs.isNotEmpty()) {
        // A benchmark, not a check: on its own, on a quiet machine (a busy one measures its scheduler).
        pump(3000); // the default preset is built
        measureCosts(*plugin, juce::File::getCurrentWorkingDirectory().getChildFile(costs));
        plugin.reset();
        return failures ? 1 : 0;
    }
    {
        // The counter itself: with nothing watched yet, every allocation and lock on this thread counts.
        avgraph::check::RealtimeScope scope;
        void* volatile p = std::malloc(64);
        std::free(p);
        std::mutex m;
        m.lock();
        m.unlock();
        report(scope.allocations() >= 1 && scope.locks() >= 1,
               "the allocation and lock counter sees a malloc and a mutex lock",
               juce::String(scope.allocations()) + " allocation(s), " + juce::String(scope.locks()) +
                   " lock(s)");
    }
    const int segments = avgraph::check::watchModule(binary.toRawUTF8());
    report(segments > 0 && avgraph::check::watchingOwnCode(),
           "the plugin's code and its audio-thread code are mapped (allocations and locks are attributed to "
           "them)",
           juce::String(segments) + " executable segment(s)");

    checkSampleRatesAndBlocks(*plugin, bundle.hasFileExtension("vst3"));
    checkBypassAndParameters(*plugin);
    const juce::File presets = bundle.hasFileExtension("vst3")
                                   ? bundle.getChildFile("Contents/Resources/presets")
                                   : bundle.getChildFile("presets");
    checkState(formats, description, *plugin, presets);
    checkPresetSwap(*plugin, bundle.hasFileExtension("vst3"));
    if (const auto preset = option("--preset"); preset.isNotEmpty())
        restore(*plugin, stateWith(*plugin, preset, option("--weights")));
    if (const auto precision = option("--precision"); precision.isNotEmpty())
        restore(*plugin,
                editedState(*plugin, [&](juce::XmlElement& e) { e.setAttribute("precision", precision); }));
    pump(3000); // the preset is (re)built

    if (const auto wav = option("--wav"); wav.isNotEmpty())
        checkRecording(*plugin, juce::File::getCurrentWorkingDirectory().getChildFile(wav),
                       option("--expect"), option("--expect-index"));
    if (const auto png = option("--screenshot"); png.isNotEmpty())
        screenshot(*plugin, juce::File::getCurrentWorkingDirectory().getChildFile(png));

    plugin->releaseResources();
    plugin.reset();
    std::cout << (failures ? juce::String(failures) + " check(s) failed" : juce::String("all checks passed"))
              << std::endl;
    return failures ? 1 : 0;
}
