#include "graph/message_text.h"
#include "nodes/tensor/tensor_nodes.h"

#include <torch/torch.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

namespace avgraph::nodes {

namespace {

/** Fixed-length windows over the frame axis, stacked on a new axis after the batch. */
class PatchNode : public Node {
public:
    explicit PatchNode(const NodeContext& ctx)
        : Node(ctx), length_(ctx.params.integer("length")), hop_(ctx.params.integer("hop")),
          pad_(ctx.params.text("padding") == "pad"), pad_value_(ctx.params.real("pad_value")) {}

protected:
    Ports run(const Ports& in) override {
        const Value& v = input(in, "in");
        const auto& x = checked(v.tensor);
        const int64_t frames = x.size(-1);
        int64_t patches = 0;
        torch::Tensor source = x;
        if (pad_) {
            patches = patchCount(frames);
            const int64_t needed = (patches - 1) * hop_ + length_;
            if (needed > frames) {
                auto sizes = x.sizes().vec();
                sizes.back() = needed - frames;
                source = torch::cat({x, torch::full(sizes, pad_value_, x.options())}, -1);
            }
        } else {
            if (frames < length_)
                throw std::invalid_argument(
                    "the input has " + std::to_string(frames) + " frames, fewer than one patch of length " +
                    std::to_string(length_) + "; shorten the patch or set \"padding\": \"pad\"");
            patches = 1 + (frames - length_) / hop_;
        }
        return {{"out", patched(v, cut(source, 0, patches))}};
    }

    void onPrepareStream(const StreamSpec&) override { onResetStream(); }

    // Patches are released as soon as their last frame has arrived; the padded ones at the end of the
    // stream come from runFinish.
    Ports runBlock(const Ports& in) override {
        const Value& v = input(in, "in");
        const auto& x = checked(v.tensor);
        if (v.hop > 0)
            frame_hop_ = v.hop;
        if (pending_.defined() && pending_.sizes().slice(0, x.dim() - 1) != x.sizes().slice(0, x.dim() - 1))
            throw std::invalid_argument("a block of shape " + shapeText(x) +
                                        " does not continue the stream of frames shaped " +
                                        shapeText(pending_));
        pending_ = pending_.defined() ? torch::cat({pending_, x.to(pending_.device())}, -1) : x;
        const int64_t available = pending_start_ + pending_.size(-1);
        int64_t patches = 0;
        if (available >= next_start_ + length_)
            patches = 1 + (available - length_ - next_start_) / hop_;
        auto out = cut(pending_, next_start_ - pending_start_, patches);
        next_start_ += patches * hop_;
        // Keep the frames from the next patch's start on (none yet may have arrived when hop > length).
        const int64_t drop = std::min(next_start_, available) - pending_start_;
        pending_ = pending_.narrow(-1, drop, pending_.size(-1) - drop);
        pending_start_ += drop;
        return {{"out", patched(v, out)}};
    }

    // With padding, the end releases the patches that reach past the last frame, padded as offline.
    Ports runFinish(const Ports& in) override {
        Ports last = runBlock(in);
        if (!pad_ || !pending_.defined())
            return last;
        const int64_t frames = pending_start_ + pending_.size(-1);
        const int64_t done = next_start_ / hop_;
        const int64_t total = patchCount(frames);
        if (total <= done)
            return last;
        auto source = pending_.narrow(-1, next_start_ - pending_start_, frames - next_start_);
        auto sizes = source.sizes().vec();
        sizes.back() = (total - done - 1) * hop_ + length_ - source.size(-1);
        source = torch::cat({source, torch::full(sizes, pad_value_, source.options())}, -1);
        const Value& out = last.at("out");
        auto rest = cut(source, 0, total - done).to(out.tensor.device());
        next_start_ = total * hop_;
        return {{"out", out.withTensor(torch::cat({out.tensor, rest}, 1))}};
    }

    void onResetStream() override {
        pending_ = torch::Tensor();
        pending_start_ = 0;
        next_start_ = 0;
    }

    /** The last patch's last frame comes length - 1 frames after its first. */
    int64_t latency() const override { return (length_ - 1) * frame_hop_; }

private:
    const torch::Tensor& checked(const torch::Tensor& x) const {
        if (x.dim() < 3)
            throw std::invalid_argument("input 'in' must be laid out as [batch, ..., bin, frame], got " +
                                        shapeText(x));
        return x;
    }

    /** Patches of padding "pad" over `frames`: up to the first that reaches the last frame, but none that
     *  starts past the end (hop > length). */
    int64_t patchCount(int64_t frames) const {
        return frames <= length_
                   ? 1
                   : std::min(1 + (frames - length_ + hop_ - 1) / hop_, (frames + hop_ - 1) / hop_);
    }

    /** `patches` windows of `length` frames every `hop` from frame `first`: [batch, patch, ..., length]. */
    torch::Tensor cut(const torch::Tensor& x, int64_t first, int64_t patches) const {
        auto sizes = x.sizes().vec();
        if (patches == 0) {
            sizes.insert(sizes.begin() + 1, 0);
            sizes.back() = length_;
            return torch::empty(sizes, x.options());
        }
        auto span = x.narrow(-1, first, (patches - 1) * hop_ + length_);
        // unfold gives [..., patch, length]; move the patch axis after the batch. A copy, so that a patch
        // owns its frames rather than viewing overlapping storage.
        return span.unfold(-1, length_, hop_).movedim(-2, 1).contiguous();
    }

    Value patched(const Value& v, torch::Tensor t) const {
        Value out = v.withTensor(std::move(t));
        if (v.axes.size() == static_cast<size_t>(v.tensor.dim())) {
            out.axes.insert(out.axes.begin() + 1, "patch");
        } else {
            out.axes.clear();
        }
        return out;
    }

    int64_t length_;
    int64_t hop_;
    bool pad_;
    double pad_value_;
    torch::Tensor pending_;     ///< frames from pending_start_ on (streaming)
    int64_t pending_start_ = 0; ///< index of pending_'s first frame in the stream
    int64_t next_start_ = 0;    ///< first frame of the next patch
    int64_t frame_hop_ = 0;     ///< samples per frame, learnt from the first block
};

} // namespace

NodeSpec patchNodeSpec() {
    NodeSpec s;
    s.type = "tensor.patch";
    s.summary = "Cuts a spectrum into fixed-length, possibly overlapping patches along its frames";
    s.doc =
        "[batch, ..., bin, frame] -> [batch, patch, ..., bin, length]: patch p holds frames [p*hop, p*hop + "
        "length), so each clip becomes [patch, ..., bin, length] (Pham et al.: 704 frames, length 128, hop "
        "64 give ten 50%-overlapping patches). padding 'drop' keeps only whole patches, 1 + (frames - "
        "length) // hop of them, dropping the frames after the last (an input shorter than one patch is "
        "an error); 'pad' also keeps the patches that run past the end, up to the first that reaches the "
        "last "
        "frame, min(1 + ceil((frames - length) / hop), ceil(frames / hop)) and at least 1, filling the "
        "missing frames of the last one with pad_value (0: normalise "
        "first if 0 is not neutral, e.g. for dB). The value keeps its kind, rate and hop; its axes gain "
        "'patch' after 'batch'. Streams: patch p is released once its last frame has arrived, a latency "
        "of (length - 1) frames, i.e. (length - 1) * hop samples of the input frames (known from the "
        "first block); the padded patch at the end is never reached.";
    s.inputs = {PortSpec::of("in", {Kind::Spectrum, Kind::Tensor}, "[batch, ..., bin, frame]")};
    s.outputs = {PortSpec::of("out", {Kind::Any}, "[batch, patch, ..., bin, length], of the input's kind")};
    s.params = {
        ParamSpec::integer("length", 128, "frames per patch").range(1, 1 << 20),
        ParamSpec::integer("hop", 64, "frames between the starts of consecutive patches").range(1, 1 << 20),
        ParamSpec::choice(
            "padding", "drop", {"drop", "pad"},
            "'drop': only whole patches; 'pad': one more, padded, patch covers the last frames"),
        ParamSpec::real("pad_value", 0.0, "value of the frames added by 'pad'"),
    };
    s.streams = true;
    s.make = [](const NodeContext& ctx) { return std::make_unique<PatchNode>(ctx); };
    return s;
}

} // namespace avgraph::nodes
