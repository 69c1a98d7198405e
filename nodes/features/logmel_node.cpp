#include "nodes/features/features.h"
#include "nodes/features/logmel_analysis.h"
#include "nodes/features/spectral_params.h"

namespace avgraph::nodes {

namespace {

/** Audio to log-mel in one step: the stft -> mel -> power_to_db chain without intermediate values. */
class LogMelNode : public Node {
public:
    explicit LogMelNode(const NodeContext& ctx)
        : Node(ctx), analysis_(stftSettings(ctx.params), melSettings(ctx.params), dbSettings(ctx.params)) {}

protected:
    void onPrepare(const PortInfos& in, PortInfos& out) override {
        out["logmel"].hop = analysis_.stft().hop_length;
        if (auto rate = in.at("audio").sample_rate)
            analysis_.prepare(*rate);
    }
    Ports run(const Ports& in) override {
        const Value& audio = input(in, "audio");
        auto db = analysis_.offline(audioTensor(audio, "audio"), requireSampleRate(audio, "audio"));
        return {{"logmel", spectrumValue(audio, std::move(db), analysis_.stft().hop_length)}};
    }

    void onPrepareStream(const StreamSpec& spec) override {
        if (analysis_.db().top_db && !spec.defer_top_db)
            throw topDbStreamError(*this, *analysis_.db().top_db);
        analysis_.reset();
    }
    Ports runBlock(const Ports& in) override { return block(in, false); }
    Ports runFinish(const Ports& in) override { return block(in, true); }
    Ports block(const Ports& in, bool end) {
        const Value& audio = input(in, "audio");
        auto db = analysis_.push(audioTensor(audio, "audio"), requireSampleRate(audio, "audio"), end);
        Value v = spectrumValue(audio, std::move(db), analysis_.stft().hop_length);
        v.pending_top_db = analysis_.db().top_db; // unclipped: the consumer clips (defer_top_db)
        return {{"logmel", v}};
    }
    void onResetStream() override { analysis_.reset(); }
    int64_t latency() const override { return analysis_.latency(); }

private:
    LogMelAnalysis analysis_;
};

} // namespace

NodeSpec logMelNodeSpec() {
    NodeSpec s;
    s.type = "features.logmel";
    s.summary =
        "Log-mel spectrogram in dB from audio: features.stft, features.mel and features.power_to_db in one";
    s.doc =
        "Matches librosa.power_to_db(librosa.feature.melspectrogram(y, sr, n_fft, hop_length, win_length, "
        "window='hann', center, pad_mode, power, n_mels, fmin, fmax, htk, norm), ref, amin, top_db) of "
        "librosa 0.10 within the golden tolerance (0.01 dB). Same parameters and conventions as the "
        "three-node chain; top_db clips each clip against its own maximum. Computes in the audio's dtype: "
        "in float32 the FFT's rounding noise lies about 150 dB below each frame's peak, so with top_db null "
        "values far below the maximum (e.g. unnormalised HTK bands around a pure tone) may differ from "
        "librosa's float64 by a few dB; float64 audio reproduces them too (0.5 dB). Streams only with "
        "top_db null, with the latency of features.stft.";
    s.inputs = {PortSpec::of("audio", {Kind::Audio}, "[batch, channel, sample] with its sample rate")};
    s.outputs = {PortSpec::of("logmel", {Kind::Spectrum}, "[batch, channel, n_mels, frame] in dB")};
    s.params = joinParamSpecs({stftParamSpecs(), melParamSpecs(), dbParamSpecs()});
    s.streams = true;
    s.check = [](const NodeContext& ctx) {
        checkStftParams(ctx);
        checkMelParams(ctx);
    };
    s.make = [](const NodeContext& ctx) { return std::make_unique<LogMelNode>(ctx); };
    return s;
}

} // namespace avgraph::nodes
