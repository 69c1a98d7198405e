#include "nodes/features/cepstral.h"
#include "nodes/features/cepstral_params.h"
#include "nodes/features/features.h"

namespace avgraph::nodes {

namespace {

/** Local Savitzky-Golay derivatives along the frame axis (the last dimension). */
class DeltaNode : public Node {
public:
    explicit DeltaNode(const NodeContext& ctx)
        : Node(ctx), settings_(deltaSettings(ctx.params)), stream_(settings_) {}

protected:
    Ports run(const Ports& in) override {
        const Value& v = input(in, "frames");
        const auto& x = framesTensor(v);
        return {{"delta", v.withTensor(delta(x, fits(x), settings_))}};
    }

    void onPrepareStream(const StreamSpec&) override { onResetStream(); }
    Ports runBlock(const Ports& in) override {
        const Value& v = input(in, "frames");
        const auto& x = framesTensor(v);
        if (v.hop > 0)
            hop_ = v.hop;
        return {{"delta", v.withTensor(stream_.push(x, fits(x)))}};
    }
    Ports runFinish(const Ports& in) override {
        const Value& v = input(in, "frames");
        const auto& x = framesTensor(v);
        auto out = stream_.push(x, fits(x));
        auto rest = stream_.finish(fits(x));
        return {{"delta", v.withTensor(rest.defined() ? torch::cat({out, rest.to(out.device())}, -1) : out)}};
    }
    void onResetStream() override {
        stream_.reset();
        hop_ = 0;
    }
    // width/2 frames of look-ahead; in samples once a block has told the hop.
    int64_t latency() const override { return stream_.latencyFrames() * hop_; }

private:
    static const torch::Tensor& framesTensor(const Value& v) {
        if (v.tensor.dim() < 1 || !v.tensor.is_floating_point())
            throw std::invalid_argument(
                "input 'frames' must be a real-valued tensor with frames along its last "
                "dimension, got " +
                std::string(c10::toString(v.tensor.scalar_type())) + " of shape " + shapeText(v.tensor));
        return v.tensor;
    }

    const torch::Tensor& fits(const torch::Tensor& like) {
        return fits_.get(like.options(), 0.0, settings_.width, [&] { return savgolMatrix(settings_); });
    }

    DeltaSettings settings_;
    DeltaStream stream_;
    ConstantCache fits_;
    int64_t hop_ = 0; ///< samples per frame, from the blocks' Value::hop
};

} // namespace

NodeSpec deltaNodeSpec() {
    NodeSpec s;
    s.type = "features.delta";
    s.summary = "Delta features: the local derivative of each row along the frame axis (Savitzky-Golay)";
    s.doc =
        "Matches librosa.feature.delta(x, width, order, axis=-1, mode) of librosa 0.10, i.e. "
        "scipy.signal.savgol_filter(x, width, polyorder=order, deriv=order, axis=-1, mode): within 1e-4 of "
        "the goldens from the same input. Frame t is the order-th derivative of the least-squares polynomial "
        "of degree order through frames t - width/2 .. t + width/2. Mode \"interp\" (librosa's default) "
        "takes the first and last width/2 frames from polynomials fitted to the first and last width frames "
        "(so they equal frame width/2 and frame T-1-width/2: the fitted derivative is constant) and needs at "
        "least width frames (an error otherwise, as librosa raises); \"nearest\" repeats the edge frames, "
        "which for order 1 is torchaudio's ComputeDeltas(win_length=width): sum n c[t+n] / sum n^2. Order 2 "
        "is the Savitzky-Golay second derivative, not the delta of the delta (torchaudio's delta-delta). "
        "Works on any real tensor with frames last (a spectrum, MFCC, ...); stack the result with "
        "tensor.concat. Streams in both modes with a latency of width/2 frames (width/2 * hop samples; the "
        "hop is read from the first block, so the latency reads 0 before it): the last width/2 frames of "
        "the offline result come when the stream finishes, and in mode \"interp\" the first "
        "width/2 + 1 frames all wait for frame width - 1, which the first fit needs.";
    s.inputs = {PortSpec::of("frames", {Kind::Spectrum, Kind::Tensor},
                             "[batch, ..., frame], e.g. a log-mel or MFCC")};
    s.outputs = {PortSpec::of("delta", {Kind::Any}, "the same shape: the derivative along the frames")};
    s.params = deltaParamSpecs();
    s.streams = true;
    s.check = checkDeltaParams;
    s.make = [](const NodeContext& ctx) { return std::make_unique<DeltaNode>(ctx); };
    return s;
}

} // namespace avgraph::nodes
