#pragma once
/**
 * What features.mfcc and features.delta declare and check: their parameters (named as in librosa) and
 * the settings read from them. Kept apart from spectral_params.h so that a node taking audio to MFCC
 * in one step could join them with stftParamSpecs(), melParamSpecs() and dbParamSpecs().
 */
#include "nodes/features/cepstral.h"
#include "nodes/features/spectral_params.h"

#include <string>
#include <vector>

namespace avgraph::nodes {

/** librosa.feature.mfcc's settings besides the mel spectrogram. */
struct MfccSettings {
    int64_t n_mfcc = 20;
    bool ortho = true;
    double lifter = 0.0;
};

/** n_mfcc, dct_type, norm, lifter: librosa.feature.mfcc's. */
inline std::vector<ParamSpec> mfccParamSpecs() {
    return {
        ParamSpec::integer("n_mfcc", 20,
                           "number of cepstral coefficients kept (c0 first); at most the number of mel bands")
            .range(1, 2048),
        ParamSpec::integer("dct_type", 2,
                           "DCT type; only 2 (librosa's default, the usual MFCC) is implemented")
            .range(2, 2),
        ParamSpec::choice("norm", "ortho", {"ortho", "none"},
                          "\"ortho\": orthonormal DCT (librosa's default); \"none\": scipy's unnormalised "
                          "DCT-II, 2 sum x cos(...)"),
        ParamSpec::real("lifter", 0.0,
                        "sinusoidal liftering when > 0: coefficient k is scaled by 1 + (lifter/2) "
                        "sin(pi (k+1) / lifter); 0: none")
            .atLeast(0.0),
    };
}

/**
 * The log-mel parameters of features.mfcc when it is fed audio: features.logmel's, except that the mel
 * filterbank's norm is called mel_norm, since "norm" is the DCT's (as in librosa.feature.mfcc, whose
 * norm is the DCT's and whose mel spectrogram always has the Slaney norm).
 */
inline std::vector<ParamSpec> mfccLogMelParamSpecs() {
    auto mel = melParamSpecs();
    for (auto& p : mel)
        if (p.name == "norm") {
            p.name = "mel_norm";
            p.doc += " (librosa's melspectrogram norm)";
        }
    return joinParamSpecs({stftParamSpecs(), mel, dbParamSpecs()});
}

/** The mel filterbank settings of features.mfcc, whose filterbank norm is `mel_norm`. */
inline MelSettings mfccMelSettings(const Params& p) { return melSettings(p, "mel_norm"); }

inline MfccSettings mfccSettings(const Params& p) {
    MfccSettings s;
    s.n_mfcc = p.integer("n_mfcc");
    s.ortho = p.text("norm") == "ortho";
    s.lifter = p.real("lifter");
    return s;
}

/**
 * The log-mel parameters' own rules. n_mfcc against the number of bands is checked when the input
 * arrives: a spectrum on the input brings its own bands, and n_mels then does not apply.
 */
inline void checkMfccParams(const NodeContext& ctx) {
    checkStftParams(ctx);
    checkMelParams(ctx);
}

/** width, order, mode: librosa.feature.delta's. */
inline std::vector<ParamSpec> deltaParamSpecs() {
    return {
        ParamSpec::integer("width", 9, "frames in each local fit: odd, at least 3").range(3, 1025),
        ParamSpec::integer("order", 1, "derivative order: 1 for delta, 2 for delta-delta").range(1, 2),
        ParamSpec::choice("mode", "interp", {"interp", "nearest"},
                          "edge frames: \"interp\" differentiates a polynomial fitted to the first / last "
                          "width frames (librosa's default); \"nearest\" repeats the edge frames "
                          "(torchaudio's ComputeDeltas)"),
    };
}

inline DeltaSettings deltaSettings(const Params& p) {
    DeltaSettings s;
    s.width = p.integer("width");
    s.order = p.integer("order");
    s.mode = p.text("mode") == "nearest" ? DeltaMode::Nearest : DeltaMode::Interp;
    return s;
}

/** An odd width (librosa requires one: the window is centred on its frame). */
inline void checkDeltaParams(const NodeContext& ctx) {
    const int64_t width = ctx.params.integer("width");
    if (width % 2 == 0)
        throw paramError(ctx, "width",
                         "expected an odd number of frames (the window is centred on its frame), got " +
                             std::to_string(width));
}

} // namespace avgraph::nodes
