#include "nodes/image/image_nodes.h"

#include "nodes/models/model_params.h"

#include <torch/torch.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace avgraph::nodes {

namespace {

namespace F = torch::nn::functional;

/** The input image as floating point; throws the port's error unless it is [batch, 3, H, W]. */
torch::Tensor imageInput(const Value& in) {
    const auto& x = in.tensor;
    if (x.dim() != 4 || x.size(1) != 3 || x.size(2) < 1 || x.size(3) < 1)
        throw std::invalid_argument("input 'in' has shape " + shapeText(x.sizes()) +
                                    "; expected an RGB image [batch, 3, H, W]");
    return x.is_floating_point() ? x : x.to(torch::kFloat);
}

class ResizeNode : public Node {
public:
    explicit ResizeNode(const NodeContext& ctx)
        : Node(ctx), height_(ctx.params.integer("height")), width_(ctx.params.integer("width")),
          mode_(ctx.params.text("mode")), antialias_(ctx.params.flag("antialias")) {}

protected:
    Ports run(const Ports& inputs) override {
        const Value& in = input(inputs, "in");
        const auto x = imageInput(in);
        const std::vector<int64_t> size{height_, width_};
        torch::Tensor out;
        if (mode_ == "area")
            out = F::adaptive_avg_pool2d(x, F::AdaptiveAvgPool2dFuncOptions({height_, width_}));
        else if (mode_ == "nearest")
            out = F::interpolate(x, F::InterpolateFuncOptions().size(size).mode(torch::kNearest));
        else
            out = F::interpolate(x, F::InterpolateFuncOptions()
                                        .size(size)
                                        .mode(torch::kBilinear)
                                        .align_corners(false)
                                        .antialias(antialias_));
        return {{"out", in.withTensor(out)}};
    }

private:
    int64_t height_, width_;
    std::string mode_;
    bool antialias_;
};

/** Three numbers from a comma-separated parameter, or `fallback` three times when it is "". */
std::vector<double> channelValues(const NodeContext& ctx, const std::string& param, double fallback) {
    const std::string text = ctx.params.text(param);
    if (text.find_first_not_of(" \t") == std::string::npos)
        return {fallback, fallback, fallback};
    std::vector<double> values;
    size_t start = 0;
    while (start <= text.size()) {
        const size_t end = std::min(text.find(',', start), text.size());
        const std::string part = text.substr(start, end - start);
        size_t used = 0;
        double v = 0;
        try {
            v = std::stod(part, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used == 0 || part.find_first_not_of(" \t", used) != std::string::npos || !std::isfinite(v))
            throw paramError(ctx, param,
                             "expected 3 numbers separated by commas (one per channel R, G, B), "
                             "e.g. \"0.485,0.456,0.406\"; got \"" +
                                 text + "\"");
        values.push_back(v);
        start = end + 1;
    }
    if (values.size() != 3)
        throw paramError(ctx, param,
                         "expected 3 numbers (one per channel R, G, B); got " +
                             std::to_string(values.size()) + " in \"" + text + "\"");
    return values;
}

class NormalizeImageNode : public Node {
public:
    explicit NormalizeImageNode(const NodeContext& ctx)
        : Node(ctx), scale_(ctx.params.real("scale")), offset_(ctx.params.real("offset")),
          mean_(channelValues(ctx, "mean", 0.0)), std_(channelValues(ctx, "std", 1.0)) {}

protected:
    Ports run(const Ports& inputs) override {
        const Value& in = input(inputs, "in");
        const auto x = imageInput(in);
        const auto options = torch::TensorOptions().dtype(x.scalar_type()).device(x.device());
        const auto mean = torch::tensor(mean_, torch::kDouble).to(options).reshape({1, 3, 1, 1});
        const auto std = torch::tensor(std_, torch::kDouble).to(options).reshape({1, 3, 1, 1});
        return {{"out", in.withTensor((x * scale_ + offset_ - mean) / std)}};
    }

private:
    double scale_, offset_;
    std::vector<double> mean_, std_;
};

} // namespace

NodeSpec imageResizeNodeSpec() {
    NodeSpec s;
    s.type = "image.resize";
    s.summary = "Resizes images to height x width (bilinear, area or nearest)";
    s.doc = "bilinear: torch's interpolate with align_corners false, antialiased when shrinking (with "
            "`antialias`, as PIL and torchvision's antialias=True: a triangle filter widened by the scale "
            "factor; enlarging is plain bilinear either way); area: adaptive average pooling, each output "
            "pixel the mean of the input pixels it covers (exact box averaging for integer factors); "
            "nearest: torch's 'nearest' (the input pixel at floor(i * in / out)). Values keep their range "
            "and dtype (integer images become float32).";
    s.inputs = {PortSpec::of("in", {Kind::Image}, "[batch, 3, H, W] image")};
    s.outputs = {PortSpec::of("out", {Kind::Image}, "[batch, 3, height, width] image")};
    s.params = {
        ParamSpec::integer("height", 128, "rows of the output").range(1, 1 << 16),
        ParamSpec::integer("width", 128, "columns of the output").range(1, 1 << 16),
        ParamSpec::choice("mode", "bilinear", {"bilinear", "area", "nearest"}, "interpolation"),
        ParamSpec::flag("antialias", true, "bilinear: low-pass filter when shrinking, against aliasing"),
    };
    s.make = [](const NodeContext& ctx) { return std::make_unique<ResizeNode>(ctx); };
    return s;
}

NodeSpec imageNormalizeNodeSpec() {
    NodeSpec s;
    s.type = "image.normalize";
    s.summary = "Rescales image values: ((x * scale + offset) - mean[c]) / std[c]";
    s.doc = "The defaults (scale 1/255, offset -0.5) map [0, 255] to the VQ-VAE's [-0.5, 0.5]; scale 255 "
            "with offset 127.5 maps a decoded image back to [0, 255] for writing. mean and std add a "
            "per-channel standardisation after the affine map (e.g. scale 1/255, offset 0, ImageNet's mean "
            "\"0.485,0.456,0.406\" and std \"0.229,0.224,0.225\").";
    s.inputs = {PortSpec::of("in", {Kind::Image}, "[batch, 3, H, W] image")};
    s.outputs = {PortSpec::of("out", {Kind::Image}, "[batch, 3, H, W] image")};
    s.params = {
        ParamSpec::real("scale", 1.0 / 255.0, "multiplies the values first"),
        ParamSpec::real("offset", -0.5, "added after scaling"),
        ParamSpec::text("mean", "", "per-channel means R,G,B subtracted after the affine map; \"\": 0"),
        ParamSpec::text("std", "", "per-channel standard deviations R,G,B divided by last; \"\": 1"),
    };
    s.check = [](const NodeContext& ctx) {
        channelValues(ctx, "mean", 0.0);
        for (double v : channelValues(ctx, "std", 1.0))
            if (v == 0.0)
                throw paramError(ctx, "std", "must not contain 0 (it divides)");
    };
    s.make = [](const NodeContext& ctx) { return std::make_unique<NormalizeImageNode>(ctx); };
    return s;
}

void registerImageNodes(Registry& registry) {
    registry.add(imageResizeNodeSpec());
    registry.add(imageNormalizeNodeSpec());
}

} // namespace avgraph::nodes
