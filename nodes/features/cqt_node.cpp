#include "nodes/features/constant_q.h"
#include "nodes/features/features.h"
#include "nodes/features/spectral.h"
#include "nodes/features/spectral_params.h"

#include <map>
#include <memory>
#include <tuple>

namespace avgraph::nodes {

namespace {

CqtSettings cqtSettings(const Params& p) {
    CqtSettings s;
    const auto& method = p.text("method");
    s.method = method == "pseudo"   ? CqtMethod::Pseudo
               : method == "hybrid" ? CqtMethod::Hybrid
                                    : CqtMethod::Full;
    s.hop_length = p.integer("hop_length");
    s.fmin = p.optionalReal("fmin").value_or(kC1Hz);
    s.n_bins = p.integer("n_bins");
    s.bins_per_octave = p.integer("bins_per_octave");
    s.tuning = p.real("tuning");
    s.filter_scale = p.real("filter_scale");
    s.norm = p.optionalReal("norm");
    s.sparsity = p.real("sparsity");
    const auto& window = p.text("window");
    s.window = window == "hamming"    ? CqtWindow::Hamming
               : window == "blackman" ? CqtWindow::Blackman
               : window == "boxcar"   ? CqtWindow::Boxcar
                                      : CqtWindow::Hann;
    s.scale = p.flag("scale");
    s.pad_mode = p.text("pad_mode") == "reflect" ? PadMode::Reflect : PadMode::Constant;
    s.res_type = p.text("res_type") == "fft" ? CqtResampler::Fft : CqtResampler::SoxrHq;
    return s;
}

/** |CQT| of every channel of every clip; the pseudo-CQT also streams. */
class CqtNode : public Node {
public:
    explicit CqtNode(const NodeContext& ctx)
        : Node(ctx), settings_(cqtSettings(ctx.params)), power_(ctx.params.real("power")) {}

protected:
    void onPrepare(const PortInfos& in, PortInfos& out) override {
        out["cqt"].hop = settings_.hop_length;
        // Builds the float32 CPU filters (and checks the bins against the Nyquist frequency) once.
        if (auto rate = in.at("audio").sample_rate)
            transform(*rate, torch::TensorOptions().dtype(torch::kFloat32));
    }
    Ports run(const Ports& in) override {
        const Value& audio = input(in, "audio");
        const auto& x = audioTensor(audio, "audio");
        const double sr = requireRate(audio);
        return {{"cqt", spectrumValue(audio, toPower(transform(sr, x.options())(x)), settings_.hop_length)}};
    }

    void onPrepareStream(const StreamSpec& spec) override {
        if (settings_.method != CqtMethod::Pseudo)
            throw Error(where(),
                        "cannot stream method '" + params().text("method") +
                            "': the full CQT halves the sample rate once per octave with a resampler that "
                            "needs the whole signal (libsoxr flushes its filter at the end, the FFT "
                            "resampler transforms the whole clip), so its frames depend on samples a "
                            "stream has not received yet; method 'pseudo' (one STFT) streams, or run "
                            "offline");
        stream_.reset();
        if (spec.sample_rate > 0.0)
            stream_ = std::make_unique<StftStream>(transform(spec.sample_rate, torch::kFloat32).pseudoStft());
    }
    Ports runBlock(const Ports& in) override { return block(in, false); }
    Ports runFinish(const Ports& in) override { return block(in, true); }
    Ports block(const Ports& in, bool end) {
        const Value& audio = input(in, "audio");
        const auto& x = audioTensor(audio, "audio");
        const auto& cqt = transform(requireRate(audio), x.options());
        if (!stream_)
            stream_ = std::make_unique<StftStream>(cqt.pseudoStft());
        auto magnitude = stream_->push(x, window(cqt, x.options()));
        if (end)
            magnitude = torch::cat({magnitude, stream_->finish(window(cqt, x.options()))}, -1);
        return {
            {"cqt", spectrumValue(audio, toPower(cqt.pseudoFromMagnitude(magnitude)), settings_.hop_length)}};
    }
    void onResetStream() override {
        if (stream_)
            stream_->reset();
    }
    /** The pseudo-CQT's STFT is centred: frame t needs n_fft - n_fft/2 samples past t*hop_length. */
    int64_t latency() const override { return stream_ ? stream_->latency() : 0; }

private:
    torch::Tensor toPower(const torch::Tensor& magnitude) const {
        if (power_ == 1.0)
            return magnitude;
        return power_ == 2.0 ? magnitude.square() : magnitude.pow(power_);
    }

    double requireRate(const Value& audio) const {
        if (!(audio.sample_rate > 0.0))
            throw std::invalid_argument("input 'audio' carries no sample rate, which the constant-Q "
                                        "filters need; feed audio with a known rate");
        return audio.sample_rate;
    }

    /** The transform for a rate and dtype, built on first use (filters are computed once). */
    const ConstantQ& transform(double sr, const torch::TensorOptions& options) {
        Key key{sr, static_cast<int>(options.dtype().toScalarType()), options.device().str()};
        auto it = transforms_.find(key);
        if (it == transforms_.end())
            it = transforms_.emplace(key, std::make_unique<ConstantQ>(sr, settings_, options)).first;
        return *it->second;
    }

    const torch::Tensor& window(const ConstantQ& cqt, const torch::TensorOptions& options) {
        return windows_.get(options, 0.0, cqt.pseudoFftSize(),
                            [&] { return stftWindow(cqt.pseudoStft(), torch::kFloat64); });
    }

    using Key = std::tuple<double, int, std::string>;
    CqtSettings settings_;
    double power_ = 1.0;
    std::map<Key, std::unique_ptr<ConstantQ>> transforms_;
    ConstantCache windows_;
    std::unique_ptr<StftStream> stream_;
};

std::vector<ParamSpec> cqtParamSpecs() {
    auto fmin =
        ParamSpec::real("fmin", kC1Hz, "centre frequency of the lowest bin in Hz; null: C1 (32.70 Hz)")
            .above(0.0)
            .orNull();
    auto norm = ParamSpec::real("norm", 1.0,
                                "each filter is divided by its p-norm with this p (1: librosa's default); "
                                "null: no normalisation")
                    .above(0.0)
                    .orNull();
    norm.default_value = 1.0; // librosa's default; orNull() made null the default
    return {
        ParamSpec::choice("method", "full", {"full", "pseudo", "hybrid"},
                          "\"full\": librosa.cqt (recursive downsampling); \"pseudo\": librosa.pseudo_cqt "
                          "(one STFT, magnitudes of the filters); \"hybrid\": librosa.hybrid_cqt (pseudo "
                          "for the bins whose filters fit in two hops, full for the rest)"),
        ParamSpec::integer("hop_length", 512,
                           "samples between frames; the full CQT halves it once per octave while it is even")
            .range(1, 65536),
        fmin,
        ParamSpec::integer("n_bins", 84, "number of frequency bins, from fmin up").range(1, 1024),
        ParamSpec::integer("bins_per_octave", 12, "bins per octave").range(1, 256),
        ParamSpec::real("tuning", 0.0,
                        "tuning offset in fractions of a bin: the bins start at fmin * "
                        "2^(tuning / bins_per_octave) (librosa's estimate from the signal, null, is not "
                        "offered)")
            .range(-0.5, 0.5),
        ParamSpec::real("filter_scale", 1.0, "filter length factor: below 1 shorter filters, finer time")
            .above(0.0),
        norm,
        ParamSpec::real("sparsity", 0.01,
                        "drop the smallest FFT-domain filter coefficients of each bin that together hold "
                        "this fraction of its L1 mass; 0 keeps the filters dense")
            .range(0.0, 0.999),
        ParamSpec::choice("window", "hann", {"hann", "hamming", "blackman", "boxcar"},
                          "window of the filters (periodic, as scipy.signal.get_window)"),
        ParamSpec::flag("scale", true,
                        "divide each bin by sqrt(its filter length) (pseudo: by sqrt(n_fft)), like "
                        "norm='ortho' for an FFT"),
        ParamSpec::choice("pad_mode", "constant", {"constant", "reflect"},
                          "how centred frames extend the signal: zeros (librosa 0.10's default) or its "
                          "mirror image"),
        ParamSpec::choice("res_type", "soxr_hq", {"soxr_hq", "fft"},
                          "octave decimation (full and hybrid): \"soxr_hq\" libsoxr at HQ quality "
                          "(librosa's default), \"fft\" scipy.signal.resample's FFT method"),
        ParamSpec::real("power", 1.0,
                        "exponent of the magnitude: 1 as librosa returns it, 2 for power (to feed "
                        "features.power_to_db, i.e. librosa.amplitude_to_db)")
            .above(0.0),
    };
}

} // namespace

NodeSpec cqtNodeSpec() {
    NodeSpec s;
    s.type = "features.cqt";
    s.summary = "Constant-Q magnitude spectrogram: librosa's cqt, pseudo_cqt or hybrid_cqt";
    s.doc =
        "Matches np.abs(librosa.cqt(y, sr, hop_length, fmin, n_bins, bins_per_octave, tuning, filter_scale, "
        "norm, sparsity, window, scale, pad_mode, res_type)) of librosa 0.10 (method 'full'), "
        "librosa.pseudo_cqt (method 'pseudo') and librosa.hybrid_cqt (method 'hybrid'), all with the same "
        "parameters, within the golden tolerance (1e-4 of the maximum). Frame t is centred on sample "
        "t*hop_length: 1 + floor(samples / hop_length) frames. The full CQT applies one octave of FFT-domain "
        "filters to a rectangular-window STFT, then halves the sample rate (and the hop) for the next octave "
        "down, as long as the hop is even; its filters must stay below the Nyquist frequency. The filters "
        "are built once per sample rate and dtype. 'soxr_hq' decimates with libsoxr at HQ quality as "
        "librosa's default does (python-soxr's call); 'fft' is scipy.signal.resample's FFT method, exactly "
        "specified. Each channel is analysed on its own, in the audio's dtype. Streams only with method "
        "'pseudo' (a latency of n_fft/2 samples of its STFT); the full and hybrid CQT resample the whole "
        "signal per octave and run offline.";
    s.inputs = {PortSpec::of("audio", {Kind::Audio}, "[batch, channel, sample] with its sample rate")};
    s.outputs = {PortSpec::of("cqt", {Kind::Spectrum},
                              "[batch, channel, n_bins, frame] magnitudes, hop = hop_length")};
    s.params = cqtParamSpecs();
    s.streams = true;
    s.make = [](const NodeContext& ctx) { return std::make_unique<CqtNode>(ctx); };
    return s;
}

} // namespace avgraph::nodes
