#include "nodes/features/cepstral.h"
#include "nodes/features/cepstral_params.h"
#include "nodes/features/features.h"
#include "nodes/features/logmel_analysis.h"

namespace avgraph::nodes {

namespace {

/**
 * Cepstral coefficients of a dB mel spectrum: one DCT (lifter included) per frame, as a matmul. Fed
 * audio, it first computes the log-mel exactly as features.logmel does.
 */
class MfccNode : public Node {
public:
    explicit MfccNode(const NodeContext& ctx)
        : Node(ctx), settings_(mfccSettings(ctx.params)),
          analysis_(stftSettings(ctx.params), mfccMelSettings(ctx.params), dbSettings(ctx.params)) {}

protected:
    void onPrepare(const PortInfos& in, PortInfos& out) override {
        const ValueInfo& v = in.at("input");
        if (v.kind != Kind::Audio)
            return; // a dB mel spectrum keeps its frames
        out["mfcc"].hop = analysis_.stft().hop_length;
        if (v.sample_rate)
            analysis_.prepare(*v.sample_rate);
    }
    Ports run(const Ports& in) override {
        const Value& v = input(in, "input");
        if (isAudio(v)) {
            auto db = analysis_.offline(audioTensor(v, "input"), requireSampleRate(v, "input"));
            return {{"mfcc", spectrumValue(v, cepstrum(db), analysis_.stft().hop_length)}};
        }
        return {{"mfcc", melValue(v)}};
    }

    // Whether the input is audio (and so whether top_db applies and the stft's latency counts) shows
    // only with the first block: a node is not told what its input is connected to.
    void onPrepareStream(const StreamSpec&) override { onResetStream(); }
    Ports runBlock(const Ports& in) override { return block(in, false); }
    Ports runFinish(const Ports& in) override { return block(in, true); }
    Ports block(const Ports& in, bool end) {
        const Value& v = input(in, "input");
        audio_input_ = isAudio(v);
        if (!*audio_input_)
            return {{"mfcc", melValue(v)}};
        if (analysis_.db().top_db)
            throw topDbStreamError(*this, *analysis_.db().top_db);
        auto db = analysis_.push(audioTensor(v, "input"), requireSampleRate(v, "input"), end);
        return {{"mfcc", spectrumValue(v, cepstrum(db), analysis_.stft().hop_length)}};
    }
    void onResetStream() override {
        analysis_.reset();
        audio_input_.reset();
    }
    int64_t latency() const override { return audio_input_.value_or(false) ? analysis_.latency() : 0; }

private:
    static bool isAudio(const Value& v) {
        return v.kind == Kind::Audio || (v.kind != Kind::Spectrum && v.tensor.dim() == 3);
    }

    Value melValue(const Value& v) {
        Value out = v.withTensor(cepstrum(spectrumTensor(v, "input")));
        out.kind = Kind::Spectrum;
        return out;
    }

    /** The DCT over the bands of `db` [batch, channel, band, frame]. */
    torch::Tensor cepstrum(const torch::Tensor& db) {
        const int64_t bands = db.size(2);
        if (settings_.n_mfcc > bands)
            throw std::invalid_argument(
                "parameter 'n_mfcc' = " + std::to_string(settings_.n_mfcc) + " is more than the " +
                std::to_string(bands) +
                " mel bands of the input: a DCT of n bands has n coefficients; lower n_mfcc or raise n_mels");
        const auto& dct = matrices_.get(db.options(), 0.0, bands, [&] {
            auto m = dctMatrix(settings_.n_mfcc, bands, settings_.ortho);
            if (settings_.lifter > 0.0)
                m = m * lifterWeights(settings_.n_mfcc, settings_.lifter).unsqueeze(1);
            return m;
        });
        return torch::matmul(dct, db);
    }

    MfccSettings settings_;
    LogMelAnalysis analysis_;
    ConstantCache matrices_;          ///< [n_mfcc, bands] per device, dtype and number of bands
    std::optional<bool> audio_input_; ///< while streaming: whether the blocks are audio
};

} // namespace

NodeSpec mfccNodeSpec() {
    NodeSpec s;
    s.type = "features.mfcc";
    s.summary = "Mel-frequency cepstral coefficients: a DCT-II over the bands of a log-mel spectrogram";
    s.doc =
        "Matches librosa.feature.mfcc of librosa 0.10 within the golden tolerance (5e-3 absolute). Fed "
        "audio, "
        "it is mfcc(y, sr, n_mfcc, dct_type=2, norm, lifter, n_fft, hop_length, ..., n_mels, fmin, fmax, "
        "htk): "
        "first the log-mel of features.logmel with the same stft, mel and dB parameters (the mel "
        "filterbank's "
        "norm is called mel_norm here, since norm is the DCT's), i.e. power_to_db(melspectrogram(...), ref, "
        "amin, top_db). Fed a dB mel spectrum (features.logmel, features.power_to_db), it is mfcc(S=...) and "
        "the log-mel parameters are ignored, as librosa ignores them when S is given. The coefficients are "
        "scipy.fftpack.dct(S, type=2, norm, axis=-2)[:n_mfcc], then, when lifter > 0, coefficient k is "
        "scaled by 1 + (lifter/2) sin(pi (k+1) / lifter). Only DCT type 2 is implemented. The DCT (lifter "
        "folded in) is a [n_mfcc, bands] matrix built once per device, dtype and band count and applied with "
        "one matmul in the input's dtype; n_mfcc must not exceed the number of bands. Streams: from a dB "
        "spectrum with no latency; from audio only with top_db null, with the latency of features.stft. "
        "Since a node is not told what its input is connected to, the audio case (its latency, and the "
        "refusal of top_db) shows with the first block: the latency reads 0 before it.";
    s.inputs = {PortSpec::of("input", {Kind::Audio, Kind::Spectrum},
                             "audio [batch, channel, sample] with its sample rate, or a dB mel spectrum "
                             "[batch, channel, n_mels, frame] (librosa's S)")};
    s.outputs = {PortSpec::of("mfcc", {Kind::Spectrum}, "[batch, channel, n_mfcc, frame], c0 first")};
    s.params = joinParamSpecs({mfccParamSpecs(), mfccLogMelParamSpecs()});
    s.streams = true;
    s.check = checkMfccParams;
    s.make = [](const NodeContext& ctx) { return std::make_unique<MfccNode>(ctx); };
    return s;
}

} // namespace avgraph::nodes
