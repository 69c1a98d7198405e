#pragma once
/**
 * What the spectral nodes declare and check alike: their parameters (named as in librosa), the
 * rules across parameters, and the checks of the values on their ports.
 *
 * features.stft, features.mel and features.power_to_db each take one group of parameters;
 * features.logmel takes all three, so a preset can move between the one-node log-mel and the
 * three-node chain without renaming anything.
 */
#include "graph/message_text.h"
#include "graph/node.h"
#include "nodes/features/spectral.h"

#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace avgraph::nodes {

/** A number as a user wrote it: 80, 22050, 1e-10. */
inline std::string numberText(double v) {
    std::ostringstream out;
    out << v;
    return out.str();
}

// ---------------------------------------------------------------------------------------------
// Parameters

/** n_fft, hop_length, win_length, center, pad_mode, power: librosa.stft's, plus the exponent. */
inline std::vector<ParamSpec> stftParamSpecs() {
    return {
        ParamSpec::integer("n_fft", 2048, "FFT size in samples; each frame has 1 + n_fft/2 frequency bins")
            .range(2, 65536),
        ParamSpec::integer("hop_length", 512, "samples between the starts of consecutive frames")
            .range(1, 65536),
        ParamSpec::integer("win_length", 0,
                           "length of the periodic Hann window, zero-padded to n_fft; null: n_fft")
            .range(1, 65536)
            .orNull(),
        ParamSpec::flag("center", true,
                        "pad n_fft/2 samples at both ends so that frame t is centred on sample t*hop_length"),
        ParamSpec::choice(
            "pad_mode", "constant", {"constant", "reflect"},
            "how centred frames extend the signal: zeros (librosa 0.10's default) or its mirror "
            "image without the edge sample (torchaudio's default)"),
        ParamSpec::real("power", 2.0, "exponent of the magnitude: 2 for power, 1 for magnitude").above(0.0),
    };
}

/** n_mels, fmin, fmax, htk, norm: librosa.filters.mel's. */
inline std::vector<ParamSpec> melParamSpecs() {
    return {
        ParamSpec::integer("n_mels", 128, "number of mel bands").range(1, 2048),
        ParamSpec::real("fmin", 0.0, "lowest frequency of the filterbank in Hz").atLeast(0.0),
        ParamSpec::real("fmax", 0.0, "highest frequency in Hz, at most sr/2; null: sr/2").above(0.0).orNull(),
        ParamSpec::flag("htk", false, "HTK mel formula instead of Slaney's (linear below 1 kHz, log above)"),
        ParamSpec::choice("norm", "slaney", {"slaney", "none"},
                          "\"slaney\": divide each triangle by its width in Hz (constant energy per band); "
                          "\"none\": triangles of height 1"),
    };
}

/** ref, amin, top_db: librosa.power_to_db's (ref as a number). */
inline std::vector<ParamSpec> dbParamSpecs() {
    auto top_db = ParamSpec::real("top_db", 80.0,
                                  "clip values more than top_db below the clip's maximum; null: no clipping "
                                  "(needed to stream)")
                      .atLeast(0.0)
                      .orNull();
    top_db.default_value = 80.0; // librosa's default; orNull() made null the default
    return {
        ParamSpec::real("ref", 1.0, "power that maps to 0 dB").above(0.0),
        ParamSpec::real("amin", 1e-10, "smallest power taken into account, to avoid log(0)").above(0.0),
        top_db,
    };
}

/** One parameter of a group, to declare it again in another node (then adjust its default or doc). */
inline ParamSpec paramSpecFrom(const std::vector<ParamSpec>& group, const std::string& name) {
    for (const auto& p : group)
        if (p.name == name)
            return p;
    throw std::logic_error("no parameter " + name + " in the group");
}

inline std::vector<ParamSpec> joinParamSpecs(std::initializer_list<std::vector<ParamSpec>> groups) {
    std::vector<ParamSpec> all;
    for (const auto& g : groups)
        all.insert(all.end(), g.begin(), g.end());
    return all;
}

inline StftSettings stftSettings(const Params& p) {
    StftSettings s;
    s.n_fft = p.integer("n_fft");
    s.hop_length = p.integer("hop_length");
    s.win_length = p.isNull("win_length") ? s.n_fft : p.integer("win_length");
    s.center = p.flag("center");
    s.pad_mode = p.text("pad_mode") == "reflect" ? PadMode::Reflect : PadMode::Constant;
    s.power = p.real("power");
    return s;
}

/** `norm_param`: the name of the filterbank norm ('norm', or 'mel_norm' where 'norm' is the DCT's). */
inline MelSettings melSettings(const Params& p, const std::string& norm_param = "norm") {
    MelSettings s;
    s.n_mels = p.integer("n_mels");
    s.fmin = p.real("fmin");
    s.fmax = p.optionalReal("fmax");
    s.htk = p.flag("htk");
    s.slaney_norm = p.text(norm_param) == "slaney";
    return s;
}

inline DbSettings dbSettings(const Params& p) {
    DbSettings s;
    s.ref = p.real("ref");
    s.amin = p.real("amin");
    s.top_db = p.optionalReal("top_db");
    return s;
}

/** win_length <= n_fft. */
inline void checkStftParams(const NodeContext& ctx) {
    const auto& p = ctx.params;
    if (!p.isNull("win_length") && p.integer("win_length") > p.integer("n_fft"))
        throw paramError(ctx, "win_length",
                         "expected at most n_fft = " + std::to_string(p.integer("n_fft")) + ", got " +
                             std::to_string(p.integer("win_length")) + " (the window must fit in the FFT)");
}

/** fmin < fmax when fmax is given; the rules that need the sample rate wait for `checkMelRange`. */
inline void checkMelParams(const NodeContext& ctx) {
    const auto& p = ctx.params;
    if (auto fmax = p.optionalReal("fmax"); fmax && p.real("fmin") >= *fmax)
        throw paramError(ctx, "fmin",
                         "expected below fmax = " + numberText(*fmax) + " Hz, got " +
                             numberText(p.real("fmin")) + " Hz");
}

/** A band range against the sample rate, once it is known: fmin < fmax <= sr/2 (fmax null: sr/2). */
inline void checkBandRange(double sample_rate, double fmin, const std::optional<double>& fmax) {
    const double nyquist = sample_rate / 2.0;
    if (fmax && *fmax > nyquist)
        throw std::invalid_argument("fmax = " + numberText(*fmax) + " Hz is above the Nyquist frequency " +
                                    numberText(nyquist) + " Hz of the " + numberText(sample_rate) +
                                    " Hz input; lower fmax, or set it to null for sr/2");
    if (fmin >= fmax.value_or(nyquist))
        throw std::invalid_argument(
            "fmin = " + numberText(fmin) + " Hz must be below fmax = " + numberText(fmax.value_or(nyquist)) +
            " Hz (" + (fmax ? "as set" : "sr/2 of the " + numberText(sample_rate) + " Hz input") + ")");
}

/** The mel band range against the sample rate, once it is known: fmin < fmax <= sr/2. */
inline void checkMelRange(double sample_rate, const MelSettings& s) {
    checkBandRange(sample_rate, s.fmin, s.fmax);
}

// ---------------------------------------------------------------------------------------------
// Port values

/** The audio on `port`: a floating [batch, channel, sample] tensor with at least one sample. */
inline const torch::Tensor& audioTensor(const Value& v, const std::string& port) {
    if (v.tensor.dim() != 3)
        throw std::invalid_argument("input '" + port +
                                    "' must be audio [batch, channel, sample], got a tensor of shape " +
                                    shapeText(v.tensor));
    if (!v.tensor.is_floating_point())
        throw std::invalid_argument("input '" + port + "' must hold floating-point samples, got " +
                                    std::string(c10::toString(v.tensor.scalar_type())));
    return v.tensor;
}

/** The spectrum on `port`: a floating [batch, channel, bin, frame] tensor. */
inline const torch::Tensor& spectrumTensor(const Value& v, const std::string& port) {
    if (v.tensor.dim() != 4)
        throw std::invalid_argument("input '" + port +
                                    "' must be a spectrum [batch, channel, bin, frame], got a " +
                                    "tensor of shape " + shapeText(v.tensor));
    if (!v.tensor.is_floating_point())
        throw std::invalid_argument("input '" + port + "' must be real-valued, got " +
                                    std::string(c10::toString(v.tensor.scalar_type())));
    return v.tensor;
}

/** The sample rate a node needs to place its mel bands. */
inline double requireSampleRate(const Value& v, const std::string& port) {
    if (!(v.sample_rate > 0.0))
        throw std::invalid_argument(
            "input '" + port +
            "' carries no sample rate, which the mel bands need; "
            "feed audio with a known rate (or a spectrum made from it by features.stft)");
    return v.sample_rate;
}

/** A spectrum made from `audio` with the given hop. */
inline Value spectrumValue(const Value& audio, torch::Tensor tensor, int64_t hop) {
    Value v;
    v.tensor = std::move(tensor);
    v.kind = Kind::Spectrum;
    v.sample_rate = audio.sample_rate;
    v.hop = hop;
    v.axes = {"batch", "channel", "bin", "frame"};
    return v;
}

/**
 * The refusal of a node that clips at top_db to stream. Located at the node but without its id and type
 * in the text: the executor lists every refusing node as "id (type): message".
 */
inline Error topDbStreamError(const Node& node, double top_db) {
    return Error(node.where(),
                 "cannot stream with top_db = " + numberText(top_db) +
                     ": it clips against the maximum of the whole clip, which a stream never has "
                     "seen; set \"top_db\": null to stream (and clip later if needed), or run "
                     "offline");
}

} // namespace avgraph::nodes
