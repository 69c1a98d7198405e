#include "nodes/features/spectral.h"

#include "graph/message_text.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

namespace avgraph::nodes {

namespace {

std::vector<int64_t> leadingSizes(const torch::Tensor& t) {
    auto sizes = t.sizes().vec();
    sizes.pop_back();
    return sizes;
}

std::vector<int64_t> withTail(std::vector<int64_t> sizes, std::initializer_list<int64_t> tail) {
    sizes.insert(sizes.end(), tail);
    return sizes;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// STFT

torch::Tensor hannWindow(int64_t length, const torch::TensorOptions& options) {
    if (length < 1)
        throw std::invalid_argument("a window needs at least one sample, got " + std::to_string(length));
    if (length == 1)
        return torch::ones({1}, options);
    // scipy: general_cosine over np.linspace(-pi, pi, length + 1)[:-1] with coefficients [0.5, 0.5].
    const double step = 2.0 * kPi / static_cast<double>(length);
    auto fac = torch::arange(length, torch::kFloat64) * step - kPi;
    return (0.5 + 0.5 * torch::cos(fac)).to(options);
}

torch::Tensor stftWindow(const StftSettings& s, const torch::TensorOptions& options) {
    if (s.win_length > s.n_fft)
        throw std::invalid_argument("win_length = " + std::to_string(s.win_length) +
                                    " exceeds n_fft = " + std::to_string(s.n_fft));
    const int64_t left = (s.n_fft - s.win_length) / 2; // librosa.util.pad_center
    auto window = torch::constant_pad_nd(hannWindow(s.win_length), {left, s.n_fft - s.win_length - left});
    return window.to(options);
}

torch::Tensor padSignal(const torch::Tensor& signal, int64_t left, int64_t right, PadMode mode) {
    if (left == 0 && right == 0)
        return signal;
    if (mode == PadMode::Constant)
        return torch::constant_pad_nd(signal, {left, right});
    const int64_t n = signal.size(-1);
    if (n == 0)
        throw std::invalid_argument("cannot reflect an empty signal");
    // np.pad(mode="reflect") reflects back and forth as often as needed: an index pattern of period
    // 2(n-1) over the signal. That covers padding longer than the signal, which torch refuses.
    auto index =
        torch::arange(-left, n + right, torch::TensorOptions().dtype(torch::kLong).device(signal.device()));
    if (n == 1)
        index = torch::zeros_like(index);
    else {
        const int64_t period = 2 * (n - 1);
        index = torch::remainder(index, period);
        index = torch::where(index >= n, period - index, index);
    }
    return signal.index_select(-1, index);
}

int64_t stftFrameCount(int64_t n_samples, const StftSettings& s) {
    const int64_t padded = n_samples + 2 * s.padding();
    if (n_samples <= 0 || padded < s.n_fft)
        return 0;
    return 1 + (padded - s.n_fft) / s.hop_length;
}

torch::Tensor framesToPower(const torch::Tensor& padded, const torch::Tensor& window, const StftSettings& s,
                            const Filterbank* filterbank) {
    auto lead = leadingSizes(padded);
    auto flat = padded.reshape({-1, padded.size(-1)});
    torch::Tensor result;
    if (cpuFastPath(flat)) {
        result = cpuFramePower({flat.narrow(-1, 0, 0), flat, flat.narrow(-1, 0, 0)}, window, s.n_fft,
                               s.hop_length, s.power, filterbank ? &filterbank->banded : nullptr);
    } else {
        auto spectrum = torch::stft(flat, s.n_fft, s.hop_length, s.n_fft, window, /*normalized=*/false,
                                    /*onesided=*/true, /*return_complex=*/true);
        if (s.power == 2.0) // |z|^2 without a square root
            result = torch::real(spectrum).square() + torch::imag(spectrum).square();
        else if (s.power == 1.0)
            result = spectrum.abs();
        else
            result = spectrum.abs().pow(s.power);
        if (filterbank)
            result = applyFilterbank(*filterbank, result);
    }
    return result.reshape(withTail(lead, {result.size(-2), result.size(-1)}));
}

namespace {
int64_t floorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
} // namespace

void requireOneFrame(int64_t n, const StftSettings& s) {
    if (!s.center && n < s.n_fft)
        throw std::invalid_argument("n_fft = " + std::to_string(s.n_fft) + " is larger than the signal (" +
                                    std::to_string(n) +
                                    " samples): with center = false every frame needs n_fft samples; use a "
                                    "smaller n_fft, or center = true to pad the signal");
}

torch::Tensor centreTail(const torch::Tensor& last, int64_t n, const StftSettings& s) {
    const int64_t p = s.padding();
    if (s.pad_mode == PadMode::Constant || p == 0)
        return torch::zeros(withTail(leadingSizes(last), {p}), last.options());
    if (last.size(-1) != std::min(n, p + 1))
        throw std::invalid_argument("centreTail needs the last min(n, n_fft/2 + 1) samples of the signal");
    if (n <= p) // reflecting back and forth: `last` is the whole (short) signal
        return padSignal(last, p, p, PadMode::Reflect).narrow(-1, p + n, p);
    // librosa 0.10 pads the head and the tail separately unless their frames overlap; the tail is then the
    // mirror of the stretch that its frames cover, from sample tail_k*hop - n_fft/2 on. That equals the
    // mirror of the whole signal unless the stretch is at most n_fft/2 long (e.g. hop = n_fft/2 and a
    // multiple of hop samples), where the last padded samples wrap around within the stretch. Either way
    // only the last p + 1 samples are mirrored, which is what lets a stream end like the offline STFT.
    const int64_t start_k = (p + s.hop_length - 1) / s.hop_length;
    const int64_t tail_k = floorDiv(n + p - s.n_fft, s.hop_length) + 1;
    const int64_t stretch = tail_k * s.hop_length - p;
    const bool tail_frames = stretch + s.n_fft <= n + p;
    if (tail_k <= start_k || !tail_frames || n - stretch > p)
        return padSignal(last, 0, p, PadMode::Reflect).narrow(-1, p + 1, p);
    const int64_t kept = n - stretch; // <= p samples: the end of `last`
    return padSignal(last.narrow(-1, p + 1 - kept, kept), 0, p, PadMode::Reflect).narrow(-1, kept, p);
}

std::pair<torch::Tensor, torch::Tensor> centrePadEdges(const torch::Tensor& signal, const StftSettings& s) {
    const int64_t p = s.padding();
    const int64_t n = signal.size(-1);
    if (s.pad_mode == PadMode::Constant || p == 0) {
        auto zeros = torch::zeros(withTail(leadingSizes(signal), {p}), signal.options());
        return {zeros, zeros};
    }
    if (n <= p) { // reflecting back and forth: needs the whole (short) signal
        auto padded = padSignal(signal, p, p, PadMode::Reflect);
        return {padded.narrow(-1, 0, p), padded.narrow(-1, p + n, p)};
    }
    // Mirroring p samples needs only the p + 1 samples at that end.
    auto head = padSignal(signal.narrow(-1, 0, p + 1), p, 0, PadMode::Reflect).narrow(-1, 0, p);
    return {head, centreTail(signal.narrow(-1, n - p - 1, p + 1), n, s)};
}

torch::Tensor centrePad(const torch::Tensor& signal, const StftSettings& s) {
    if (s.padding() == 0)
        return signal;
    auto [head, tail] = centrePadEdges(signal, s);
    return torch::cat({head, signal, tail}, -1);
}

torch::Tensor spectrogram(const torch::Tensor& signal, const torch::Tensor& window, const StftSettings& s,
                          const Filterbank* filterbank) {
    const int64_t n = signal.size(-1);
    if (n == 0)
        throw std::invalid_argument("the signal is empty: there is nothing to analyse");
    requireOneFrame(n, s);
    if (cpuFastPath(signal)) { // frames read the signal in place: no padded copy of a long signal
        auto [head, tail] = centrePadEdges(signal, s);
        const int64_t rows = signal.numel() / n;
        auto result =
            cpuFramePower({head.reshape({rows, -1}), signal.reshape({rows, n}), tail.reshape({rows, -1})},
                          window, s.n_fft, s.hop_length, s.power, filterbank ? &filterbank->banded : nullptr);
        return result.reshape(withTail(leadingSizes(signal), {result.size(-2), result.size(-1)}));
    }
    return framesToPower(centrePad(signal, s), window, s, filterbank);
}

StftStream::StftStream(const StftSettings& settings) : settings_(settings) {}

int64_t StftStream::latency() const {
    const auto& s = settings_;
    if (!s.center)
        return s.n_fft;
    // Frame t ends n_fft - padding samples after its start t*hop. Reflect also needs sample n_fft/2 to
    // mirror into the head, one more than frame 0 otherwise needs when n_fft is even.
    int64_t after = s.n_fft - s.padding();
    return s.pad_mode == PadMode::Reflect ? std::max(after, s.padding() + 1) : after;
}

void StftStream::reset() {
    pending_ = torch::Tensor();
    last_ = torch::Tensor();
    received_ = 0;
    next_frame_ = 0;
    skip_ = 0;
    head_padded_ = false;
}

torch::Tensor StftStream::push(const torch::Tensor& block, const torch::Tensor& window,
                               const Filterbank* filterbank) {
    const auto& s = settings_;
    const int64_t rows = filterbank ? filterbank->banded.rows : s.bins();
    if (pending_.defined() && leadingSizes(pending_) != leadingSizes(block))
        throw std::invalid_argument("a block of shape " + shapeText(block.sizes().vec()) +
                                    " does not continue the stream, whose blocks had the leading sizes " +
                                    shapeText(leadingSizes(pending_)) + "; reset the stream to change them");
    received_ += block.size(-1);
    if (s.center && s.pad_mode == PadMode::Reflect) { // the end's mirror needs the last p + 1 samples
        last_ = last_.defined() ? torch::cat({last_, block}, -1) : block;
        const int64_t keep = std::min(last_.size(-1), s.padding() + 1);
        last_ = last_.narrow(-1, last_.size(-1) - keep, keep);
    }
    torch::Tensor fresh = block;
    if (skip_ > 0) { // hop > n_fft: samples between frames are never used
        const int64_t dropped = std::min(skip_, fresh.size(-1));
        fresh = fresh.narrow(-1, dropped, fresh.size(-1) - dropped);
        skip_ -= dropped;
    }
    pending_ = pending_.defined() ? torch::cat({pending_, fresh}, -1) : fresh;

    if (!head_padded_) {
        const int64_t p = s.padding();
        if (s.pad_mode == PadMode::Reflect && received_ < p + 1)
            return torch::empty(withTail(leadingSizes(block), {rows, 0}), block.options());
        if (p > 0) {
            auto head = s.pad_mode == PadMode::Reflect
                            ? pending_.narrow(-1, 1, p).flip(-1)
                            : torch::zeros(withTail(leadingSizes(block), {p}), block.options());
            pending_ = torch::cat({head, pending_}, -1);
        }
        head_padded_ = true;
    }

    const int64_t ready = received_ >= latency() ? 1 + (received_ - latency()) / s.hop_length : 0;
    const int64_t count = ready - next_frame_;
    if (count <= 0)
        return torch::empty(withTail(leadingSizes(block), {rows, 0}), block.options());
    auto frames =
        framesToPower(pending_.narrow(-1, 0, (count - 1) * s.hop_length + s.n_fft), window, s, filterbank);
    const int64_t consumed = count * s.hop_length;
    const int64_t have = pending_.size(-1);
    skip_ = std::max<int64_t>(0, consumed - have);
    pending_ = pending_.narrow(-1, std::min(consumed, have), have - std::min(consumed, have));
    next_frame_ = ready;
    return frames;
}

torch::Tensor StftStream::finish(const torch::Tensor& window, const Filterbank* filterbank) {
    const auto& s = settings_;
    if (!pending_.defined())
        throw std::invalid_argument("the stream ended before its first sample: there is nothing to analyse");
    if (received_ == 0)
        throw std::invalid_argument("the signal is empty: there is nothing to analyse");
    requireOneFrame(received_, s); // as the offline STFT: no frame at all is an error, not an empty result
    const int64_t rows = filterbank ? filterbank->banded.rows : s.bins();
    const int64_t total = stftFrameCount(received_, s);
    auto none = [&] { return torch::empty(withTail(leadingSizes(pending_), {rows, 0}), pending_.options()); };
    if (!head_padded_) { // a signal shorter than the reflection needs: pending_ is all of it
        next_frame_ = total;
        return total > 0 ? framesToPower(centrePad(pending_, s), window, s, filterbank) : none();
    }
    const int64_t count = total - next_frame_;
    if (count <= 0)
        return none();
    auto tail = centreTail(last_.defined() ? last_ : pending_.narrow(-1, 0, 0), received_, s);
    if (skip_ > 0)
        tail =
            tail.narrow(-1, std::min(skip_, tail.size(-1)), tail.size(-1) - std::min(skip_, tail.size(-1)));
    auto padded = torch::cat({pending_, tail}, -1);
    auto frames =
        framesToPower(padded.narrow(-1, 0, (count - 1) * s.hop_length + s.n_fft), window, s, filterbank);
    next_frame_ = total;
    pending_ = padded.narrow(-1, 0, 0);
    return frames;
}

// ---------------------------------------------------------------------------------------------
// Mel

namespace {
// Slaney's auditory toolbox scale, as librosa: linear below 1 kHz, logarithmic above.
constexpr double kSlaneyStepHz = 200.0 / 3;
constexpr double kSlaneyLogHz = 1000.0;
constexpr double kSlaneyLogMel = kSlaneyLogHz / kSlaneyStepHz;
const double kSlaneyLogStep = std::log(6.4) / 27.0;

/** np.linspace(start, stop, num) with its exact rounding: i*step + start, and stop itself last. */
std::vector<double> linspace(double start, double stop, int64_t num) {
    std::vector<double> out(static_cast<size_t>(num));
    const double step = num > 1 ? (stop - start) / static_cast<double>(num - 1) : 0.0;
    for (int64_t i = 0; i < num; ++i)
        out[static_cast<size_t>(i)] = static_cast<double>(i) * step + start;
    if (num > 1)
        out.back() = stop;
    return out;
}
} // namespace

double hzToMel(double hz, bool htk) {
    if (htk)
        return 2595.0 * std::log10(1.0 + hz / 700.0);
    if (hz >= kSlaneyLogHz)
        return kSlaneyLogMel + std::log(hz / kSlaneyLogHz) / kSlaneyLogStep;
    return hz / kSlaneyStepHz;
}

double melToHz(double mel, bool htk) {
    if (htk)
        return 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0);
    if (mel >= kSlaneyLogMel)
        return kSlaneyLogHz * std::exp(kSlaneyLogStep * (mel - kSlaneyLogMel));
    return kSlaneyStepHz * mel;
}

torch::Tensor melFilterbank(double sample_rate, int64_t n_fft, const MelSettings& s,
                            torch::ScalarType dtype) {
    const double fmax = s.fmax.value_or(sample_rate / 2.0);
    const int64_t n = s.n_mels;
    // Band edges: n + 2 points evenly spaced in mel between fmin and fmax (librosa.mel_frequencies).
    auto mels = linspace(hzToMel(s.fmin, s.htk), hzToMel(fmax, s.htk), n + 2);
    std::vector<double> edges_hz(mels.size());
    std::transform(mels.begin(), mels.end(), edges_hz.begin(), [&](double m) { return melToHz(m, s.htk); });
    auto edges = torch::tensor(edges_hz, torch::kFloat64);
    // np.fft.rfftfreq(n_fft, d=1/sr), with its rounding.
    const double bin_hz = 1.0 / (static_cast<double>(n_fft) * (1.0 / sample_rate));
    auto bin_freqs = torch::arange(n_fft / 2 + 1, torch::kFloat64) * bin_hz;

    auto widths = edges.slice(0, 1) - edges.slice(0, 0, -1);  // np.diff
    auto ramps = edges.unsqueeze(1) - bin_freqs.unsqueeze(0); // [n + 2, bins]
    auto lower = -ramps.slice(0, 0, n) / widths.slice(0, 0, n).unsqueeze(1);
    auto upper = ramps.slice(0, 2, n + 2) / widths.slice(0, 1, n + 1).unsqueeze(1);
    auto weights = torch::clamp_min(torch::minimum(lower, upper), 0.0);
    // librosa allocates the matrix in the requested dtype, so each triangle is rounded to it before the
    // norm is applied in float64 and the product rounded again.
    weights = weights.to(dtype);
    if (s.slaney_norm) {
        auto enorm = 2.0 / (edges.slice(0, 2, n + 2) - edges.slice(0, 0, n));
        weights = (weights.to(torch::kFloat64) * enorm.unsqueeze(1)).to(dtype);
    }
    return weights;
}

Filterbank::Filterbank(const torch::Tensor& matrix)
    : dense(matrix.to(torch::kCPU, torch::kFloat32).contiguous()),
      banded(BandedFilterbank::fromDense(dense)) {}

torch::Tensor applyFilterbank(const Filterbank& filterbank, const torch::Tensor& spectrum) {
    if (cpuFastPath(spectrum))
        return cpuApplyFilterbank(filterbank.banded, spectrum);
    return torch::matmul(filterbank.dense.to(spectrum.options()), spectrum);
}

// ---------------------------------------------------------------------------------------------
// Decibels

torch::Tensor powerToDb(const torch::Tensor& power, const DbSettings& s) {
    const double offset = 10.0 * std::log10(std::max(s.amin, std::abs(s.ref)));
    // One new tensor, then in place: each pass over a long clip's spectrum costs as much as the log.
    auto db = torch::clamp_min(power, s.amin);
    db.log10_().mul_(10.0).sub_(offset);
    if (!s.top_db || db.numel() == 0)
        return db;
    torch::Tensor peak;
    if (db.dim() <= 1) {
        peak = db.max();
    } else {
        // One maximum per clip: over everything but the batch dimension.
        std::vector<int64_t> dims(static_cast<size_t>(db.dim() - 1));
        std::iota(dims.begin(), dims.end(), 1);
        peak = db.amax(dims, /*keepdim=*/true);
    }
    return torch::max_out(db, db, peak - *s.top_db);
}

} // namespace avgraph::nodes
