#include "nodes/features/cepstral.h"

#include "nodes/features/spectral.h"

#include <torch/torch.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace avgraph::nodes {

namespace {

/** `frame` [..., 1] repeated `count` times along the last dimension. */
torch::Tensor repeatFrame(const torch::Tensor& frame, int64_t count) {
    auto sizes = frame.sizes().vec();
    sizes.back() = count;
    return frame.expand(sizes);
}

/** The interior filter applied to every complete window of `x` [..., frame]: [..., frames - width + 1]. */
torch::Tensor interior(const torch::Tensor& x, const torch::Tensor& fits, const DeltaSettings& s) {
    return torch::matmul(x.unfold(-1, s.width, 1), fits[s.half()]);
}

/** The first (`head`) or last width/2 output frames in mode "interp", from one window of `width` frames. */
torch::Tensor edge(const torch::Tensor& window, const torch::Tensor& fits, const DeltaSettings& s,
                   bool head) {
    const int64_t h = s.half();
    auto rows = head ? fits.narrow(0, 0, h) : fits.narrow(0, h + 1, h);
    return torch::matmul(window, rows.t());
}

} // namespace

// ---------------------------------------------------------------------------------------------
// MFCC

torch::Tensor dctMatrix(int64_t n_out, int64_t n, bool ortho) {
    auto k = torch::arange(n_out, torch::kFloat64).unsqueeze(1);
    auto i = torch::arange(n, torch::kFloat64).unsqueeze(0);
    auto m = 2.0 * torch::cos(kPi * k * (2.0 * i + 1.0) / (2.0 * static_cast<double>(n)));
    if (ortho) {
        auto scale =
            torch::full({n_out, 1}, std::sqrt(1.0 / (2.0 * static_cast<double>(n))), torch::kFloat64);
        scale[0] = std::sqrt(1.0 / (4.0 * static_cast<double>(n)));
        m = m * scale;
    }
    return m;
}

torch::Tensor lifterWeights(int64_t n_out, double lifter) {
    auto k = torch::arange(1, n_out + 1, torch::kFloat64);
    return 1.0 + (lifter / 2.0) * torch::sin(kPi * k / lifter);
}

// ---------------------------------------------------------------------------------------------
// Deltas

torch::Tensor savgolMatrix(const DeltaSettings& s) {
    const int64_t w = s.width, h = s.half(), p = s.order, d = s.order;
    // Positions relative to the window's centre (a polynomial fit does not depend on the origin, and
    // centring keeps the Vandermonde matrix well conditioned).
    auto u = torch::arange(-h, w - h, torch::kFloat64);
    auto powers = torch::arange(p + 1, torch::kFloat64);
    auto vander = torch::pow(u.unsqueeze(1), powers.unsqueeze(0)); // [w, p + 1]
    auto fit = torch::linalg_pinv(vander);                         // [p + 1, w]: polynomial coefficients
    // d-th derivative of u^i at each position: i! / (i - d)! u^(i - d) for i >= d.
    auto deriv = torch::zeros({w, p + 1}, torch::kFloat64);
    for (int64_t i = d; i <= p; ++i) {
        double factor = 1.0;
        for (int64_t j = i - d + 1; j <= i; ++j)
            factor *= static_cast<double>(j);
        deriv.select(1, i).copy_(factor * torch::pow(u, static_cast<double>(i - d)));
    }
    return torch::matmul(deriv, fit);
}

torch::Tensor delta(const torch::Tensor& x, const torch::Tensor& fits, const DeltaSettings& s) {
    const int64_t frames = x.size(-1), w = s.width, h = s.half();
    if (s.mode == DeltaMode::Nearest) {
        if (frames == 0)
            return x.clone();
        auto padded = torch::cat(
            {repeatFrame(x.narrow(-1, 0, 1), h), x, repeatFrame(x.narrow(-1, frames - 1, 1), h)}, -1);
        return interior(padded, fits, s);
    }
    if (frames < w)
        throw std::invalid_argument("mode 'interp' needs at least width = " + std::to_string(w) +
                                    " frames to fit its edge polynomials, got " + std::to_string(frames) +
                                    " (librosa raises too); use a smaller width, a longer input or mode "
                                    "'nearest'");
    return torch::cat({edge(x.narrow(-1, 0, w), fits, s, true), interior(x, fits, s),
                       edge(x.narrow(-1, frames - w, w), fits, s, false)},
                      -1);
}

DeltaStream::DeltaStream(const DeltaSettings& settings) : settings_(settings) {}

void DeltaStream::reset() {
    pending_ = torch::Tensor();
    last_ = torch::Tensor();
    received_ = 0;
    started_ = false;
}

torch::Tensor DeltaStream::push(const torch::Tensor& block, const torch::Tensor& fits) {
    const int64_t w = settings_.width, h = settings_.half();
    if (pending_.defined()) {
        auto lead = pending_.sizes().slice(0, pending_.dim() - 1);
        if (block.dim() != pending_.dim() || block.sizes().slice(0, block.dim() - 1) != lead)
            throw std::invalid_argument("a block of shape " + c10::str(block.sizes()) +
                                        " does not continue the stream, whose frames had leading sizes " +
                                        c10::str(lead) + "; reset the stream to start another");
        pending_ = torch::cat({pending_, block.to(pending_.device())}, -1);
    } else {
        pending_ = block;
    }
    received_ += block.size(-1);
    last_ = last_.defined() ? torch::cat({last_, block.to(last_.device())}, -1) : block;
    last_ = last_.narrow(-1, last_.size(-1) - std::min(last_.size(-1), w), std::min(last_.size(-1), w));

    torch::Tensor head;
    if (!started_) {
        if (settings_.mode == DeltaMode::Nearest && received_ >= 1) {
            pending_ = torch::cat({repeatFrame(pending_.narrow(-1, 0, 1), h), pending_}, -1);
            started_ = true;
        } else if (settings_.mode == DeltaMode::Interp && received_ >= w) {
            head = edge(pending_.narrow(-1, 0, w), fits, settings_, true);
            started_ = true;
        } else {
            return pending_.narrow(-1, 0, 0);
        }
    }
    const int64_t windows = std::max<int64_t>(0, pending_.size(-1) - w + 1);
    auto out = windows > 0 ? interior(pending_, fits, settings_) : pending_.narrow(-1, 0, 0);
    pending_ = pending_.narrow(-1, windows, pending_.size(-1) - windows).contiguous();
    return head.defined() ? torch::cat({head, out}, -1) : out;
}

torch::Tensor DeltaStream::finish(const torch::Tensor& fits) {
    const int64_t w = settings_.width, h = settings_.half();
    if (!pending_.defined() || received_ == 0)
        return pending_.defined() ? pending_.narrow(-1, 0, 0) : torch::Tensor();
    if (settings_.mode == DeltaMode::Nearest) { // the last frame repeated, as offline
        auto padded = torch::cat({pending_, repeatFrame(last_.narrow(-1, last_.size(-1) - 1, 1), h)}, -1);
        const int64_t windows = std::max<int64_t>(0, padded.size(-1) - w + 1);
        pending_ = pending_.narrow(-1, 0, 0);
        return windows > 0 ? interior(padded, fits, settings_) : padded.narrow(-1, 0, 0);
    }
    if (received_ < w)
        throw std::invalid_argument("mode 'interp' needs at least width = " + std::to_string(w) +
                                    " frames to fit its edge polynomials, the stream ended after " +
                                    std::to_string(received_) +
                                    " (librosa raises too); use a smaller width, a "
                                    "longer input or mode 'nearest'");
    pending_ = pending_.narrow(-1, 0, 0);
    return edge(last_, fits, settings_, false);
}

} // namespace avgraph::nodes
