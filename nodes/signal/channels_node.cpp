#include "nodes/signal/signal_nodes.h"

#include "graph/node.h"

#include <torch/torch.h>

#include <stdexcept>
#include <string>

namespace avgraph::nodes {

namespace {

enum class ChannelMode { Mono, Left, Right, Average, Difference };

ChannelMode modeFromName(const std::string& name) {
    if (name == "left")
        return ChannelMode::Left;
    if (name == "right")
        return ChannelMode::Right;
    if (name == "average")
        return ChannelMode::Average;
    if (name == "difference")
        return ChannelMode::Difference;
    return ChannelMode::Mono;
}

/** One channel made from the channels of each clip; a stateless sample-by-sample map, so it streams as is. */
class ChannelsNode : public Node {
public:
    explicit ChannelsNode(const NodeContext& ctx)
        : Node(ctx), name_(ctx.params.text("mode")), mode_(modeFromName(name_)) {}

protected:
    Ports run(const Ports& in) override {
        const Value& audio = input(in, "audio");
        return {{"audio", audio.withTensor(select(audio.tensor))}};
    }
    void onPrepareStream(const StreamSpec&) override {}
    Ports runBlock(const Ports& in) override { return run(in); }

private:
    torch::Tensor select(const torch::Tensor& x) const {
        if (x.dim() != 3)
            throw std::invalid_argument("input 'audio' must be audio [batch, channel, sample], got " +
                                        std::to_string(x.dim()) + " dimensions");
        const int64_t channels = x.size(1);
        if (channels < 1)
            throw std::invalid_argument("input 'audio' has no channels");
        if (mode_ == ChannelMode::Mono)
            return channels == 1 ? x : x.mean(1, /*keepdim=*/true);
        if (channels == 1) {
            if (mode_ == ChannelMode::Right || mode_ == ChannelMode::Difference)
                throw std::invalid_argument(
                    "mode '" + name_ +
                    "' needs stereo audio (2 channels) but the input is mono; use 'mono', "
                    "'left' or 'average', which pass mono audio through");
            return x;
        }
        if (channels != 2 && (mode_ == ChannelMode::Average || mode_ == ChannelMode::Difference))
            throw std::invalid_argument("mode '" + name_ + "' needs stereo audio (2 channels), got " +
                                        std::to_string(channels) +
                                        " channels; use 'mono' to average all of them, or 'left'/'right'");
        auto left = x.narrow(1, 0, 1);
        auto right = x.narrow(1, 1, 1);
        switch (mode_) {
        case ChannelMode::Left:
            return left;
        case ChannelMode::Right:
            return right;
        case ChannelMode::Average:
            return (left + right) * 0.5;
        case ChannelMode::Difference:
            return left - right;
        case ChannelMode::Mono:
            break;
        }
        return x;
    }

    std::string name_;
    ChannelMode mode_;
};

} // namespace

NodeSpec channelsNodeSpec() {
    NodeSpec s;
    s.type = "signal.channels";
    s.summary = "One channel from stereo audio: mono, left, right, average or difference";
    s.doc = "mode 'mono' averages all channels of each clip, as librosa.to_mono (any channel count); 'left' "
            "and 'right' pick channel 0 and 1 (the WAV order: front left, front right); 'average' is (left + "
            "right) / 2 and 'difference' left - right, the mid and side channels of Chen et al. (no 1/2 on "
            "the difference, so that left = average + difference / 2), for stereo audio only. Mono audio "
            "passes through unchanged for mono, left and average and is an error for right and difference. "
            "The output is [batch, 1, sample] at the input's rate and dtype. Streams, without latency.";
    s.inputs = {PortSpec::of("audio", {Kind::Audio}, "[batch, channel, sample]")};
    s.outputs = {PortSpec::of("audio", {Kind::Audio}, "[batch, 1, sample]")};
    s.params = {ParamSpec::choice("mode", "mono", {"mono", "left", "right", "average", "difference"},
                                  "how the channel is made: mean of all channels, channel 0, channel 1, "
                                  "(left + right) / 2 or left - right")};
    s.streams = true;
    s.make = [](const NodeContext& ctx) { return std::make_unique<ChannelsNode>(ctx); };
    return s;
}

} // namespace avgraph::nodes
