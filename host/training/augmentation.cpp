// Training batches and their augmentations (host/training/augmentation.h).
#include "host/training/augmentation.h"

#include "graph/error.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace avgraph::host::training {

std::mt19937_64 stepGenerator(unsigned seed, int epoch, int64_t step, uint32_t purpose) {
    std::seed_seq seq{seed, static_cast<uint32_t>(epoch), static_cast<uint32_t>(step),
                      static_cast<uint32_t>(step >> 32), purpose};
    return std::mt19937_64(seq);
}

void maskSpans(torch::Tensor& t, int64_t axis, int64_t count, int64_t widest, const double* draws,
               double fill) {
    const int64_t size = t.size(axis);
    for (int64_t k = 0; k < count; ++k, draws += 2) {
        const int64_t width =
            std::min(size, static_cast<int64_t>(draws[0] * static_cast<double>(widest + 1)));
        const int64_t start =
            std::min(size - width, static_cast<int64_t>(draws[1] * static_cast<double>(size - width + 1)));
        if (width > 0)
            t.narrow(axis, start, width).fill_(fill);
    }
}

torch::Tensor augmentImage(torch::Tensor x, const double* u, const AugmentConfig& aug) {
    namespace F = torch::nn::functional;
    const int64_t H = x.size(-2), W = x.size(-1);
    if (aug.image_crop > 0.0) {
        const double area = aug.image_crop + u[0] * (1.0 - aug.image_crop);
        const double lo = std::log(3.0 / 4.0), hi = std::log(4.0 / 3.0);
        const double ratio = std::exp(lo + u[1] * (hi - lo));
        const int64_t w =
            std::clamp<int64_t>(std::llround(std::sqrt(area * ratio) * static_cast<double>(W)), 1, W);
        const int64_t h =
            std::clamp<int64_t>(std::llround(std::sqrt(area / ratio) * static_cast<double>(H)), 1, H);
        const auto x0 = std::min<int64_t>(W - w, static_cast<int64_t>(u[2] * static_cast<double>(W - w + 1)));
        const auto y0 = std::min<int64_t>(H - h, static_cast<int64_t>(u[3] * static_cast<double>(H - h + 1)));
        x = F::interpolate(x.narrow(-2, y0, h).narrow(-1, x0, w), F::InterpolateFuncOptions()
                                                                      .size(std::vector<int64_t>{H, W})
                                                                      .mode(torch::kBilinear)
                                                                      .align_corners(false));
    }
    if (aug.image_flip && u[4] < 0.5)
        x = x.flip({-1});
    if (aug.color_jitter > 0.0) {
        const double j = aug.color_jitter;
        auto factor = [j](double draw) { return 1.0 - j + 2.0 * j * draw; };
        auto gray = [](const torch::Tensor& t) { // ITU-R 601 luma, as torchvision's rgb_to_grayscale
            return t.select(1, 0).unsqueeze(1) * 0.299 + t.select(1, 1).unsqueeze(1) * 0.587 +
                   t.select(1, 2).unsqueeze(1) * 0.114;
        };
        x = (x * factor(u[5])).clamp(0.0, 255.0);
        auto mean = gray(x).mean();
        x = ((x - mean) * factor(u[6]) + mean).clamp(0.0, 255.0);
        auto g = gray(x);
        x = ((x - g) * factor(u[7]) + g).clamp(0.0, 255.0);
    }
    return x.contiguous();
}

/** Every draw of one global batch, sample by sample. */
struct BatchMaker::Draws {
    std::vector<double> shift, crop; ///< one uniform draw per sample each
    std::vector<double> lambda;      ///< mixup weight of each sample (1: not mixed)
    std::vector<int64_t> partner;    ///< mixup partner of each sample
    std::vector<double> mask;        ///< 2 per mask per sample: freq_masks bands, then time_masks spans
    std::vector<double> image;       ///< 8 per sample (augmentImage)
    int64_t masks = 0;               ///< masks per sample
    bool mixup = false;
};

BatchMaker::Draws BatchMaker::draw(int64_t n, int epoch, int64_t step, bool augment) const {
    const auto& aug = config_.augment;
    Draws d;
    auto rng = stepGenerator(config_.seed, epoch, step, 1);
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    d.shift.resize(static_cast<size_t>(n));
    d.crop.resize(static_cast<size_t>(n));
    d.lambda.assign(static_cast<size_t>(n), 1.0);
    d.partner.resize(static_cast<size_t>(n));
    std::iota(d.partner.begin(), d.partner.end(), 0);
    for (int64_t i = 0; i < n; ++i) {
        d.shift[i] = uniform(rng);
        d.crop[i] = uniform(rng);
    }
    d.masks = aug.freq_masks + aug.time_masks;
    d.mask.resize(static_cast<size_t>(n * d.masks * 2));
    if (augment && d.masks > 0) {
        auto mask_rng = stepGenerator(config_.seed, epoch, step, 3);
        for (auto& u : d.mask)
            u = uniform(mask_rng);
    }
    d.mixup = augment && aug.mixup_alpha > 0.0;
    if (d.mixup) {
        std::gamma_distribution<double> gamma(aug.mixup_alpha, 1.0);
        for (int64_t i = 0; i < n; ++i) {
            double x = gamma(rng), y = gamma(rng);
            d.lambda[i] = x + y > 0.0 ? x / (x + y) : 0.5;
        }
        std::shuffle(d.partner.begin(), d.partner.end(), rng);
    }
    if (augment && aug.images()) {
        auto image_rng = stepGenerator(config_.seed, epoch, step, 4);
        d.image.resize(static_cast<size_t>(n * 8));
        for (auto& u : d.image)
            u = uniform(image_rng);
    }
    return d;
}

namespace {

/**
 * SpecAugment masks of sample i: bands along bin_axis, then spans along frame_axis (-1: none), each set
 * to the sample's mean so that a masked region adds no offset the network could key on.
 */
torch::Tensor masked(torch::Tensor t, const double* u, const AugmentConfig& aug, int64_t bin_axis,
                     int64_t frame_axis) {
    t = t.clone();
    const auto fill = t.mean().item<double>();
    if (bin_axis >= 0)
        maskSpans(t, bin_axis, aug.freq_masks, aug.freq_mask_width, u, fill);
    u += 2 * aug.freq_masks;
    if (frame_axis >= 0)
        maskSpans(t, frame_axis, aug.time_masks, aug.time_mask_width, u, fill);
    return t;
}

} // namespace

/** A value with a frame axis after sample i's crop, shift and masks. */
Value BatchMaker::framed(const Value& v, int64_t i, const Draws& draws) const {
    const auto& aug = config_.augment;
    const int64_t axis = v.axis("frame");
    torch::Tensor t = v.tensor;
    const int64_t frames = t.size(axis);
    if (aug.crop_frames > 0) {
        if (frames < aug.crop_frames) { // a short clip is looped to the window's length
            const int64_t times = (aug.crop_frames + frames - 1) / frames;
            std::vector<torch::Tensor> copies(static_cast<size_t>(times), t);
            t = torch::cat(copies, axis);
        }
        const int64_t room = t.size(axis) - aug.crop_frames;
        auto start = static_cast<int64_t>(draws.crop[i] * static_cast<double>(room + 1));
        t = t.narrow(axis, std::min(start, room), aug.crop_frames);
    }
    if (aug.time_shift > 0.0) {
        const auto reach =
            static_cast<int64_t>(std::floor(aug.time_shift * static_cast<double>(t.size(axis))));
        const auto shift = std::min(
            reach, static_cast<int64_t>(draws.shift[i] * static_cast<double>(2 * reach + 1)) - reach);
        if (shift != 0)
            t = torch::roll(t, {shift}, {axis});
    }
    if (draws.masks > 0)
        t = masked(t, draws.mask.data() + static_cast<size_t>(i * draws.masks * 2), aug, v.axis("bin"), axis);
    return v.withTensor(t.contiguous());
}

/** Sample i's front-end values (of dataset clip `clip`) after its augmentations. */
std::map<std::string, Ports> BatchMaker::sample(const Dataset& ds, FeatureCache& cache, size_t clip,
                                                int64_t i, const Draws& draws, bool augment) const {
    const auto& aug = config_.augment;
    auto features = cache.get(ds, clip);
    if (!augment || (aug.time_shift <= 0.0 && aug.crop_frames <= 0 && draws.masks == 0 && !aug.images()))
        return features;
    bool any_frames = false, any_bins = false;
    for (auto& [id, ports] : features)
        for (auto& [port, v] : ports) {
            if (v.kind == Kind::Image) {
                if (aug.images())
                    v = v.withTensor(
                        augmentImage(v.tensor, draws.image.data() + static_cast<size_t>(i * 8), aug));
                continue;
            }
            const int64_t bin_axis = v.axis("bin");
            any_bins = any_bins || bin_axis >= 0;
            if (v.axis("frame") >= 0) {
                any_frames = true;
                v = framed(v, i, draws);
            } else if (bin_axis >= 0 && aug.freq_masks > 0 && draws.masks > 0) {
                const double* u = draws.mask.data() + static_cast<size_t>(i * draws.masks * 2);
                v = v.withTensor(masked(v.tensor, u, aug, bin_axis, -1));
            }
        }
    if (!any_frames && (aug.time_shift > 0.0 || aug.crop_frames > 0 || aug.time_masks > 0))
        throw Error(preset_.locate("/train/augment"),
                    "time_shift, crop_frames and time_masks work along a \"frame\" axis; none of the "
                    "values the trainable nodes read has one");
    if (!any_bins && aug.freq_masks > 0)
        throw Error(preset_.locate("/train/augment/freq_masks"),
                    "freq_masks work along a \"bin\" axis; none of the values the trainable nodes read "
                    "has one");
    return features;
}

/** Mixup: blends `other` into `features` with weight 1 − lambda. */
void BatchMaker::mix(std::map<std::string, Ports>& features, const std::map<std::string, Ports>& other,
                     double lambda, const std::string& clip, const std::string& other_clip) const {
    for (auto& [id, ports] : features)
        for (auto& [port, v] : ports) {
            const auto& w = other.at(id).at(port);
            if (!v.tensor.is_floating_point())
                throw Error(preset_.locate("/train/augment/mixup_alpha"),
                            "mixup blends the values the trainable nodes read, but node '" + id + "' gives " +
                                std::string(c10::toString(v.tensor.scalar_type())) + " values");
            if (v.tensor.sizes() != w.tensor.sizes())
                throw Error(preset_.locate("/train/augment/mixup_alpha"),
                            "mixup needs clips of one length: node '" + id + "' gives " + clip + " and " +
                                other_clip + " different shapes; set /train/augment/crop_frames");
            v = v.withTensor(v.tensor * lambda + w.tensor * (1.0 - lambda));
        }
}

TrainingBatch BatchMaker::make(const Dataset& ds, FeatureCache& cache, const std::vector<size_t>& clips,
                               int epoch, int64_t step, bool augment, const Collective& processes) const {
    const auto n = static_cast<int64_t>(clips.size());
    const Draws draws = draw(n, epoch, step, augment);
    auto [lo, hi] = shardRange(clips.size(), processes.rank, processes.world_size);
    TrainingBatch batch;
    batch.global_size = n;
    batch.targets =
        torch::zeros({static_cast<int64_t>(hi - lo), static_cast<int64_t>(ds.classes.size())}, torch::kFloat);
    batch.labels = torch::zeros({static_cast<int64_t>(hi - lo)}, torch::kLong);
    std::map<std::string, std::map<std::string, std::vector<Value>>> parts;
    for (auto i = static_cast<int64_t>(lo); i < static_cast<int64_t>(hi); ++i) {
        const int64_t row = i - static_cast<int64_t>(lo);
        auto features = sample(ds, cache, clips[i], i, draws, augment);
        const int label = ds.clips[clips[i]].label;
        if (draws.mixup) {
            const int64_t j = draws.partner[i];
            const double l = draws.lambda[i];
            const int other_label = ds.clips[clips[j]].label;
            mix(features, sample(ds, cache, clips[j], j, draws, augment), l, ds.clips[clips[i]].path.string(),
                ds.clips[clips[j]].path.string());
            batch.targets[row][label] += l;
            batch.targets[row][other_label] += 1.0 - l;
            batch.labels[row] = l >= 0.5 ? label : other_label;
        } else {
            batch.targets[row][label] = 1.0;
            batch.labels[row] = label;
        }
        for (auto& [id, ports] : features)
            for (auto& [port, v] : ports)
                parts[id][port].push_back(std::move(v));
    }
    for (auto& [id, ports] : parts)
        for (auto& [port, values] : ports) {
            std::vector<torch::Tensor> tensors;
            for (const auto& v : values) {
                if (v.tensor.sizes() != values.front().tensor.sizes())
                    throw Error(
                        preset_.locate("/train/batch_size"),
                        "clips of one batch must give values of one shape at node '" + id +
                            "'; this dataset's clips differ in length: set /train/augment/crop_frames "
                            "to train on windows of equal length");
                tensors.push_back(v.tensor);
            }
            batch.given[id][port] = values.front().withTensor(torch::cat(tensors, 0));
        }
    return batch;
}

} // namespace avgraph::host::training
