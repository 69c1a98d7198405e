#include "nodes/features/scalogram.h"

#include "nodes/features/spectral.h"
#include "nodes/features/spectral_params.h"

#include <torch/torch.h>

#include <cmath>

namespace avgraph::nodes {

torch::Tensor waveletFrequencies(double sample_rate, const WaveletSettings& s) {
    const double fmax = s.fmax.value_or(sample_rate / 2.0);
    const double r = std::pow(fmax / s.fmin, 1.0 / static_cast<double>(s.n_bins + 1));
    auto k = torch::arange(1, s.n_bins + 1, torch::kFloat64);
    return s.fmin * torch::pow(torch::tensor(r, torch::kFloat64), k);
}

torch::Tensor waveletFilterbank(double sample_rate, int64_t n_fft, const WaveletSettings& s) {
    const double fmax = s.fmax.value_or(sample_rate / 2.0);
    const double r = std::pow(fmax / s.fmin, 1.0 / static_cast<double>(s.n_bins + 1));
    const double gamma = s.gamma.value_or(sample_rate / static_cast<double>(n_fft));
    auto centres = waveletFrequencies(sample_rate, s).unsqueeze(1);
    auto fwhm = s.filter_scale * centres * (r - 1.0) + gamma;
    auto sigma = fwhm / (2.0 * std::sqrt(2.0 * std::log(2.0)));
    auto bins = torch::arange(n_fft / 2 + 1, torch::kFloat64).unsqueeze(0) *
                (sample_rate / static_cast<double>(n_fft));
    return torch::exp(-0.5 * ((bins - centres) / sigma).square());
}

namespace {

WaveletSettings waveletSettings(const Params& p) {
    WaveletSettings s;
    s.n_bins = p.integer("n_bins");
    s.fmin = p.real("fmin");
    s.fmax = p.optionalReal("fmax");
    s.filter_scale = p.real("filter_scale");
    s.gamma = p.optionalReal("gamma");
    return s;
}

/** The wavelet range against the sample rate, once it is known: fmin < fmax <= sr/2. */
void checkWaveletRange(double sample_rate, const WaveletSettings& s) {
    const double nyquist = sample_rate / 2.0;
    if (s.fmax && *s.fmax > nyquist)
        throw std::invalid_argument("fmax = " + numberText(*s.fmax) + " Hz is above the Nyquist frequency " +
                                    numberText(nyquist) + " Hz of the " + numberText(sample_rate) +
                                    " Hz input; lower fmax, or set it to null for sr/2");
    if (s.fmin >= s.fmax.value_or(nyquist))
        throw std::invalid_argument("fmin = " + numberText(s.fmin) + " Hz must be below fmax = " +
                                    numberText(s.fmax.value_or(nyquist)) + " Hz");
}

class ScalogramNode : public Node {
public:
    explicit ScalogramNode(const NodeContext& ctx)
        : Node(ctx), stft_(stftSettings(ctx.params)), wavelets_(waveletSettings(ctx.params)), stream_(stft_) {
    }

protected:
    void onPrepare(const PortInfos& in, PortInfos& out) override {
        out["scalogram"].hop = stft_.hop_length;
        if (auto rate = in.at("audio").sample_rate)
            checkWaveletRange(*rate, wavelets_);
    }
    Ports run(const Ports& in) override {
        const Value& audio = input(in, "audio");
        const auto& x = audioTensor(audio, "audio");
        const double sr = requireSampleRate(audio, "audio");
        checkWaveletRange(sr, wavelets_);
        auto power = spectrogram(x, window(x), stft_);
        return {{"scalogram",
                 spectrumValue(audio, torch::matmul(filterbank(power, sr), power), stft_.hop_length)}};
    }

    void onPrepareStream(const StreamSpec&) override { stream_.reset(); }
    Ports runBlock(const Ports& in) override { return block(in, false); }
    Ports runFinish(const Ports& in) override { return block(in, true); }
    Ports block(const Ports& in, bool end) {
        const Value& audio = input(in, "audio");
        const auto& x = audioTensor(audio, "audio");
        const double sr = requireSampleRate(audio, "audio");
        checkWaveletRange(sr, wavelets_);
        auto power = stream_.push(x, window(x));
        if (end)
            power = torch::cat({power, stream_.finish(window(x))}, -1);
        return {{"scalogram",
                 spectrumValue(audio, torch::matmul(filterbank(power, sr), power), stft_.hop_length)}};
    }
    void onResetStream() override { stream_.reset(); }
    int64_t latency() const override { return stream_.latency(); }

private:
    const torch::Tensor& window(const torch::Tensor& like) {
        return windows_.get(like.options(), 0.0, stft_.n_fft,
                            [&] { return stftWindow(stft_, torch::kFloat64); });
    }

    /** g^power, computed in float64 and kept in the spectrum's dtype and device. */
    const torch::Tensor& filterbank(const torch::Tensor& like, double sr) {
        return filterbanks_.get(like.options(), sr, stft_.n_fft, [&] {
            return waveletFilterbank(sr, stft_.n_fft, wavelets_).pow(stft_.power);
        });
    }

    StftSettings stft_;
    WaveletSettings wavelets_;
    StftStream stream_;
    ConstantCache windows_;
    ConstantCache filterbanks_;
};

std::vector<ParamSpec> scalogramStftParamSpecs() {
    auto params = stftParamSpecs();
    for (auto& p : params) {
        // Chen et al.: 512 ms windows every 171 ms at 16 kHz.
        if (p.name == "n_fft")
            p.default_value = 8192;
        if (p.name == "hop_length")
            p.default_value = 2736;
    }
    return params;
}

} // namespace

NodeSpec scalogramNodeSpec() {
    NodeSpec s;
    s.type = "features.scalogram";
    s.summary = "Long-term scalogram: Morlet wavelet filters applied to a long-window STFT (Chen et al.)";
    s.doc =
        "S[k, t] = sum_b g_k(f_b)^power |X[b, t]|^power, X the STFT of features.stft (same parameters and "
        "frames; defaults n_fft 8192 and hop_length 2736, Chen et al.'s 512 ms and 171 ms at 16 kHz) and "
        "g_k the frequency response of an analytic Morlet (Gabor) wavelet: a unit-peak Gaussian centred "
        "at f_k = fmin * r^(k+1), r = (fmax/fmin)^(1/(n_bins+1)), with full width at half maximum "
        "filter_scale * f_k * (r - 1) + gamma (constant Q = 1/(r-1) as librosa's CQT, widened by gamma Hz "
        "as librosa's VQT; gamma null is one STFT bin, sr/n_fft, so that no wavelet falls between bins). "
        "power 2 (default) gives the energy of each frame filtered by each wavelet, power 1 a "
        "pseudo-CQT-like magnitude. The defaults give Chen et al.'s 290 scales per channel; feed average "
        "and difference channels (signal.channels) for their 2 x 290. No golden exists: the tests check "
        "closed-form values of pure tones. Streams like features.stft, with its latency.";
    s.inputs = {PortSpec::of("audio", {Kind::Audio}, "[batch, channel, sample] with its sample rate")};
    s.outputs = {PortSpec::of("scalogram", {Kind::Spectrum}, "[batch, channel, n_bins, frame], low to high")};
    s.params = joinParamSpecs(
        {scalogramStftParamSpecs(),
         {
             ParamSpec::integer("n_bins", 290, "number of wavelets (scales)").range(1, 4096),
             ParamSpec::real("fmin", 32.703195662574764,
                             "lower edge in Hz: the first centre is fmin * r (C1 by default)")
                 .above(0.0),
             ParamSpec::real("fmax", 0.0, "upper edge in Hz, at most sr/2; null: sr/2").above(0.0).orNull(),
             ParamSpec::real("filter_scale", 1.0, "bandwidth factor of the constant-Q part").above(0.0),
             ParamSpec::real("gamma", 0.0,
                             "Hz added to every bandwidth; null: sr / n_fft (one STFT bin); "
                             "0: pure constant Q")
                 .atLeast(0.0)
                 .orNull(),
         }});
    s.streams = true;
    s.check = [](const NodeContext& ctx) {
        checkStftParams(ctx);
        const auto& p = ctx.params;
        if (auto fmax = p.optionalReal("fmax"); fmax && p.real("fmin") >= *fmax)
            throw paramError(ctx, "fmin",
                             "expected below fmax = " + numberText(*fmax) + " Hz, got " +
                                 numberText(p.real("fmin")) + " Hz");
    };
    s.make = [](const NodeContext& ctx) { return std::make_unique<ScalogramNode>(ctx); };
    return s;
}

} // namespace avgraph::nodes
