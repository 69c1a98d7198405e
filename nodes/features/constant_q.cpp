#include "nodes/features/constant_q.h"

#include <soxr.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstring>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

namespace avgraph::nodes {

namespace {

std::string text(double v) {
    std::ostringstream out;
    out << v;
    return out.str();
}

// librosa.filters.WINDOW_BANDWIDTHS
double windowBandwidth(CqtWindow w) {
    switch (w) {
    case CqtWindow::Hann:
        return 1.50018310546875;
    case CqtWindow::Hamming:
        return 1.3629455320350348;
    case CqtWindow::Blackman:
        return 1.7269681554262326;
    case CqtWindow::Boxcar:
        return 1.0;
    }
    return 1.0;
}

/** scipy.signal.get_window(name, n, fftbins=True) in float64. */
std::vector<double> periodicWindow(CqtWindow w, int64_t n) {
    std::vector<double> out(static_cast<size_t>(n), 1.0);
    if (n <= 1 || w == CqtWindow::Boxcar)
        return out;
    // scipy's general_cosine over np.linspace(-pi, pi, n + 1)[:-1].
    const double step = 2.0 * kPi / static_cast<double>(n);
    for (int64_t j = 0; j < n; ++j) {
        const double fac = static_cast<double>(j) * step - kPi;
        double v = 0.0;
        switch (w) {
        case CqtWindow::Hann:
            v = 0.5 + 0.5 * std::cos(fac);
            break;
        case CqtWindow::Hamming:
            v = 0.54 + 0.46 * std::cos(fac);
            break;
        case CqtWindow::Blackman:
            v = 0.42 + 0.5 * std::cos(fac) + 0.08 * std::cos(2.0 * fac);
            break;
        case CqtWindow::Boxcar:
            v = 1.0;
            break;
        }
        out[static_cast<size_t>(j)] = v;
    }
    return out;
}

/** librosa.filters._relative_bandwidth (two or more bins) or __et_relative_bw (one bin). */
std::vector<double> relativeBandwidth(const std::vector<double>& freqs, int64_t bins_per_octave) {
    const size_t n = freqs.size();
    std::vector<double> bpo(n);
    if (n == 1) {
        const double r = std::pow(2.0, 1.0 / static_cast<double>(bins_per_octave));
        return {(r * r - 1.0) / (r * r + 1.0)};
    }
    std::vector<double> logf(n);
    for (size_t i = 0; i < n; ++i)
        logf[i] = std::log2(freqs[i]);
    bpo[0] = 1.0 / (logf[1] - logf[0]);
    bpo[n - 1] = 1.0 / (logf[n - 1] - logf[n - 2]);
    for (size_t i = 1; i + 1 < n; ++i)
        bpo[i] = 2.0 / (logf[i + 1] - logf[i - 1]);
    std::vector<double> alpha(n);
    for (size_t i = 0; i < n; ++i) {
        const double p = std::pow(2.0, 2.0 / bpo[i]);
        alpha[i] = (p - 1.0) / (p + 1.0);
    }
    return alpha;
}

/** librosa.filters.wavelet_lengths (gamma = 0): Q * sr / f, and the highest frequency any filter reaches. */
std::vector<double> waveletLengths(const std::vector<double>& freqs, const std::vector<double>& alpha,
                                   double sr, const CqtSettings& s, double* cutoff = nullptr) {
    std::vector<double> lengths(freqs.size());
    double reach = 0.0;
    for (size_t i = 0; i < freqs.size(); ++i) {
        const double q = s.filter_scale / alpha[i];
        lengths[i] = q * sr / freqs[i];
        reach = std::max(reach, freqs[i] * (1.0 + 0.5 * windowBandwidth(s.window) / q));
    }
    if (cutoff)
        *cutoff = reach;
    return lengths;
}

int64_t nextPowerOfTwo(double x) { return static_cast<int64_t>(std::pow(2.0, std::ceil(std::log2(x)))); }

/** FFT-domain filters of one set of bins at one rate, as librosa's __vqt_filter_fft. */
struct FilterFft {
    torch::Tensor basis; ///< complex128 [bins, n_fft/2 + 1], sparsified
    int64_t n_fft = 0;
    std::vector<double> lengths;
};

/** librosa.util.sparsify_rows: zero each row's smallest magnitudes that sum to less than `quantile`. */
torch::Tensor sparsifyRows(const torch::Tensor& x, double quantile) {
    if (quantile <= 0.0)
        return x;
    auto mags = x.abs();
    auto norms = mags.sum(1, true);
    auto sorted = std::get<0>(mags.sort(1));
    auto cumulative = (sorted / norms).cumsum(1);
    // np.argmin(cumulative < quantile): the first index where the cumulative sum reaches the quantile.
    auto below = (cumulative < quantile).to(torch::kInt);
    auto idx = std::get<1>(below.min(1, true));
    auto threshold = sorted.gather(1, idx);
    return torch::where(mags >= threshold, x, torch::zeros_like(x));
}

FilterFft filterFft(double sr, const std::vector<double>& freqs, const std::vector<double>& alpha,
                    const CqtSettings& s, std::optional<int64_t> hop_length) {
    FilterFft out;
    out.lengths = waveletLengths(freqs, alpha, sr, s);
    const double max_len = *std::max_element(out.lengths.begin(), out.lengths.end());
    const int64_t width = nextPowerOfTwo(max_len);
    out.n_fft = width;
    if (hop_length) {
        const auto min_fft =
            static_cast<int64_t>(std::pow(2.0, 1.0 + std::ceil(std::log2(static_cast<double>(*hop_length)))));
        out.n_fft = std::max(out.n_fft, min_fft);
    }
    const int64_t n_bins = static_cast<int64_t>(freqs.size());
    // librosa builds the filters in float64, stores them as complex64 (filters.wavelet's default dtype),
    // scales them by length / n_fft in complex64 and FFTs them in complex128. Mirror the roundings.
    std::vector<std::complex<double>> basis(static_cast<size_t>(n_bins * out.n_fft));
    for (int64_t k = 0; k < n_bins; ++k) {
        const double ilen = out.lengths[static_cast<size_t>(k)];
        const double start = std::floor(-ilen / 2.0);
        const double stop = std::floor(ilen / 2.0);
        const auto n = static_cast<int64_t>(stop - start);
        const auto window = periodicWindow(s.window, n);
        std::vector<std::complex<double>> sig(static_cast<size_t>(n));
        const double f = freqs[static_cast<size_t>(k)];
        for (int64_t j = 0; j < n; ++j) {
            const double angle = (start + static_cast<double>(j)) * 2.0 * kPi * f / sr;
            sig[static_cast<size_t>(j)] =
                std::complex<double>(std::cos(angle), std::sin(angle)) * window[static_cast<size_t>(j)];
        }
        if (s.norm) {
            const double p = *s.norm;
            double total = 0.0;
            for (const auto& z : sig)
                total += p == 1.0 ? std::abs(z) : std::pow(std::abs(z), p);
            const double length = p == 1.0 ? total : std::pow(total, 1.0 / p);
            if (length >= std::numeric_limits<double>::min())
                for (auto& z : sig)
                    z /= length;
        }
        const int64_t left = (width - n) / 2; // librosa.util.pad_center
        const double gain = ilen / static_cast<double>(out.n_fft);
        for (int64_t j = 0; j < n; ++j) {
            const auto& z = sig[static_cast<size_t>(j)];
            const double re = static_cast<float>(static_cast<double>(static_cast<float>(z.real())) * gain);
            const double im = static_cast<float>(static_cast<double>(static_cast<float>(z.imag())) * gain);
            basis[static_cast<size_t>(k * out.n_fft + left + j)] = {re, im};
        }
    }
    auto time = torch::from_blob(basis.data(), {n_bins, out.n_fft}, torch::kComplexDouble).clone();
    auto spectrum = torch::fft::fft(time, out.n_fft, 1).narrow(1, 0, out.n_fft / 2 + 1);
    out.basis = sparsifyRows(spectrum, s.sparsity).contiguous();
    return out;
}

/** The columns [first, last] holding a nonzero entry of `basis` (its rows' union). */
std::pair<int64_t, int64_t> nonzeroColumns(const torch::Tensor& basis) {
    auto any = (basis.abs() > 0).any(0);
    auto idx = any.nonzero();
    if (idx.numel() == 0)
        return {0, 0};
    return {idx.min().item<int64_t>(), idx.max().item<int64_t>()};
}

void checkBins(const CqtSettings& s) {
    if (!(s.fmin > 0.0))
        throw std::invalid_argument("fmin = " + text(s.fmin) + " Hz: frequencies must be strictly positive");
    if (s.n_bins < 1 || s.bins_per_octave < 1)
        throw std::invalid_argument("n_bins and bins_per_octave must be at least 1");
}

} // namespace

std::vector<double> cqtFrequencies(const CqtSettings& s) {
    const double fmin = s.fmin * std::pow(2.0, s.tuning / static_cast<double>(s.bins_per_octave));
    std::vector<double> freqs(static_cast<size_t>(s.n_bins));
    for (int64_t k = 0; k < s.n_bins; ++k)
        freqs[static_cast<size_t>(k)] =
            fmin * std::pow(2.0, static_cast<double>(k) / static_cast<double>(s.bins_per_octave));
    return freqs;
}

// ---------------------------------------------------------------------------------------------
// Decimation

namespace {

torch::Tensor soxrDecimate(const torch::Tensor& signal, int64_t factor) {
    if (!signal.device().is_cpu())
        throw std::invalid_argument(
            "res_type 'soxr_hq' resamples on the CPU; move the audio to the CPU or use "
            "res_type 'fft'");
    const bool f64 = signal.scalar_type() == torch::kFloat64;
    auto rows =
        signal.reshape({-1, signal.size(-1)}).to(f64 ? torch::kFloat64 : torch::kFloat32).contiguous();
    const int64_t n = rows.size(1);
    const int64_t wanted = (n + factor - 1) / factor;
    auto out = torch::zeros({rows.size(0), wanted}, rows.options());
    const double in_rate = static_cast<double>(factor), out_rate = 1.0;
    const size_t olen = static_cast<size_t>(static_cast<double>(n) * out_rate / in_rate + 1);
    const size_t chunk = static_cast<size_t>(std::max(1000.0, 48000.0 * in_rate / out_rate));
    const size_t item = f64 ? sizeof(double) : sizeof(float);
    std::vector<char> buffer(olen * item);
    for (int64_t r = 0; r < rows.size(0); ++r) {
        soxr_error_t error = nullptr;
        soxr_io_spec_t io =
            soxr_io_spec(f64 ? SOXR_FLOAT64_I : SOXR_FLOAT32_I, f64 ? SOXR_FLOAT64_I : SOXR_FLOAT32_I);
        soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
        // One thread: the engine's intra-op threads are the node's parallelism.
        soxr_runtime_spec_t runtime = soxr_runtime_spec(1);
        soxr_t soxr = soxr_create(in_rate, out_rate, 1, &error, &io, &quality, &runtime);
        if (error)
            throw std::runtime_error(std::string("libsoxr: ") + error);
        const char* in = static_cast<const char*>(rows[r].data_ptr());
        size_t pos = 0, done = 0;
        for (size_t at = 0; at < static_cast<size_t>(n) && !error; at += chunk) {
            error = soxr_process(soxr, in + at * item, std::min(chunk, static_cast<size_t>(n) - at), nullptr,
                                 buffer.data() + pos * item, olen - pos, &done);
            pos += done;
        }
        if (!error) {
            error = soxr_process(soxr, nullptr, 0, nullptr, buffer.data() + pos * item, olen - pos, &done);
            pos += done;
        }
        soxr_delete(soxr);
        if (error)
            throw std::runtime_error(std::string("libsoxr: ") + error);
        // librosa.util.fix_length: pad with zeros or trim to ceil(n / factor).
        const size_t keep = std::min(pos, static_cast<size_t>(wanted));
        std::memcpy(out[r].data_ptr(), buffer.data(), keep * item);
    }
    out = out * std::sqrt(static_cast<double>(factor));
    auto sizes = signal.sizes().vec();
    sizes.back() = wanted;
    return out.reshape(sizes).to(signal.scalar_type());
}

/** scipy.signal.resample(x, num) for real x and num < len(x), times sqrt(factor). */
torch::Tensor fftDecimate(const torch::Tensor& signal, int64_t factor) {
    const int64_t n = signal.size(-1);
    const int64_t num = (n + factor - 1) / factor;
    if (num >= n)
        return signal * std::sqrt(static_cast<double>(factor));
    auto spectrum = torch::fft::rfft(signal, c10::nullopt, -1);
    auto kept = spectrum.narrow(-1, 0, num / 2 + 1);
    if (num % 2 == 0) {
        // scipy doubles the bin at the new Nyquist frequency, which irfft then reads as real.
        kept = kept.clone();
        kept.select(-1, num / 2).mul_(2.0);
    }
    auto out = torch::fft::irfft(kept, num, -1);
    return out * (static_cast<double>(num) / static_cast<double>(n) * std::sqrt(static_cast<double>(factor)));
}

} // namespace

torch::Tensor decimate(const torch::Tensor& signal, int64_t factor, CqtResampler resampler) {
    if (factor < 1)
        throw std::invalid_argument("decimate: the factor must be at least 1");
    if (factor == 1)
        return signal;
    if (signal.size(-1) == 0)
        throw std::invalid_argument("decimate: the signal is empty");
    return resampler == CqtResampler::SoxrHq ? soxrDecimate(signal, factor) : fftDecimate(signal, factor);
}

// ---------------------------------------------------------------------------------------------
// The transforms

/** One octave of the full CQT: its filters as one real matrix over a band of STFT bins. */
struct ConstantQ::Octave {
    int64_t first_bin = 0; ///< rows [first_bin, first_bin + bins) of the output
    int64_t bins = 0;
    int64_t n_fft = 0;
    int64_t hop = 0;
    int64_t column = 0;  ///< first STFT bin the filters touch
    int64_t columns = 0; ///< how many
    /**
     * [2 * columns, 2 * bins]: the complex product basis . X as one real matmul over the interleaved
     * (re, im) STFT bins: the first `bins` outputs are the real parts, the others the imaginary parts.
     */
    torch::Tensor weights;
    bool halve_after = false;
};

struct ConstantQ::Full {
    int64_t early_factor = 1; ///< librosa's early downsampling, before the first octave
    double early_gain = 1.0;
    std::vector<Octave> octaves;
    int64_t n_bins = 0;
    int64_t hop_length = 0;
    StftSettings stft(const Octave& o, PadMode pad) const {
        StftSettings s;
        s.n_fft = o.n_fft;
        s.hop_length = o.hop;
        s.win_length = o.n_fft;
        s.pad_mode = pad;
        return s;
    }
};

struct ConstantQ::Pseudo {
    int64_t n_fft = 0;
    int64_t hop_length = 0;
    int64_t n_bins = 0;
    torch::Tensor window; ///< Hann of n_fft
    /** Groups of consecutive bins with the band of STFT bins their filters touch: |basis| [rows, columns]. */
    struct Group {
        int64_t column = 0, columns = 0;
        torch::Tensor basis;
    };
    std::vector<Group> groups;
};

namespace {

std::shared_ptr<ConstantQ::Full> makeFull(double sr, const CqtSettings& s,
                                          const torch::TensorOptions& options) {
    auto plan = std::make_shared<ConstantQ::Full>();
    const auto freqs = cqtFrequencies(s);
    const auto alpha = relativeBandwidth(freqs, s.bins_per_octave);
    double cutoff = 0.0;
    waveletLengths(freqs, alpha, sr, s, &cutoff);
    const double nyquist = sr / 2.0;
    if (cutoff > nyquist)
        throw std::invalid_argument("the filter of the highest bin (" + text(freqs.back()) + " Hz) reaches " +
                                    text(cutoff) + " Hz, above the Nyquist frequency " + text(nyquist) +
                                    " Hz of the " + text(sr) +
                                    " Hz input; lower n_bins or fmin, or raise bins_per_octave");
    const int64_t n_octaves = (s.n_bins + s.bins_per_octave - 1) / s.bins_per_octave;
    const int64_t n_filters = std::min(s.bins_per_octave, s.n_bins);
    plan->n_bins = s.n_bins;
    plan->hop_length = s.hop_length;

    // __early_downsample_count
    int64_t twos = 0;
    for (int64_t h = s.hop_length; h > 0 && h % 2 == 0; h /= 2)
        ++twos;
    const int64_t count1 =
        std::max<int64_t>(0, static_cast<int64_t>(std::ceil(std::log2(nyquist / cutoff))) - 1 - 1);
    const int64_t count2 = std::max<int64_t>(0, twos - n_octaves + 1);
    const int64_t count = std::min(count1, count2);
    double sr_e = sr;
    int64_t hop = s.hop_length;
    if (count > 0) {
        plan->early_factor = int64_t(1) << count;
        hop /= plan->early_factor;
        sr_e = sr / static_cast<double>(plan->early_factor);
        if (!s.scale)
            plan->early_gain = std::sqrt(static_cast<double>(plan->early_factor));
    }
    const auto lengths_e = waveletLengths(freqs, alpha, sr_e, s);

    double my_sr = sr_e;
    for (int64_t i = 0; i < n_octaves; ++i) {
        ConstantQ::Octave o;
        const int64_t hi = s.n_bins - n_filters * i;
        const int64_t lo = std::max<int64_t>(0, s.n_bins - n_filters * (i + 1));
        o.first_bin = lo;
        o.bins = hi - lo;
        o.hop = hop;
        std::vector<double> f(freqs.begin() + lo, freqs.begin() + hi),
            a(alpha.begin() + lo, alpha.begin() + hi);
        auto fft = filterFft(my_sr, f, a, s, std::nullopt);
        o.n_fft = fft.n_fft;
        // Compensate the downsampling, then (scale) divide by sqrt(length) at the input rate: both
        // are per-row gains, so they go into the filters instead of the output.
        std::vector<double> gain(static_cast<size_t>(o.bins));
        for (int64_t k = 0; k < o.bins; ++k)
            gain[static_cast<size_t>(k)] =
                std::sqrt(sr_e / my_sr) / (s.scale ? std::sqrt(lengths_e[static_cast<size_t>(lo + k)]) : 1.0);
        auto basis = fft.basis * torch::tensor(gain, torch::kFloat64).unsqueeze(1);
        auto [c0, c1] = nonzeroColumns(basis);
        o.column = c0;
        o.columns = c1 - c0 + 1;
        auto band = basis.narrow(1, o.column, o.columns);            // [bins, columns]
        auto re = torch::real(band).t(), im = torch::imag(band).t(); // [columns, bins]
        // Rows 2c and 2c+1 take Re X_c and Im X_c: out_re = Re X Br - Im X Bi, out_im = Re X Bi + Im X Br.
        auto w = torch::empty({o.columns, 2, 2 * o.bins}, torch::kFloat64);
        w.select(1, 0).narrow(1, 0, o.bins).copy_(re);
        w.select(1, 0).narrow(1, o.bins, o.bins).copy_(im);
        w.select(1, 1).narrow(1, 0, o.bins).copy_(-im);
        w.select(1, 1).narrow(1, o.bins, o.bins).copy_(re);
        o.weights = w.reshape({2 * o.columns, 2 * o.bins}).to(options);
        o.halve_after = hop % 2 == 0;
        if (o.halve_after) {
            hop /= 2;
            my_sr /= 2.0;
        }
        plan->octaves.push_back(std::move(o));
    }
    return plan;
}

std::shared_ptr<ConstantQ::Pseudo> makePseudo(double sr, const CqtSettings& s,
                                              const torch::TensorOptions& options) {
    auto plan = std::make_shared<ConstantQ::Pseudo>();
    const auto freqs = cqtFrequencies(s);
    const auto alpha = relativeBandwidth(freqs, s.bins_per_octave);
    auto fft = filterFft(sr, freqs, alpha, s, s.hop_length);
    plan->n_fft = fft.n_fft;
    plan->hop_length = s.hop_length;
    plan->n_bins = s.n_bins;
    auto basis = fft.basis.abs();
    if (s.scale)
        basis = basis / std::sqrt(static_cast<double>(fft.n_fft));
    else
        basis = basis * (torch::tensor(fft.lengths, torch::kFloat64) / static_cast<double>(fft.n_fft))
                            .sqrt()
                            .unsqueeze(1);
    StftSettings st;
    st.n_fft = plan->n_fft;
    st.win_length = plan->n_fft;
    plan->window = stftWindow(st, options);
    // Filters are narrow bands whose width grows with frequency: group bins per octave and multiply each
    // group by its band of STFT bins only.
    const int64_t step = std::max<int64_t>(1, s.bins_per_octave);
    for (int64_t lo = 0; lo < s.n_bins; lo += step) {
        const int64_t rows = std::min(step, s.n_bins - lo);
        auto part = basis.narrow(0, lo, rows);
        auto [c0, c1] = nonzeroColumns(part);
        ConstantQ::Pseudo::Group g;
        g.column = c0;
        g.columns = c1 - c0 + 1;
        g.basis = part.narrow(1, c0, g.columns).contiguous().to(options);
        plan->groups.push_back(std::move(g));
    }
    return plan;
}

/** The STFT frames of every row of `y` [rows, n] as interleaved (re, im) bins [rows, frame, 2 * columns]. */
torch::Tensor octaveResponse(const torch::Tensor& y, const ConstantQ::Full& plan, const ConstantQ::Octave& o,
                             PadMode pad) {
    auto padded = centrePad(y, plan.stft(o, pad));
    auto frames = padded.unfold(-1, o.n_fft, o.hop); // [rows, frame, n_fft], a view
    auto spectrum = torch::fft::rfft(frames, c10::nullopt, -1).narrow(-1, o.column, o.columns);
    auto interleaved = torch::view_as_real(spectrum).reshape({y.size(0), frames.size(1), 2 * o.columns});
    auto out = torch::matmul(interleaved, o.weights); // [rows, frame, 2 * bins]
    auto re = out.narrow(-1, 0, o.bins), im = out.narrow(-1, o.bins, o.bins);
    return (re.square() + im.square()).sqrt().transpose(1, 2); // [rows, bins, frame]
}

torch::Tensor runFull(const torch::Tensor& rows, const ConstantQ::Full& plan, const CqtSettings& s) {
    torch::Tensor y = rows;
    if (plan.early_factor > 1) {
        y = decimate(y, plan.early_factor, s.res_type);
        if (plan.early_gain != 1.0)
            y = y * plan.early_gain;
    }
    std::vector<torch::Tensor> responses;
    int64_t frames = std::numeric_limits<int64_t>::max();
    for (size_t i = 0; i < plan.octaves.size(); ++i) {
        const auto& o = plan.octaves[i];
        responses.push_back(octaveResponse(y, plan, o, s.pad_mode));
        frames = std::min(frames, responses.back().size(-1));
        if (o.halve_after && i + 1 < plan.octaves.size())
            y = decimate(y, 2, s.res_type);
    }
    // __trim_stack: the octaves come from the top down; keep the frames they all have.
    std::vector<torch::Tensor> bottom_up;
    for (auto it = responses.rbegin(); it != responses.rend(); ++it)
        bottom_up.push_back(it->narrow(-1, 0, frames));
    return torch::cat(bottom_up, 1);
}

torch::Tensor applyPseudo(const torch::Tensor& magnitude, const ConstantQ::Pseudo& plan) {
    // magnitude [..., bin, frame]
    std::vector<torch::Tensor> parts;
    for (const auto& g : plan.groups)
        parts.push_back(torch::matmul(g.basis, magnitude.narrow(-2, g.column, g.columns)));
    return torch::cat(parts, -2);
}

torch::Tensor runPseudo(const torch::Tensor& rows, const ConstantQ::Pseudo& plan, PadMode pad) {
    StftSettings st;
    st.n_fft = plan.n_fft;
    st.win_length = plan.n_fft;
    st.hop_length = plan.hop_length;
    st.pad_mode = pad;
    st.power = 1.0;
    // spectrogram() without the magnitudes of the bins above the highest filter (about half of them
    // with the defaults), which no bin reads.
    auto padded = centrePad(rows, st);
    auto spectrum = torch::stft(padded, st.n_fft, st.hop_length, st.n_fft, plan.window, /*normalized=*/false,
                                /*onesided=*/true, /*return_complex=*/true);
    int64_t used = 0;
    for (const auto& g : plan.groups)
        used = std::max(used, g.column + g.columns);
    return applyPseudo(spectrum.narrow(-2, 0, used).abs(), plan);
}

} // namespace

ConstantQ::ConstantQ(double sr, const CqtSettings& settings, const torch::TensorOptions& options)
    : settings_(settings) {
    checkBins(settings);
    if (!(sr > 0.0))
        throw std::invalid_argument("the constant-Q transform needs the sample rate of its input");
    const auto real =
        options.dtype(options.dtype().toScalarType() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32);
    switch (settings.method) {
    case CqtMethod::Full:
        full_ = makeFull(sr, settings, real);
        break;
    case CqtMethod::Pseudo:
        pseudo_ = makePseudo(sr, settings, real);
        break;
    case CqtMethod::Hybrid: {
        // librosa.hybrid_cqt: bins whose filters, padded to a power of two, fit in two hops go to the
        // pseudo-CQT; the others to a full CQT. Both are called with the tuned fmin and tuning 0.
        const auto freqs = cqtFrequencies(settings);
        const auto alpha = relativeBandwidth(freqs, settings.bins_per_octave);
        const auto lengths = waveletLengths(freqs, alpha, sr, settings);
        int64_t n_pseudo = 0;
        for (double l : lengths)
            n_pseudo +=
                static_cast<double>(nextPowerOfTwo(l)) < 2.0 * static_cast<double>(settings.hop_length);
        const int64_t n_full = settings.n_bins - n_pseudo;
        if (n_pseudo > 0) {
            CqtSettings p = settings;
            p.method = CqtMethod::Pseudo;
            p.fmin = freqs[static_cast<size_t>(n_full)];
            p.tuning = 0.0;
            p.n_bins = n_pseudo;
            pseudo_ = makePseudo(sr, p, real);
        }
        if (n_full > 0) {
            CqtSettings f = settings;
            f.method = CqtMethod::Full;
            f.fmin = freqs[0];
            f.tuning = 0.0;
            f.n_bins = n_full;
            full_ = makeFull(sr, f, real);
        }
        break;
    }
    }
}

torch::Tensor ConstantQ::operator()(const torch::Tensor& signal) const {
    if (signal.size(-1) == 0)
        throw std::invalid_argument("the signal is empty: there is nothing to analyse");
    auto rows = signal.reshape({-1, signal.size(-1)});
    std::vector<torch::Tensor> parts; // low bins first
    if (full_)
        parts.push_back(runFull(rows, *full_, settings_));
    if (pseudo_)
        parts.push_back(runPseudo(rows, *pseudo_, settings_.pad_mode));
    int64_t frames = parts[0].size(-1);
    for (const auto& p : parts)
        frames = std::min(frames, p.size(-1));
    for (auto& p : parts)
        p = p.narrow(-1, 0, frames);
    auto out = parts.size() == 1 ? parts[0] : torch::cat(parts, 1);
    auto sizes = signal.sizes().vec();
    sizes.back() = out.size(1);
    sizes.push_back(frames);
    return out.reshape(sizes);
}

int64_t ConstantQ::pseudoFftSize() const {
    if (settings_.method != CqtMethod::Pseudo)
        throw std::logic_error("pseudoFftSize: not a pseudo-CQT");
    return pseudo_->n_fft;
}

StftSettings ConstantQ::pseudoStft() const {
    StftSettings st;
    st.n_fft = pseudoFftSize();
    st.win_length = st.n_fft;
    st.hop_length = settings_.hop_length;
    st.pad_mode = settings_.pad_mode;
    st.power = 1.0;
    return st;
}

torch::Tensor ConstantQ::pseudoFromMagnitude(const torch::Tensor& magnitude) const {
    if (settings_.method != CqtMethod::Pseudo)
        throw std::logic_error("pseudoFromMagnitude: not a pseudo-CQT");
    return applyPseudo(magnitude, *pseudo_);
}

} // namespace avgraph::nodes
