#include "nodes/signal/signal_nodes.h"
#include "nodes/signal/soxr_resampler.h"

#include "graph/node.h"

#include <torch/torch.h>

#include <memory>
#include <sstream>
#include <stdexcept>

namespace avgraph::nodes {

namespace {

std::string rateText(double hz) {
    std::ostringstream out;
    out << hz << " Hz";
    return out.str();
}

/** The audio on port "audio": floating [batch, channel, sample] with a known sample rate. */
const Value& audioWithRate(const Value& v) {
    if (v.tensor.dim() != 3)
        throw std::invalid_argument("input 'audio' must be audio [batch, channel, sample], got " +
                                    std::to_string(v.tensor.dim()) + " dimensions");
    if (!v.tensor.is_floating_point())
        throw std::invalid_argument("input 'audio' must hold floating-point samples");
    if (!(v.sample_rate > 0.0))
        throw std::invalid_argument(
            "input 'audio' carries no sample rate, so there is nothing to resample from");
    return v;
}

class ResampleNode : public Node {
public:
    explicit ResampleNode(const NodeContext& ctx)
        : Node(ctx), target_(ctx.params.real("sr")),
          quality_(*resampleQualityFromName(ctx.params.text("quality"))) {}

protected:
    void onPrepare(const PortInfos&, PortInfos& out) override { out["audio"].sample_rate = target_; }
    Ports run(const Ports& in) override {
        const Value& audio = audioWithRate(input(in, "audio"));
        return {
            {"audio", resampled(audio, resampleSignal(audio.tensor, audio.sample_rate, target_, quality_))}};
    }

    void onPrepareStream(const StreamSpec& spec) override {
        stream_.reset();
        stream_rate_ = spec.sample_rate;
        latency_ =
            spec.sample_rate > 0 ? ResampleStream::measureLatency(spec.sample_rate, target_, quality_) : 0;
    }

    Ports runBlock(const Ports& in) override {
        const Value& audio = audioWithRate(input(in, "audio"));
        const auto& x = audio.tensor;
        if (audio.sample_rate == target_)
            return {{"audio", audio}};
        const int64_t rows = x.size(0) * x.size(1);
        if (!stream_) {
            stream_ =
                std::make_unique<ResampleStream>(audio.sample_rate, target_, quality_, rows, x.scalar_type());
            stream_rate_ = audio.sample_rate;
            latency_ = stream_->latency();
            batch_ = x.size(0);
        } else if (audio.sample_rate != stream_rate_ || rows != stream_->channels() || x.size(0) != batch_) {
            throw std::invalid_argument(
                "the block [" + std::to_string(x.size(0)) + ", " + std::to_string(x.size(1)) + ", " +
                std::to_string(x.size(2)) + "] at " + rateText(audio.sample_rate) +
                " does not continue the stream of " + std::to_string(stream_->channels()) + " rows at " +
                rateText(stream_rate_));
        }
        auto out = stream_->push(x.reshape({rows, x.size(2)}));
        out = out.view({x.size(0), x.size(1), out.size(1)}).to(x.device(), x.scalar_type());
        return {{"audio", resampled(audio, out)}};
    }

    Ports runFinish(const Ports& in) override {
        Ports last = runBlock(in);
        if (!stream_) // the same rate, or no block at all
            return last;
        const Value& audio = last.at("audio");
        const int64_t batch = audio.tensor.size(0), channels = audio.tensor.size(1);
        auto rest = stream_->finish();
        rest =
            rest.view({batch, channels, rest.size(1)}).to(audio.tensor.device(), audio.tensor.scalar_type());
        return {{"audio", audio.withTensor(torch::cat({audio.tensor, rest}, -1))}};
    }
    void onResetStream() override { stream_.reset(); }
    int64_t latency() const override { return latency_; }

private:
    Value resampled(const Value& audio, torch::Tensor samples) const {
        Value v = audio.withTensor(std::move(samples));
        v.sample_rate = target_;
        return v;
    }

    double target_;
    ResampleQuality quality_;
    std::unique_ptr<ResampleStream> stream_;
    double stream_rate_ = 0.0;
    int64_t batch_ = 0;
    int64_t latency_ = 0;
};

} // namespace

NodeSpec resampleNodeSpec() {
    NodeSpec s;
    s.type = "signal.resample";
    s.summary = "Changes the sample rate of audio with libsoxr";
    s.doc = "As librosa.resample(y, orig_sr, target_sr=sr, res_type='soxr_' + quality) of librosa 0.10: "
            "libsoxr's linear-phase recipe (quick: cubic; low, medium: 16-bit; high: 20-bit, librosa's "
            "default 'soxr_hq' and the host's own resampling; very_high: 28-bit), every channel alike, "
            "the signal taken as silent beyond its ends, and ceil(samples * sr / orig_sr) samples out "
            "(zero-padded where libsoxr's flushed output is shorter, as librosa's fix_length does). "
            "float64 audio is resampled in float64, other audio in float32, on the CPU. Audio already at "
            "sr passes through unchanged. Streams: libsoxr is deterministic whatever the block sizes, so "
            "the streamed samples equal the offline ones; output sample j is released once j * orig_sr / "
            "sr + latency input samples have arrived, the latency being the largest delay libsoxr reports "
            "(soxr_delay) in input samples plus a margin (e.g. 1778 samples for 44100 -> 16000 Hz at "
            "high). The latency is in samples of the input rate; nodes after this one count theirs at sr.";
    s.inputs = {PortSpec::of("audio", {Kind::Audio}, "[batch, channel, sample] with its sample rate")};
    s.outputs = {PortSpec::of("audio", {Kind::Audio}, "[batch, channel, sample] at sr")};
    s.params = {
        ParamSpec::real("sr", 0.0, "target sample rate in Hz (librosa's target_sr)").above(0.0).mandatory(),
        ParamSpec::choice(
            "quality", "high", {"quick", "low", "medium", "high", "very_high"},
            "libsoxr recipe: soxr_qq, soxr_lq, soxr_mq, soxr_hq (librosa's default) or soxr_vhq"),
    };
    s.streams = true;
    s.make = [](const NodeContext& ctx) { return std::make_unique<ResampleNode>(ctx); };
    return s;
}

} // namespace avgraph::nodes
