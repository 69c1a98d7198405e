#include "graph/message_text.h"
#include "nodes/tensor/feature_statistics.h"
#include "nodes/tensor/tensor_nodes.h"

#include <torch/torch.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace avgraph::nodes {

namespace {

enum class NormalizeMode { Instance, Stats, MinMax };

NormalizeMode modeOf(const std::string& name) {
    return name == "stats"    ? NormalizeMode::Stats
           : name == "minmax" ? NormalizeMode::MinMax
                              : NormalizeMode::Instance;
}

/** Standardisation or min-max scaling of [batch, ..., bin, frame] values. */
class NormalizeNode : public Node {
public:
    explicit NormalizeNode(const NodeContext& ctx)
        : Node(ctx), mode_(modeOf(ctx.params.text("mode"))), global_(ctx.params.text("per") == "global"),
          eps_(ctx.params.real("eps")) {
        if (mode_ == NormalizeMode::Stats) {
            try {
                stats_ = loadFeatureStatistics(ctx.params.path("stats"));
            } catch (const std::invalid_argument& e) {
                throw paramError(ctx, "stats", e.what());
            }
        }
    }

protected:
    Ports run(const Ports& in) override {
        const Value& v = input(in, "in");
        const auto& x = checked(v.tensor);
        // The dimensions a statistic is taken over: the frames, or the bins and frames.
        const std::vector<int64_t> over = global_ ? std::vector<int64_t>{-2, -1} : std::vector<int64_t>{-1};
        switch (mode_) {
        case NormalizeMode::Instance: {
            auto mean = x.mean(over, /*keepdim=*/true);
            auto std = (x - mean).square().mean(over, /*keepdim=*/true).sqrt();
            return {{"out", v.withTensor((x - mean) / std.clamp_min(eps_))}};
        }
        case NormalizeMode::MinMax: {
            auto low = x.amin(over, /*keepdim=*/true);
            auto high = x.amax(over, /*keepdim=*/true);
            return {{"out", v.withTensor((x - low) / (high - low).clamp_min(eps_))}};
        }
        case NormalizeMode::Stats:
            return {{"out", v.withTensor(standardise(x))}};
        }
        return {};
    }

    void onPrepareStream(const StreamSpec&) override {
        if (mode_ != NormalizeMode::Stats)
            throw Error(where(),
                        std::string("cannot stream with mode '") +
                            (mode_ == NormalizeMode::Instance ? "instance" : "minmax") +
                            "': its statistics are taken over the whole clip, which a stream never has "
                            "seen; use mode 'stats' with statistics from the training set, or run offline");
    }
    Ports runBlock(const Ports& in) override { return run(in); }

private:
    static const torch::Tensor& checked(const torch::Tensor& x) {
        if (x.dim() < 3)
            throw std::invalid_argument("input 'in' must be laid out as [batch, ..., bin, frame], got " +
                                        shapeText(x.sizes()));
        if (!x.is_floating_point())
            throw std::invalid_argument("input 'in' must be floating-point");
        return x;
    }

    torch::Tensor standardise(const torch::Tensor& x) const {
        // A frame's statistics get a frame axis of 1 and are aligned with the input's trailing axes.
        auto shape = stats_->mean.sizes().vec();
        shape.push_back(1);
        const auto frame_shape = x.sizes().slice(1, x.dim() - 2); // [..., bin] without the batch
        bool fits = static_cast<int64_t>(shape.size()) <= x.dim() - 1;
        for (size_t i = 0; fits && i + 1 < shape.size(); ++i) {
            const int64_t have = shape[shape.size() - 2 - i];
            const int64_t want = frame_shape[frame_shape.size() - 1 - i];
            fits = have == want || have == 1;
        }
        if (!fits)
            throw std::invalid_argument("the stored statistics have shape " +
                                        shapeText(stats_->mean.sizes()) + " but a frame of the input is " +
                                        shapeText(frame_shape) + " (input " + shapeText(x.sizes()) +
                                        "); expected [] (one value), [bin] or [channel, bin] statistics that "
                                        "match the input's trailing axes");
        auto mean = stats_->mean.view(shape).to(x.device(), x.scalar_type());
        auto std = stats_->std.view(shape).to(x.device(), x.scalar_type());
        return (x - mean) / std.clamp_min(eps_);
    }

    NormalizeMode mode_;
    bool global_;
    double eps_;
    std::optional<FeatureStatistics> stats_;
};

void checkNormalizeParams(const NodeContext& ctx) {
    const bool stats = ctx.params.text("mode") == "stats";
    if (stats && ctx.params.isNull("stats"))
        throw paramError(
            ctx, "stats",
            "mode 'stats' needs a statistics file: a .json {\"mean\": ..., \"std\": ...} or a .npy "
            "of shape [2, ...], relative to the preset");
    if (!stats && !ctx.params.isNull("stats"))
        throw paramError(ctx, "stats",
                         "is only read with mode 'stats', but mode is '" + ctx.params.text("mode") +
                             "'; remove it or set \"mode\": \"stats\"");
}

} // namespace

NodeSpec normalizeNodeSpec() {
    NodeSpec s;
    s.type = "tensor.normalize";
    s.summary = "Per-feature standardisation (per clip or from stored statistics) or min-max scaling";
    s.doc = "Works on [batch, ..., bin, frame] values; every clip and every channel is treated on its own. "
            "mode 'instance': (x - mean) / max(std, eps) with the clip's mean and population standard "
            "deviation (ddof 0, as np.std) over its frames, for each bin (per 'bin') or over all bins and "
            "frames together (per 'global'). mode 'minmax': (x - min) / max(max - min, eps) over the same "
            "ranges, giving values in [0, 1]. mode 'stats': (x - mean) / max(std, eps) with a mean and std "
            "read from the file `stats` (resolved relative to the preset that names it): a JSON object "
            "{\"mean\": M, \"std\": S} of numbers or nested arrays, or a float .npy of shape [2, ...] "
            "holding the mean then the std; their shape is that of one frame, [] (one value), [bin] or "
            "[channel, bin], and they broadcast against the input (per is not used). Only 'stats' streams "
            "(frame by frame, without latency): the other modes need the whole clip.";
    s.inputs = {PortSpec::of("in", {Kind::Spectrum, Kind::Tensor}, "[batch, ..., bin, frame]")};
    s.outputs = {PortSpec::of("out", {Kind::Any}, "the normalised value, same shape and kind")};
    s.params = {
        ParamSpec::choice("mode", "instance", {"instance", "stats", "minmax"},
                          "'instance': standardise with the clip's own statistics; 'stats': with those of "
                          "the file `stats`; 'minmax': scale the clip to [0, 1]"),
        ParamSpec::choice("per", "bin", {"bin", "global"},
                          "instance and minmax statistics for each bin over the frames, or one over bins and "
                          "frames"),
        ParamSpec::path("stats",
                        ".json or .npy of mean and std, relative to the preset; only for mode 'stats'")
            .orNull(),
        ParamSpec::real("eps", 1e-8, "smallest divisor, so that constant features give 0").above(0.0),
    };
    s.streams = true;
    s.check = checkNormalizeParams;
    s.make = [](const NodeContext& ctx) { return std::make_unique<NormalizeNode>(ctx); };
    return s;
}

} // namespace avgraph::nodes
