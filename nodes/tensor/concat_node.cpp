#include "graph/message_text.h"
#include "nodes/tensor/tensor_nodes.h"

#include <torch/torch.h>

#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace avgraph::nodes {

namespace {

std::string numberText(double v) {
    std::ostringstream out;
    out << v;
    return out.str();
}

/** Joins in0, in1, ... along one axis; frames (the last dimension) must line up. */
class ConcatNode : public Node {
public:
    explicit ConcatNode(const NodeContext& ctx) : Node(ctx), axis_(ctx.params.text("axis")) {}

protected:
    /** Frames made at different hops or rates never line up, whatever their number: found at build. */
    void onPrepare(const PortInfos& in, PortInfos&) override {
        if (axis_ == "frame")
            return;
        const ValueInfo* first = nullptr;
        std::string first_port;
        for (const auto& [port, info] : in) {
            if (!info.hop)
                continue;
            if (!first) {
                first = &info;
                first_port = port;
            } else if (*info.hop != *first->hop ||
                       (info.sample_rate && first->sample_rate && *info.sample_rate != *first->sample_rate)) {
                auto framing = [](const ValueInfo& v) {
                    return "a frame every " + std::to_string(*v.hop) + " samples" +
                           (v.sample_rate
                                ? " at " + std::to_string(static_cast<int64_t>(*v.sample_rate)) + " Hz"
                                : std::string());
                };
                throw std::invalid_argument(port + " has " + framing(info) + ", " + first_port + " " +
                                            framing(*first) + ": their frames do not line up along '" +
                                            axis_ + "'; give both the same hop_length and sample rate");
            }
        }
    }
    Ports run(const Ports& in) override {
        auto values = gather(in);
        const int64_t dim = checkJoinable(values, /*frames_must_match=*/true);
        return {{"out", values[0].withTensor(torch::cat(tensors(values), dim))}};
    }

    void onPrepareStream(const StreamSpec&) override {
        if (axis_ == "frame")
            throw Error(where(),
                        "cannot stream with axis 'frame': the joined frames of in1 follow all those of "
                        "in0, which a stream never finishes; join along 'channel' or 'bin' to stream");
        pending_.clear();
    }

    // The inputs may deliver their frames in different blocks (their latencies differ): frames are
    // held until every input has them, so frame t of the output always joins frame t of each input.
    Ports runBlock(const Ports& in) override {
        auto values = gather(in);
        const int64_t dim = checkJoinable(values, /*frames_must_match=*/false);
        if (pending_.empty())
            pending_.resize(values.size());
        if (pending_.size() != values.size())
            throw std::invalid_argument("the stream started with " + std::to_string(pending_.size()) +
                                        " inputs and now has " + std::to_string(values.size()));
        int64_t ready = -1;
        for (size_t i = 0; i < values.size(); ++i) {
            const auto& t = values[i].tensor;
            pending_[i] =
                pending_[i].defined() ? torch::cat({pending_[i], t.to(pending_[i].device())}, -1) : t;
            ready = ready < 0 ? pending_[i].size(-1) : std::min(ready, pending_[i].size(-1));
        }
        std::vector<torch::Tensor> parts;
        for (auto& p : pending_) {
            const int64_t frames = p.size(-1);
            parts.push_back(p.narrow(-1, 0, ready).to(pending_[0].device()));
            p = p.narrow(-1, ready, frames - ready);
        }
        return {{"out", values[0].withTensor(torch::cat(parts, dim))}};
    }
    void onResetStream() override { pending_.clear(); }

private:
    std::vector<Value> gather(const Ports& in) const {
        std::vector<Value> values;
        for (size_t i = 0;; ++i) {
            auto it = in.find("in" + std::to_string(i));
            if (it == in.end() || !it->second.tensor.defined())
                break;
            values.push_back(it->second);
        }
        if (values.empty())
            throw std::invalid_argument("no inputs: connect in0, in1, ...");
        return values;
    }

    static std::vector<torch::Tensor> tensors(const std::vector<Value>& values) {
        std::vector<torch::Tensor> out;
        for (const auto& v : values)
            out.push_back(v.tensor.to(values[0].tensor.device()));
        return out;
    }

    /** The dimension to join along, after checking that the inputs fit together. */
    int64_t checkJoinable(const std::vector<Value>& values, bool frames_must_match) const {
        const auto& first = values[0].tensor;
        const int64_t ndim = first.dim();
        const int64_t needed = axis_ == "bin" ? 4 : axis_ == "channel" ? 3 : 2;
        const char* layout = axis_ == "bin"       ? "[batch, channel, bin, frame]"
                             : axis_ == "channel" ? "[batch, channel, ..., frame]"
                                                  : "[batch, ..., frame]";
        const int64_t dim = axis_ == "bin" ? 2 : axis_ == "channel" ? 1 : ndim - 1;
        for (size_t i = 0; i < values.size(); ++i) {
            const auto& t = values[i].tensor;
            const std::string name = "in" + std::to_string(i);
            if (t.dim() < needed)
                throw std::invalid_argument("joining along '" + axis_ + "' needs inputs laid out as " +
                                            layout + ", but " + name + " is " + shapeText(t));
            if (t.dim() != ndim)
                throw std::invalid_argument(name + " is " + shapeText(t) + " but in0 is " + shapeText(first) +
                                            ": the inputs must have the same number of dimensions");
            if (i == 0)
                continue;
            if (axis_ != "frame") {
                if (frames_must_match && t.size(-1) != first.size(-1))
                    throw std::invalid_argument(name + " has " + std::to_string(t.size(-1)) +
                                                " frames but in0 has " + std::to_string(first.size(-1)) +
                                                ": joining along '" + axis_ +
                                                "' needs the same frames in every input (the same "
                                                "hop_length, center, sample rate and "
                                                "signal length)");
                const auto& v = values[i];
                if (v.hop > 0 && values[0].hop > 0 && v.sample_rate > 0 && values[0].sample_rate > 0 &&
                    v.hop / v.sample_rate != values[0].hop / values[0].sample_rate)
                    throw std::invalid_argument(
                        name + " has frames every " + std::to_string(v.hop) + " samples at " +
                        numberText(v.sample_rate) + " Hz but in0 every " + std::to_string(values[0].hop) +
                        " at " + numberText(values[0].sample_rate) + " Hz: frames joined along '" + axis_ +
                        "' must be at the same times; use the same hop duration");
            }
            for (int64_t d = 0; d < ndim - 1; ++d)
                if (d != dim && t.size(d) != first.size(d))
                    throw std::invalid_argument(name + " is " + shapeText(t) + " but in0 is " +
                                                shapeText(first) + ": joining along '" + axis_ +
                                                "' needs the same size in every other dimension (dimension " +
                                                std::to_string(d) + " differs)");
        }
        return dim;
    }

    std::string axis_;
    std::vector<torch::Tensor> pending_; ///< per input, frames not yet joined (streaming)
};

} // namespace

NodeSpec concatNodeSpec() {
    NodeSpec s;
    s.type = "tensor.concat";
    s.summary = "Joins its inputs in0, in1, ... along the channel, bin or frame axis";
    s.doc = "torch.cat of the inputs in port order along axis 'channel' (dimension 1), 'bin' (dimension 2 of "
            "a [batch, channel, bin, frame] spectrum) or 'frame' (the last dimension). Every other dimension "
            "must match; joining along channel or bin also needs the same number of frames at the same hop "
            "duration (hop / sample rate). The output has the first input's kind and metadata, on its "
            "device. Streams along channel or bin, holding frames until every input has delivered them, so "
            "it adds no latency beyond its slowest input's.";
    s.inputs = {PortSpec::of("in", {Kind::Any}, "values to join, connected as in0, in1, ...").many()};
    s.outputs = {PortSpec::of("out", {Kind::Any}, "the joined value, of the first input's kind")};
    s.params = {
        ParamSpec::choice("axis", "channel", {"channel", "bin", "frame"},
                          "'channel' (dimension 1), 'bin' (dimension 2) or 'frame' (the last dimension)")};
    s.streams = true;
    s.make = [](const NodeContext& ctx) { return std::make_unique<ConcatNode>(ctx); };
    return s;
}

void registerTensorNodes(Registry& registry) {
    registry.add(concatNodeSpec());
    registry.add(patchNodeSpec());
    registry.add(normalizeNodeSpec());
}

} // namespace avgraph::nodes
