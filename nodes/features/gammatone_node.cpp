#include "nodes/features/features.h"
#include "nodes/features/gammatone.h"
#include "nodes/features/spectral_params.h"

#include <torch/torch.h>

namespace avgraph::nodes {

namespace {

GammatoneSettings gammatoneSettings(const Params& p) {
    GammatoneSettings s;
    s.n_bands = p.integer("n_bands");
    s.fmin = p.real("fmin");
    s.fmax = p.optionalReal("fmax");
    s.win_length = p.integer("win_length");
    s.hop_length = p.integer("hop_length");
    s.n_fft = p.isNull("n_fft") ? fftSizeFor(s.win_length) : p.integer("n_fft");
    s.power = p.real("power");
    return s;
}

// Named like librosa's (n_fft, hop_length, win_length, fmin, fmax, power); the package's gtgram(wave, fs,
// window_time, hop_time, channels, f_min) maps to win_length = round(window_time * sr), hop_length =
// round(hop_time * sr), n_bands = channels, fmin = f_min. Defaults are the goldens' call.
std::vector<ParamSpec> gammatoneParamSpecs() {
    auto fmin = paramSpecFrom(melParamSpecs(), "fmin");
    fmin.default_value = 50.0;
    fmin.doc = "centre frequency of the lowest band in Hz (the package's f_min)";
    auto fmax = paramSpecFrom(melParamSpecs(), "fmax");
    fmax.doc = "the bands are spaced from fmin up to fmax in Hz, at most sr/2; null: sr/2 (the package)";
    auto hop_length = paramSpecFrom(stftParamSpecs(), "hop_length");
    hop_length.doc = "samples between the starts of consecutive frames (the package's hop_time * sr)";
    auto n_fft = ParamSpec::integer("n_fft", 0,
                                    "FFT size of method 'fft', at least win_length; null: the package's "
                                    "2^ceil(log2(2 * win_length)), 2048 for a window of 1024")
                     .range(2, 65536)
                     .orNull();
    auto power = paramSpecFrom(stftParamSpecs(), "power");
    power.default_value = 1.0;
    power.doc = "exponent applied to each value: 1 the package's RMS amplitude (fft: weighted magnitude), "
                "2 power (for features.power_to_db)";
    return {
        ParamSpec::choice(
            "method", "iir", {"iir", "fft"},
            "\"iir\": the 4th-order ERB gammatone filterbank (gtgram); \"fft\": its FFT-weighting "
            "approximation (fft_gtgram)"),
        ParamSpec::integer("n_bands", 64, "number of gammatone bands (the package's channels)")
            .range(1, 1024),
        fmin,
        fmax,
        ParamSpec::integer("win_length", 1024,
                           "frame length in samples: the RMS window of 'iir', the Hann window of 'fft' "
                           "(the package's window_time * sr, rounded half away from zero)")
            .range(1, 65536),
        hop_length,
        n_fft,
        power,
    };
}

/** Audio to a gammatonegram: the IIR filterbank in float64 on the CPU, or FFT weights on any device. */
class GammatoneNode : public Node {
public:
    explicit GammatoneNode(const NodeContext& ctx)
        : Node(ctx), settings_(gammatoneSettings(ctx.params)), fft_(ctx.params.text("method") == "fft"),
          iir_(settings_), frames_(fftFrameSettings(settings_)) {}

protected:
    void onPrepare(const PortInfos& in, PortInfos& out) override {
        out["gammatone"].hop = settings_.hop_length;
        if (auto rate = in.at("audio").sample_rate)
            checkBandRange(*rate, settings_.fmin, settings_.fmax);
    }
    Ports run(const Ports& in) override {
        const Value& audio = input(in, "audio");
        const auto& x = audioTensor(audio, "audio");
        const double sr = requireSampleRate(audio, "audio");
        checkBandRange(sr, settings_.fmin, settings_.fmax);
        auto bands = fft_ ? fftGammatonegram(x, weights(x, sr), window(x), settings_, banded(x, sr))
                          : gammatonegram(x, sr, settings_);
        return {{"gammatone", spectrumValue(audio, bands, settings_.hop_length)}};
    }

    void onPrepareStream(const StreamSpec&) override { onResetStream(); }
    Ports runBlock(const Ports& in) override { return block(in, false); }
    Ports runFinish(const Ports& in) override { return block(in, true); }
    Ports block(const Ports& in, bool end) {
        const Value& audio = input(in, "audio");
        const auto& x = audioTensor(audio, "audio");
        const double sr = requireSampleRate(audio, "audio");
        checkBandRange(sr, settings_.fmin, settings_.fmax);
        torch::Tensor bands;
        if (fft_) {
            auto frames = frames_.push(x, window(x));
            if (end) // frames are not centred: the end completes none, but the stream must be whole
                frames = torch::cat({frames, frames_.finish(window(x))}, -1);
            bands = fftBands(frames, weights(x, sr), settings_, banded(x, sr));
        } else {
            bands = iir_.push(x, sr);
        }
        return {{"gammatone", spectrumValue(audio, bands, settings_.hop_length)}};
    }
    void onResetStream() override {
        iir_.reset();
        frames_.reset();
    }
    int64_t latency() const override { return fft_ ? frames_.latency() : iir_.latency(); }

private:
    const torch::Tensor& weights(const torch::Tensor& like, double sr) {
        return weights_.get(like.options(), sr, settings_.n_fft,
                            [&] { return gammatoneFftWeights(sr, settings_); });
    }
    /** The FFT weights as a banded filterbank, for float32 CPU audio (see fftBands); null otherwise. */
    const BandedFilterbank* banded(const torch::Tensor& like, double sr) {
        if (!cpuFastPath(like))
            return nullptr;
        if (banded_sr_ != sr) {
            banded_ = BandedFilterbank::fromDense(weights(like, sr));
            banded_sr_ = sr;
        }
        return &banded_;
    }
    const torch::Tensor& window(const torch::Tensor& like) {
        return windows_.get(like.options(), 0.0, settings_.n_fft,
                            [&] { return specgramWindow(settings_.n_fft, settings_.win_length); });
    }

    GammatoneSettings settings_;
    bool fft_;
    GammatoneIirStream iir_;
    StftStream frames_;
    ConstantCache weights_;
    ConstantCache windows_;
    BandedFilterbank banded_;
    double banded_sr_ = 0.0;
};

} // namespace

NodeSpec gammatoneNodeSpec() {
    NodeSpec s;
    s.type = "features.gammatone";
    s.summary =
        "Gammatonegram: RMS of an ERB-spaced 4th-order gammatone filterbank, or its FFT approximation";
    s.doc =
        "Matches the Python gammatone package (detly/gammatone, Dan Ellis's gammatonegram) within the "
        "golden tolerances (iir: 1e-5 of each band's maximum + 1e-4 relative; fft: 1e-5 of the maximum + "
        "1e-4 relative). Centre frequencies are uniform on the Glasberg-Moore ERB scale from fmin to just "
        "below fmax (Slaney's ERBSpace), band 0 the lowest. "
        "method 'iir' is gtgram(y, sr, win_length/sr, hop_length/sr, n_bands, fmin): Slaney's ERB filters "
        "(make_erb_filters: four cascaded biquads per band, as scipy.signal.lfilter, divided by the gain), "
        "squared, and frame t = sqrt(mean over samples [t*hop_length, t*hop_length + win_length)); no "
        "padding, 1 + floor((samples - win_length) / hop_length) frames. The recursion runs in float64 on "
        "the CPU whatever the audio's dtype and device (in float32 the low bands' poles cost up to 1e-3 of a "
        "band's maximum); the result returns to the audio's device and dtype and is not differentiable. "
        "method 'fft' is fft_gtgram(y, sr, win_length/sr, hop_length/sr, n_bands, fmin): fft_weights @ "
        "|FFT(frame)| / n_fft, frame t the n_fft samples from t*hop_length with a Hann of win_length centred "
        "in it (Ellis's specgram), 1 + floor((samples - n_fft) / hop_length) frames, so frame t is centred "
        "n_fft/2 samples later than 'iir' frame t; tensor ops in the audio's dtype, on its device. Where the "
        "package's loop leaves the last column zero ((samples - n_fft) a multiple of hop_length), this node "
        "computes that frame. power raises every value to an exponent (2: power, for features.power_to_db). "
        "A signal shorter than one frame is an error. Streams exactly: frame t is produced once t*hop_length "
        "+ latency samples have arrived, latency win_length ('iir': the filters carry their state across "
        "blocks) or n_fft ('fft').";
    s.inputs = {PortSpec::of("audio", {Kind::Audio}, "[batch, channel, sample] with its sample rate")};
    s.outputs = {PortSpec::of("gammatone", {Kind::Spectrum},
                              "[batch, channel, n_bands, frame], bands low to high, hop = hop_length")};
    s.params = gammatoneParamSpecs();
    s.streams = true;
    s.check = [](const NodeContext& ctx) {
        const auto& p = ctx.params;
        checkMelParams(ctx);
        if (p.text("method") == "fft" && !p.isNull("n_fft") && p.integer("win_length") > p.integer("n_fft"))
            throw paramError(ctx, "win_length",
                             "expected at most n_fft = " + std::to_string(p.integer("n_fft")) + ", got " +
                                 std::to_string(p.integer("win_length")) +
                                 " (method 'fft' centres the window in the FFT)");
    };
    s.make = [](const NodeContext& ctx) { return std::make_unique<GammatoneNode>(ctx); };
    return s;
}

} // namespace avgraph::nodes
