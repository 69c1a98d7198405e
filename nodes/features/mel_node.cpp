#include "nodes/features/features.h"
#include "nodes/features/spectral.h"
#include "nodes/features/spectral_params.h"

#include <map>
#include <utility>

namespace avgraph::nodes {

namespace {

/** A spectrum through a mel filterbank; each frame on its own, so it streams without delay. */
class MelNode : public Node {
public:
    explicit MelNode(const NodeContext& ctx) : Node(ctx), settings_(melSettings(ctx.params)) {}

protected:
    void onPrepare(const PortInfos& in, PortInfos&) override {
        if (auto rate = in.at("spectrum").sample_rate)
            checkMelRange(*rate, settings_); // the filterbank waits for the number of bins
    }
    Ports run(const Ports& in) override {
        const Value& spectrum = input(in, "spectrum");
        const auto& s = spectrumTensor(spectrum, "spectrum");
        const double sr = requireSampleRate(spectrum, "spectrum");
        const int64_t bins = s.size(2);
        if (bins < 2)
            throw std::invalid_argument("input 'spectrum' has " + std::to_string(bins) +
                                        " bin; a spectrum from an FFT of n_fft samples has 1 + n_fft/2 >= 2");
        // librosa.feature.melspectrogram(S=...) infers n_fft = 2 * (bins - 1) the same way.
        const int64_t n_fft = 2 * (bins - 1);
        checkMelRange(sr, settings_);
        // librosa's float32 filterbank (its default dtype), whatever the spectrum's dtype, as melspectrogram.
        const auto key = std::make_pair(sr, n_fft);
        auto it = filterbanks_.find(key);
        if (it == filterbanks_.end())
            it = filterbanks_.emplace(key, Filterbank(melFilterbank(sr, n_fft, settings_))).first;
        return {{"mel", spectrum.withTensor(applyFilterbank(it->second, s))}};
    }

    void onPrepareStream(const StreamSpec&) override {}
    Ports runBlock(const Ports& in) override { return run(in); }

private:
    MelSettings settings_;
    std::map<std::pair<double, int64_t>, Filterbank> filterbanks_;
};

} // namespace

NodeSpec melNodeSpec() {
    NodeSpec s;
    s.type = "features.mel";
    s.summary = "Mel spectrogram from a power spectrum: a triangular mel filterbank applied to every frame";
    s.doc =
        "Matches librosa.feature.melspectrogram(S=power, sr, n_mels, fmin, fmax, htk, norm) of librosa 0.10, "
        "i.e. librosa.filters.mel (computed in float64, rounded to float32 as librosa's default dtype does) "
        "times the spectrum, within the golden tolerance (2e-5 of the maximum + 1e-3 relative). Connect it "
        "to features.stft (power 2 for librosa's default). As in librosa, n_fft is taken as "
        "2 * (bins - 1), so after an odd n_fft use features.logmel instead. fmax must not exceed half the "
        "sample rate (checked when running); a band too narrow to hold an FFT bin is all zero. Streams "
        "with no latency.";
    s.inputs = {PortSpec::of("spectrum", {Kind::Spectrum}, "power spectrum [batch, channel, bin, frame]")};
    s.outputs = {PortSpec::of("mel", {Kind::Spectrum}, "[batch, channel, n_mels, frame], bands low to high")};
    s.params = melParamSpecs();
    s.streams = true;
    s.check = checkMelParams;
    s.make = [](const NodeContext& ctx) { return std::make_unique<MelNode>(ctx); };
    return s;
}

} // namespace avgraph::nodes
