#pragma once
/**
 * Cepstral and temporal-derivative DSP on tensors: the computations behind features.mfcc and
 * features.delta, as plain functions so that other nodes (or a one-node audio -> MFCC) can share them.
 *
 * Everything here reproduces librosa 0.10 (see ../shared/golden/README.md, sections 2, 5 and 6):
 *   - `dctMatrix`        the rows of scipy.fftpack.dct(x, type=2, norm="ortho" | None) as a matrix
 *   - `lifterWeights`    librosa.feature.mfcc's sinusoidal liftering, 1 + (L/2) sin(pi (k+1) / L)
 *   - `savgolMatrix`     scipy.signal.savgol_coeffs / _fit_edge: the polynomial fits behind
 *                        librosa.feature.delta
 *   - `delta`            librosa.feature.delta(x, width, order, axis=-1, mode="interp" | "nearest")
 *   - `DeltaStream`      the frames of `delta`, block by block
 *
 * Frames are the last dimension ([..., frame]); coefficients are computed in float64 on the CPU and
 * converted to the caller's dtype and device, so the functions run wherever their input is.
 */
#include <torch/types.h>

#include <cstdint>

namespace avgraph::nodes {

// ---------------------------------------------------------------------------------------------
// MFCC

/**
 * The first `n_out` rows of the type-II DCT of length `n`, [n_out, n], in float64: row k is
 * 2 cos(pi k (2i + 1) / (2n)) (scipy.fftpack.dct, norm=None), scaled by sqrt(1 / (4n)) for k = 0 and
 * sqrt(1 / (2n)) otherwise when `ortho` (norm="ortho", an orthonormal matrix). n_out <= n.
 */
torch::Tensor dctMatrix(int64_t n_out, int64_t n, bool ortho);

/** librosa's lifter for `n_out` coefficients: 1 + (lifter / 2) sin(pi (k + 1) / lifter), float64. */
torch::Tensor lifterWeights(int64_t n_out, double lifter);

// ---------------------------------------------------------------------------------------------
// Deltas

/** How librosa.feature.delta (scipy.signal.savgol_filter) treats the frames near the ends. */
enum class DeltaMode {
    Interp,  ///< fit a polynomial to the first / last `width` frames and differentiate it there
    Nearest, ///< repeat the first / last frame (torchaudio.functional.compute_deltas' "replicate")
};

struct DeltaSettings {
    int64_t width = 9; ///< odd, >= 3: frames in each fit
    int64_t order = 1; ///< derivative order, which is also the degree of the fitted polynomial
    DeltaMode mode = DeltaMode::Interp;

    int64_t half() const { return width / 2; }
};

/**
 * Savitzky-Golay fits over a window of `width` frames, [width, width] in float64: row r holds the
 * weights that give the `order`-th derivative, at frame r of the window, of the least-squares
 * polynomial of degree `order` through the window's frames. Row width/2 is the filter applied in the
 * interior (scipy.signal.savgol_coeffs(width, order, deriv=order, use="dot")); rows before it give the
 * first width/2 output frames and rows after it the last ones in mode "interp" (scipy's _fit_edge).
 * With degree == derivative order the derivative is constant, so all rows are equal; they are kept
 * general so that the edge rule is the one scipy states.
 */
torch::Tensor savgolMatrix(const DeltaSettings& settings);

/**
 * librosa.feature.delta(x, width, order, axis=-1, mode) for `x` [..., frame], with `fits` =
 * savgolMatrix(settings) in x's dtype and device. Same shape as x.
 *
 * @throws std::invalid_argument in mode "interp" when x has fewer than `width` frames (librosa raises
 *         too: there is no window to fit at the edges).
 */
torch::Tensor delta(const torch::Tensor& x, const torch::Tensor& fits, const DeltaSettings& settings);

/**
 * The frames of `delta`, computed from consecutive blocks of frames. A stream has no end, so the last
 * width/2 frames of the offline result are never produced; every other frame equals the offline one.
 *
 * Nearest: output frame t is produced by the block that brings frame t + width/2 (a latency of width/2
 * frames); the first frames see width/2 copies of frame 0 before them, as offline.
 * Interp: the same, except that the first width/2 + 1 output frames all wait for frame width - 1 (the
 * first fit needs a whole window), so the stream starts width/2 frames later than nominally.
 */
class DeltaStream {
public:
    explicit DeltaStream(const DeltaSettings& settings = {});

    /** Frames of look-ahead once started: width / 2. */
    int64_t latencyFrames() const { return settings_.half(); }
    /** Appends `block` [..., frame] and returns the output frames now complete (maybe 0 frames). */
    torch::Tensor push(const torch::Tensor& block, const torch::Tensor& fits);
    /**
     * The end of the sequence: its last width/2 output frames (the last frames repeated, or the fit to the
     * last width frames), so that all pushed output and these equal the offline delta.
     * @throws std::invalid_argument in mode "interp" when fewer than width frames arrived, as offline.
     */
    torch::Tensor finish(const torch::Tensor& fits);
    /** Forgets the past: the next block starts a new sequence. */
    void reset();

private:
    DeltaSettings settings_;
    torch::Tensor pending_; ///< input frames from the first one the next output frame needs
    torch::Tensor last_;    ///< the last (up to) width input frames, for the end
    int64_t received_ = 0;  ///< input frames received so far
    bool started_ = false;  ///< the head (replicated frames, or the first fit) has been handled
};

} // namespace avgraph::nodes
