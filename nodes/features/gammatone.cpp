#include "nodes/features/gammatone.h"

#include "graph/message_text.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstring>
#include <stdexcept>
#include <string>

namespace avgraph::nodes {

namespace {

// Glasberg and Moore's parameters, as the package (order 1).
constexpr double kEarQ = 9.26449;
constexpr double kMinBw = 24.7;

/**
 * Two doubles as one SSE2/NEON register (GCC/Clang vector extension): elementwise IEEE arithmetic, so
 * each lane computes exactly what scalar code would. Wider vectors (AVX) are not in the baseline
 * x86-64 target and would be lowered to memory operations.
 */
using Vec2 = double __attribute__((vector_size(2 * sizeof(double))));

inline Vec2 load2(const double* p) {
    Vec2 v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline void store2(double* p, Vec2 v) { std::memcpy(p, &v, sizeof v); }

} // namespace

std::vector<double> erbSpace(double low_hz, double high_hz, int64_t num) {
    std::vector<double> out(static_cast<size_t>(num));
    const double span = -std::log(high_hz + kEarQ * kMinBw) + std::log(low_hz + kEarQ * kMinBw);
    for (int64_t i = 0; i < num; ++i) {
        const double fraction = static_cast<double>(i + 1) / static_cast<double>(num);
        out[static_cast<size_t>(i)] =
            -kEarQ * kMinBw + std::exp(fraction * span) * (high_hz + kEarQ * kMinBw);
    }
    return out;
}

std::vector<double> gammatoneCentreFreqs(double sample_rate, const GammatoneSettings& s) {
    auto cf = erbSpace(s.fmin, s.fmax.value_or(sample_rate / 2.0), s.n_bands);
    std::reverse(cf.begin(), cf.end());
    return cf;
}

torch::Tensor erbFilterCoefficients(double sample_rate, const std::vector<double>& centre_freqs) {
    using C = std::complex<double>;
    const double T = 1.0 / sample_rate;
    const double rt_pos = std::sqrt(3.0 + std::pow(2.0, 1.5));
    const double rt_neg = std::sqrt(3.0 - std::pow(2.0, 1.5));
    auto out = torch::empty({static_cast<int64_t>(centre_freqs.size()), 10}, torch::kFloat64);
    auto a = out.accessor<double, 2>();
    for (size_t i = 0; i < centre_freqs.size(); ++i) {
        const double cf = centre_freqs[i];
        const double erb = cf / kEarQ + kMinBw;
        const double B = 1.019 * 2.0 * kPi * erb;
        const double arg = 2.0 * cf * kPi * T;
        const C vec = std::exp(C(0.0, 2.0 * arg));
        const double common = -T * std::exp(-(B * T));
        const double k11 = std::cos(arg) + rt_pos * std::sin(arg);
        const double k12 = std::cos(arg) - rt_pos * std::sin(arg);
        const double k13 = std::cos(arg) + rt_neg * std::sin(arg);
        const double k14 = std::cos(arg) - rt_neg * std::sin(arg);
        const C gain_arg = std::exp(C(-B * T, arg));
        const double ebt = std::exp(B * T);
        const C tail = T * ebt / (-1.0 / ebt + 1.0 + vec * (1.0 - ebt));
        const C tail2 = tail * tail;
        const double gain = std::abs((vec - gain_arg * k11) * (vec - gain_arg * k12) *
                                     (vec - gain_arg * k13) * (vec - gain_arg * k14) * (tail2 * tail2));
        const int64_t r = static_cast<int64_t>(i);
        a[r][0] = T;
        a[r][1] = common * k11;
        a[r][2] = common * k12;
        a[r][3] = common * k13;
        a[r][4] = common * k14;
        a[r][5] = 0.0;
        a[r][6] = 1.0;
        a[r][7] = -2.0 * std::cos(arg) / std::exp(B * T);
        a[r][8] = std::exp(-2.0 * B * T);
        a[r][9] = gain;
    }
    return out;
}

torch::Tensor gammatoneFftWeights(double sample_rate, const GammatoneSettings& s) {
    using C = std::complex<double>;
    const auto cf = gammatoneCentreFreqs(sample_rate, s); // erb_space(...)[::-1]
    const auto coefs = erbFilterCoefficients(sample_rate, cf);
    const auto c = coefs.accessor<double, 2>();
    const int64_t bins = s.n_fft / 2 + 1;
    auto out = torch::empty({s.n_bands, bins}, torch::kFloat64);
    auto w = out.accessor<double, 2>();
    const double fs = sample_rate;
    for (int64_t b = 0; b < s.n_bands; ++b) {
        const double r = std::sqrt(c[b][8]);
        const double theta = 2.0 * kPi * cf[static_cast<size_t>(b)] / fs;
        const C pole = r * std::exp(C(0.0, theta));
        for (int64_t k = 0; k < bins; ++k) {
            const C u = std::exp(C(0.0, 2.0 * kPi * static_cast<double>(k) / static_cast<double>(s.n_fft)));
            const double den = std::abs(fs * (pole - u) * (std::conj(pole) - u));
            w[b][k] = std::abs(u + c[b][1] * fs) * std::abs(u + c[b][2] * fs) * std::abs(u + c[b][3] * fs) *
                      std::abs(u + c[b][4] * fs) * std::pow(den, -4.0) / c[b][9];
        }
    }
    return out;
}

int64_t fftSizeFor(int64_t win_length) {
    int64_t n = 1;
    while (n < 2 * win_length)
        n *= 2;
    return n;
}

StftSettings fftFrameSettings(const GammatoneSettings& s) {
    StftSettings stft;
    stft.n_fft = s.n_fft;
    stft.hop_length = s.hop_length;
    stft.win_length = s.n_fft; // the Hann of win_length is already inside the n_fft window
    stft.center = false;
    stft.power = 1.0;
    return stft;
}

torch::Tensor specgramWindow(int64_t n_fft, int64_t win_length) {
    if (win_length > n_fft)
        throw std::invalid_argument("win_length = " + std::to_string(win_length) +
                                    " exceeds n_fft = " + std::to_string(n_fft));
    const int64_t halflen = win_length / 2;
    const int64_t halff = n_fft / 2;
    const int64_t act = std::min(halff, halflen);
    auto out = torch::zeros({n_fft}, torch::kFloat64);
    auto w = out.accessor<double, 1>();
    for (int64_t k = 0; k < act; ++k) {
        const double v = 0.5 * (1.0 + std::cos(kPi * static_cast<double>(k) / static_cast<double>(halflen)));
        w[halff + k] = v;
        w[halff - k] = v;
    }
    return out;
}

int64_t gammatoneFrameCount(int64_t n_samples, int64_t frame_length, int64_t hop) {
    return n_samples >= frame_length ? 1 + (n_samples - frame_length) / hop : 0;
}

// ---------------------------------------------------------------------------------------------
// IIR

GammatoneIirStream::GammatoneIirStream(const GammatoneSettings& settings) : settings_(settings) {}

void GammatoneIirStream::reset() {
    sample_rate_ = 0.0;
    lead_.clear();
    groups_.clear();
    received_ = 0;
    next_frame_ = 0;
}

void GammatoneIirStream::setCoefficients(double sample_rate) {
    const auto coefs = erbFilterCoefficients(sample_rate, gammatoneCentreFreqs(sample_rate, settings_));
    const auto c = coefs.accessor<double, 2>();
    const int64_t nb = settings_.n_bands;
    coefs_.assign(static_cast<size_t>((nb + kLanes - 1) / kLanes), LaneCoefs{});
    for (int64_t b = 0; b < nb; ++b) {
        LaneCoefs& g = coefs_[static_cast<size_t>(b / kLanes)];
        const int64_t l = b % kLanes;
        g.b0[l] = c[b][0];
        for (int k = 0; k < 4; ++k)
            g.b1[k][l] = c[b][1 + k];
        g.b2[l] = c[b][5];
        g.a1[l] = c[b][7];
        g.a2[l] = c[b][8];
        g.gain[l] = c[b][9];
    }
    // Lanes past the last band (a partial group) filter with zero coefficients and gain 1: silence.
    for (int64_t b = nb; b < static_cast<int64_t>(coefs_.size()) * kLanes; ++b)
        coefs_.back().gain[b % kLanes] = 1.0;
}

torch::Tensor GammatoneIirStream::push(const torch::Tensor& block, double sample_rate) {
    const auto& s = settings_;
    auto lead = block.sizes().vec();
    lead.pop_back();
    if (!groups_.empty() && lead != lead_)
        throw std::invalid_argument("a block of shape " + shapeText(block.sizes().vec()) +
                                    " does not continue the stream, whose blocks had the leading sizes " +
                                    shapeText(lead_) + "; reset the stream to change them");
    if (!groups_.empty() && sample_rate != sample_rate_)
        throw std::invalid_argument("the sample rate changed within the stream; reset the stream first");
    if (coefs_.empty() || sample_rate != sample_rate_)
        setCoefficients(sample_rate);
    sample_rate_ = sample_rate;
    lead_ = lead;
    int64_t series = 1;
    for (auto n : lead)
        series *= n;
    const int64_t nb = s.n_bands;
    const int64_t ngroups = static_cast<int64_t>(coefs_.size());
    if (groups_.empty())
        groups_.resize(static_cast<size_t>(series * ngroups));

    const int64_t len = block.size(-1);
    auto x = block.to(torch::kCPU, torch::kFloat64).reshape({series, len}).contiguous();
    const double* xs = x.data_ptr<double>();
    const int64_t win = s.win_length;
    const int64_t hop = s.hop_length;
    const int64_t slots = openFrameSlots();
    const int64_t start = received_;                // stream index of the block's first sample
    const int64_t first = next_frame_;              // first frame this block may complete
    const int64_t opened = (start + hop - 1) / hop; // frames whose first sample came before the block
    const int64_t ready = gammatoneFrameCount(start + len, win, hop);
    const int64_t count = std::max<int64_t>(ready - first, 0);
    auto out = torch::empty({series, nb, count}, torch::kFloat64);
    double* os = out.data_ptr<double>();

    // A recursive filter is sequential in time, so this is a tight double loop over raw arrays rather
    // than tensor ops (LibTorch has no IIR op, and one tensor op per sample would be orders of magnitude
    // slower). The kLanes bands of a group run side by side as SSE2 vectors (see Vec2), which hides
    // the latency of each band's recursion; groups, clips and channels run in parallel.
    //
    // Frame f is the RMS of samples [f*hop, f*hop + win). Instead of keeping the squared output, each
    // frame that has started and not yet ended (at most `slots`, kept in a ring) accumulates every
    // sample as it comes, in time order, so a frame's sum is the same whatever the blocks.
    const double power = s.power;
    const auto fromMeanPower = [power](double mean) { // the package's sqrt(mean), ** power
        return power == 1.0 ? std::sqrt(mean) : power == 2.0 ? mean : std::pow(mean, power / 2.0);
    };
    at::parallel_for(0, series * ngroups, 1, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            const int64_t g = i % ngroups;
            const LaneCoefs& c = coefs_[static_cast<size_t>(g)];
            Group& grp = groups_[static_cast<size_t>(i)];
            const double* in = xs + (i / ngroups) * len;
            const int64_t lanes = std::min<int64_t>(kLanes, nb - g * kLanes);
            double* dst = os + ((i / ngroups) * nb + g * kLanes) * count;
            constexpr int V = kLanes / 2; // vectors per group
            Vec2 b0[V], b1[4][V], b2[V], a1[V], a2[V], gain[V], z1[4][V], z2[4][V];
            for (int j = 0; j < V; ++j) {
                b0[j] = load2(c.b0 + 2 * j);
                b2[j] = load2(c.b2 + 2 * j);
                a1[j] = load2(c.a1 + 2 * j);
                a2[j] = load2(c.a2 + 2 * j);
                gain[j] = load2(c.gain + 2 * j);
                for (int k = 0; k < 4; ++k) {
                    b1[k][j] = load2(c.b1[k] + 2 * j);
                    z1[k][j] = load2(grp.z1[k] + 2 * j); // first delay of biquad k
                    z2[k][j] = load2(grp.z2[k] + 2 * j); // second delay
                }
            }
            if (grp.sums.empty())
                grp.sums.assign(static_cast<size_t>(slots * kLanes), 0.0);
            double* sums = grp.sums.data(); // [slot][lane]: frame f in slot f % slots
            int64_t done = first;           // frames completed
            int64_t begun = opened;         // frames started
            int64_t done_slot = done % slots;
            int64_t begun_slot = begun % slots;
            int64_t next_start = begun * hop;    // stream index where frame `begun` starts
            int64_t next_end = done * hop + win; // one past the last sample of frame `done`
            for (int64_t n = 0; n < len; ++n) {
                Vec2 v[V];
                for (int j = 0; j < V; ++j)
                    v[j] = Vec2{in[n], in[n]};
                for (int k = 0; k < 4; ++k) {
                    for (int j = 0; j < V; ++j) {
                        // scipy.signal.lfilter's transposed direct form II, in its order of operations
                        const Vec2 y = z1[k][j] + b0[j] * v[j];
                        z1[k][j] = z2[k][j] + v[j] * b1[k][j] - y * a1[j];
                        z2[k][j] = v[j] * b2[j] - y * a2[j];
                        v[j] = y;
                    }
                }
                const int64_t at = start + n;
                if (at == next_start) {
                    std::fill_n(sums + begun_slot * kLanes, kLanes, 0.0);
                    ++begun;
                    begun_slot = begun_slot + 1 == slots ? 0 : begun_slot + 1;
                    next_start += hop;
                }
                if (done == begun)
                    continue; // between frames (hop > win_length)
                Vec2 sq[V];
                for (int j = 0; j < V; ++j) {
                    const Vec2 y = v[j] / gain[j]; // the package: y4 / gain
                    sq[j] = y * y;
                }
                for (int64_t f = done, slot = done_slot; f < begun; ++f) {
                    double* acc = sums + slot * kLanes;
                    for (int j = 0; j < V; ++j)
                        store2(acc + 2 * j, load2(acc + 2 * j) + sq[j]);
                    slot = slot + 1 == slots ? 0 : slot + 1;
                }
                if (at + 1 == next_end) {
                    const double* acc = sums + done_slot * kLanes;
                    for (int64_t l = 0; l < lanes; ++l)
                        dst[l * count + (done - first)] = fromMeanPower(acc[l] / static_cast<double>(win));
                    ++done;
                    done_slot = done_slot + 1 == slots ? 0 : done_slot + 1;
                    next_end += hop;
                }
            }
            for (int j = 0; j < V; ++j)
                for (int k = 0; k < 4; ++k) {
                    store2(grp.z1[k] + 2 * j, z1[k][j]);
                    store2(grp.z2[k] + 2 * j, z2[k][j]);
                }
            if (done - first != count)
                throw std::logic_error("gammatone stream: completed " + std::to_string(done - first) +
                                       " frames, expected " + std::to_string(count));
        }
    });
    received_ += len;
    next_frame_ += count;

    auto sizes = lead;
    sizes.push_back(nb);
    sizes.push_back(count);
    return out.reshape(sizes).to(block.options());
}

torch::Tensor gammatonegram(const torch::Tensor& signal, double sample_rate, const GammatoneSettings& s) {
    const int64_t n = signal.size(-1);
    if (n < s.win_length)
        throw std::invalid_argument("the signal (" + std::to_string(n) +
                                    " samples) is shorter than win_length = " + std::to_string(s.win_length) +
                                    ": there is no complete frame");
    GammatoneIirStream stream(s);
    return stream.push(signal, sample_rate);
}

// ---------------------------------------------------------------------------------------------
// FFT approximation

torch::Tensor fftGammatonegram(const torch::Tensor& signal, const torch::Tensor& weights,
                               const torch::Tensor& window, const GammatoneSettings& s,
                               const BandedFilterbank* banded) {
    const int64_t n = signal.size(-1);
    if (n < s.n_fft)
        throw std::invalid_argument("the signal (" + std::to_string(n) +
                                    " samples) is shorter than n_fft = " + std::to_string(s.n_fft) +
                                    ": there is no complete frame");
    return fftBands(framesToPower(signal, window, fftFrameSettings(s)), weights, s, banded);
}

torch::Tensor fftBands(const torch::Tensor& magnitude, const torch::Tensor& weights,
                       const GammatoneSettings& s, const BandedFilterbank* banded) {
    auto bands = banded && cpuFastPath(magnitude) ? cpuApplyFilterbank(*banded, magnitude)
                                                  : torch::matmul(weights, magnitude);
    bands /= static_cast<double>(s.n_fft);
    return s.power == 1.0 ? bands : bands.pow(s.power);
}

} // namespace avgraph::nodes
