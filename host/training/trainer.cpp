#include "host/training/trainer.h"
#include "host/message_text.h"

#include "graph/error.h"
#include "host/audio_input.h"
#include "host/progress_bar.h"
#include "host/training/distributed.h"
#include "nodes/models/model_weights.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <numeric>
#include <random>
#include <set>
#include <sstream>

#include <unistd.h>

namespace avgraph::host::training {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kCheckpointFormat = "avgraph-checkpoint-1";
constexpr size_t kFeatureBatch = 16;

double secondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/** A generator for one purpose of one step: the same numbers whoever asks, whenever. */
std::mt19937_64 generator(unsigned seed, int epoch, int64_t step, uint32_t purpose) {
    std::seed_seq seq{seed, static_cast<uint32_t>(epoch), static_cast<uint32_t>(step),
                      static_cast<uint32_t>(step >> 32), purpose};
    return std::mt19937_64(seq);
}

/** The port a classifier's logits come out of: "logits", else the only output. */
const Value& logitsOf(const Ports& ports, const Node& node) {
    auto it = ports.find("logits");
    if (it != ports.end())
        return it->second;
    if (ports.size() == 1)
        return ports.begin()->second;
    throw node.error("training reads logits from the output port \"logits\" or the node's only output");
}

/**
 * Per-sample loss on soft targets: cross-entropy, or KL divergence (the same gradient). Logits
 * [batch, position, class] (patches, frames) score every position against the clip's target and
 * average over the positions, as Pham et al. train on patches and Chen et al. on frames.
 */
torch::Tensor sampleLoss(const torch::Tensor& logits, const torch::Tensor& targets, const std::string& loss) {
    const bool positions = logits.dim() == 3;
    auto logp = torch::log_softmax(logits, -1);
    auto t = positions ? targets.unsqueeze(1) : targets;
    auto per = -(t * logp).sum(-1);
    if (loss == "kl")
        per = per + torch::xlogy(t, t).sum(-1);
    return positions ? per.mean(1) : per;
}

/** The predicted class of each sample: over positions, the class of the mean probability. */
torch::Tensor predictedClass(const torch::Tensor& logits) {
    return logits.dim() == 3 ? torch::softmax(logits, -1).mean(1).argmax(1) : logits.argmax(1);
}

/** Whether a node turns images into something else (a visual encoder): with image augmentation it runs
 *  every step, after the augmentation, instead of once into the feature cache. */
bool encodesImages(const NodeSpec& spec) {
    bool reads = false;
    for (const auto& in : spec.inputs)
        reads = reads || in.accepts(Kind::Image);
    for (const auto& out : spec.outputs)
        if (out.accepts(Kind::Image))
            return false;
    return reads;
}

/**
 * torchvision's RandomResizedCrop, RandomHorizontalFlip and ColorJitter (brightness, contrast,
 * saturation, in that order) on one image [1, 3, H, W] in [0, 255], from eight uniform draws.
 */
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

std::string fixed(double x, int digits) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(digits) << x;
    return s.str();
}

/** A JSON value for log.jsonl: the number, or null when not measured. */
nlohmann::json optionalNumber(const std::optional<double>& x) {
    return x && std::isfinite(*x) ? nlohmann::json(*x) : nlohmann::json(nullptr);
}

/** Sets requires_grad on every parameter of a module. */
void setRequiresGrad(torch::nn::Module& module, bool on) {
    for (auto& p : module.parameters())
        p.set_requires_grad(on);
}

} // namespace

void atomicSave(torch::serialize::OutputArchive& archive, const fs::path& file) {
    fs::path partial = file; // per process: data-parallel ranks may write the same feature files
    partial += ".partial-" + std::to_string(::getpid());
    archive.save_to(partial.string());
    fs::rename(partial, file);
}

void truncateLog(const fs::path& log, int last_epoch) {
    if (!fs::exists(log))
        return;
    std::ifstream in(log);
    std::string line, kept;
    while (std::getline(in, line)) {
        if (line.find_first_not_of(" \t\r") == std::string::npos)
            continue;
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (!j.is_discarded() && j.contains("epoch") && j["epoch"].is_number_integer() &&
            j["epoch"].get<int>() <= last_epoch)
            kept += line + "\n";
    }
    in.close();
    std::ofstream out(log, std::ios::trunc);
    out << kept;
}

std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const std::vector<torch::Tensor>& params,
                                                       const OptimizerConfig& o) {
    if (o.type == "adam")
        return std::make_unique<torch::optim::Adam>(
            params, torch::optim::AdamOptions(o.lr).betas({o.beta1, o.beta2}).weight_decay(o.weight_decay));
    if (o.type == "adamw")
        return std::make_unique<torch::optim::AdamW>(
            params, torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).weight_decay(o.weight_decay));
    return std::make_unique<torch::optim::SGD>(params, torch::optim::SGDOptions(o.lr)
                                                           .momentum(o.momentum)
                                                           .nesterov(o.nesterov)
                                                           .weight_decay(o.weight_decay));
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

// ---------------------------------------------------------------------------------------------
// FeatureCache

FeatureCache::FeatureCache(Executor& executor, const std::vector<PresetInput>& inputs,
                           std::map<std::string, std::vector<std::string>> boundary, std::string mode,
                           fs::path folder)
    : executor_(executor), inputs_(inputs), boundary_(std::move(boundary)), mode_(std::move(mode)),
      folder_(std::move(folder)) {
    if (mode_ == "disk") {
        // The folder is keyed by what the front end is, so a changed preset never reads stale features.
        nlohmann::json key;
        const auto& graph = executor_.graph();
        for (size_t v = 0; v < graph.size(); ++v)
            if (executor_.plan().stepOf(v) >= 0 && !graph.vertex(v).is_input) {
                const auto& doc = graph.preset().document();
                const auto& id = graph.vertex(v).id;
                key["nodes"][id] = doc["nodes"].contains(id) ? doc["nodes"][id] : nlohmann::json();
            }
        for (const auto& input : inputs_)
            key["inputs"].push_back({{"name", input.name},
                                     {"kind", std::string(kindName(input.kind))},
                                     {"rate", input.sample_rate ? *input.sample_rate : 0.0}});
        key["boundary"] = boundary_;
        std::ostringstream hex;
        hex << std::hex << std::setw(16) << std::setfill('0') << std::hash<std::string>{}(key.dump());
        folder_ /= hex.str();
        fs::create_directories(folder_);
        std::ofstream(folder_ / "front-end.json") << key.dump(2) << "\n";
    }
}

fs::path FeatureCache::fileFor(const Dataset& ds, size_t clip) const {
    return folder_ / (std::to_string(clip) + "-" + ds.clips[clip].path.stem().string() + ".pt");
}

namespace {
std::string fileKey(const fs::path& file) {
    std::error_code ec;
    auto size = fs::file_size(file, ec);
    auto time = fs::last_write_time(file, ec).time_since_epoch().count();
    return fs::absolute(file).string() + "|" + std::to_string(size) + "|" + std::to_string(time);
}

/** What a clip's cached features were computed from: its files, and the stretch of an audio-visual segment.
 */
std::string sourceKey(const Clip& clip) {
    std::string key = fileKey(clip.path);
    if (!clip.video.empty() || clip.duration > 0.0)
        key += "|" + fileKey(clip.video) + "|" + std::to_string(clip.start) + "|" +
               std::to_string(clip.duration);
    return key;
}

} // namespace

bool FeatureCache::readDisk(const Dataset& ds, size_t clip, std::map<std::string, Ports>& out) {
    fs::path file = fileFor(ds, clip);
    if (!fs::exists(file))
        return false;
    try {
        torch::serialize::InputArchive archive;
        archive.load_from(file.string());
        c10::IValue source;
        archive.read("source", source);
        if (source.toStringRef() != sourceKey(ds.clips[clip]))
            return false;
        for (const auto& [id, ports] : boundary_)
            for (const auto& port : ports) {
                torch::Tensor t;
                archive.read(id + "." + port, t);
                c10::IValue meta;
                archive.read(id + "." + port + ".meta", meta);
                auto m = nlohmann::json::parse(meta.toStringRef());
                Value v;
                v.tensor = t;
                v.kind = *kindFromName(m["kind"].get<std::string>());
                v.sample_rate = m["sample_rate"];
                v.hop = m["hop"];
                v.axes = m["axes"].get<std::vector<std::string>>();
                v.class_names = m["class_names"].get<std::vector<std::string>>();
                out[id][port] = std::move(v);
            }
        return true;
    } catch (const std::exception&) {
        return false; // unreadable: computed again and rewritten
    }
}

void FeatureCache::writeDisk(const Dataset& ds, size_t clip, const std::map<std::string, Ports>& features) {
    torch::serialize::OutputArchive archive;
    archive.write("source", c10::IValue(sourceKey(ds.clips[clip])));
    for (const auto& [id, ports] : features)
        for (const auto& [port, v] : ports) {
            archive.write(id + "." + port, v.tensor.cpu());
            nlohmann::json m = {{"kind", std::string(kindName(v.kind))},
                                {"sample_rate", v.sample_rate},
                                {"hop", v.hop},
                                {"axes", v.axes},
                                {"class_names", v.class_names}};
            archive.write(id + "." + port + ".meta", c10::IValue(m.dump()));
        }
    atomicSave(archive, fileFor(ds, clip));
}

void FeatureCache::compute(const std::vector<size_t>& clips,
                           const std::vector<std::map<std::string, Value>>& inputs, const Dataset& ds,
                           std::vector<std::map<std::string, Ports>>* each) {
    std::vector<std::string> ids;
    for (const auto& [id, ports] : boundary_)
        ids.push_back(id);
    std::map<std::string, Ports> out;
    try {
        out = executor_.runPart(stackClipInputs(inputs), {}, ids);
    } catch (const Error& e) {
        std::string names;
        for (size_t i : clips)
            names += (names.empty() ? "" : ", ") + ds.clips[i].path.string();
        throw Error(e.where(), e.message() + " (clips " + names + ")");
    }
    each->assign(clips.size(), {});
    for (const auto& [id, ports] : boundary_)
        for (const auto& port : ports) {
            auto it = out.at(id).find(port);
            if (it == out.at(id).end())
                throw executor_.graph()
                    .vertex(executor_.graph().find(id))
                    .node->error("produced no value on output '" + port + "'");
            for (size_t b = 0; b < clips.size(); ++b)
                (*each)[b][id][port] = it->second.withTensor(
                    it->second.tensor.narrow(0, static_cast<int64_t>(b), 1).contiguous().clone());
        }
}

void FeatureCache::prepare(const Dataset& ds, const std::vector<size_t>& clips, bool progress) {
    if (mode_ == "none")
        return;
    std::vector<size_t> todo;
    for (size_t i : clips)
        if (!memory_.count(i))
            todo.push_back(i);
    if (todo.empty())
        return;
    ProgressBar bar(todo.size(), progress && stderrIsTerminal());
    std::vector<size_t> pending;
    std::vector<std::map<std::string, Value>> pending_inputs;
    size_t done = 0;
    auto flush = [&] {
        if (pending.empty())
            return;
        std::vector<std::map<std::string, Ports>> each;
        compute(pending, pending_inputs, ds, &each);
        for (size_t b = 0; b < pending.size(); ++b) {
            if (mode_ == "disk")
                writeDisk(ds, pending[b], each[b]);
            memory_[pending[b]] = std::move(each[b]);
        }
        done += pending.size();
        bar.update(done, "features " + ds.clips[pending.back()].path.filename().string());
        pending.clear();
        pending_inputs.clear();
    };
    for (size_t i : todo) {
        if (mode_ == "disk") {
            std::map<std::string, Ports> cached;
            if (readDisk(ds, i, cached)) {
                memory_[i] = std::move(cached);
                bar.update(++done, "features (cached)");
                continue;
            }
        }
        auto values = loadClipInputs(ds.clips[i], inputs_);
        if (!pending.empty() && (!sameShapes(pending_inputs[0], values) || pending.size() >= kFeatureBatch))
            flush(); // a batch holds clips of one length (and frames of one size)
        pending.push_back(i);
        pending_inputs.push_back(std::move(values));
    }
    flush();
    bar.finish();
}

std::map<std::string, Ports> FeatureCache::get(const Dataset& ds, size_t clip) {
    auto it = memory_.find(clip);
    if (it != memory_.end())
        return it->second;
    std::vector<std::map<std::string, Ports>> each;
    compute({clip}, {loadClipInputs(ds.clips[clip], inputs_)}, ds, &each);
    if (mode_ != "none")
        memory_[clip] = each[0];
    return each[0];
}

// ---------------------------------------------------------------------------------------------
// Trainer

struct Trainer::Batch {
    std::map<std::string, Ports> given;
    torch::Tensor targets; ///< [local, classes], dataset class order
    torch::Tensor labels;  ///< [local]: the label with the larger mixup share
    int64_t global_size = 0;
};

Trainer::Trainer(Graph& graph, Executor& executor, TrainConfig config, Collective collective)
    : graph_(graph), executor_(executor), config_(std::move(config)), collective_(std::move(collective)) {
    const Preset& preset = graph_.preset();
    std::vector<std::string> all;
    for (size_t v : graph_.topologicalOrder())
        if (!graph_.vertex(v).is_input && graph_.vertex(v).spec->trainable)
            all.push_back(graph_.vertex(v).id);
    if (all.empty())
        throw Error(preset.locate("/nodes"),
                    "`avgraph train` needs a trainable node (e.g. models.cnn9); this "
                    "preset has none");
    auto checkNode = [&](const std::string& id, const std::string& pointer) {
        if (std::find(all.begin(), all.end(), id) == all.end())
            throw Error(preset.locate(pointer), "\"" + id +
                                                    "\" is not a trainable node of this preset; its "
                                                    "trainable nodes are " +
                                                    joinNames(all));
    };
    trainable_ = config_.trainable.empty() ? all : config_.trainable;
    for (size_t i = 0; i < config_.trainable.size(); ++i)
        checkNode(config_.trainable[i], "/train/trainable/" + std::to_string(i));
    // Order the trainable nodes as the graph runs them.
    std::vector<std::string> ordered;
    for (const auto& id : all)
        if (std::find(trainable_.begin(), trainable_.end(), id) != trainable_.end())
            ordered.push_back(id);
    trainable_ = ordered;
    logits_ = config_.logits.empty() ? trainable_.back() : config_.logits;
    try {
        if (graph_.vertex(graph_.find(logits_)).is_input)
            throw std::out_of_range(logits_);
    } catch (const std::out_of_range&) {
        throw Error(preset.locate("/train/logits"), "\"" + logits_ + "\" is not a node of this preset");
    }

    // What the logits need.
    const size_t n = graph_.size();
    std::vector<char> needed(n, 0);
    std::vector<size_t> stack{graph_.find(logits_)};
    while (!stack.empty()) {
        size_t v = stack.back();
        stack.pop_back();
        if (needed[v])
            continue;
        needed[v] = 1;
        for (const auto& c : graph_.incoming(v))
            stack.push_back(c.from);
    }
    for (size_t i = 0; i < trainable_.size(); ++i)
        if (!needed[graph_.find(trainable_[i])])
            throw Error(preset.locate(config_.trainable.empty() ? "/train" : "/train/trainable"),
                        "trainable node \"" + trainable_[i] + "\" does not feed the logits node \"" +
                            logits_ + "\" (set /train/logits or /train/trainable)");
    // The trainable part: the trainable nodes and everything between them and the logits.
    std::vector<char> in_trained(n, 0);
    for (size_t v : graph_.topologicalOrder()) {
        if (!needed[v])
            continue;
        bool t = std::find(trainable_.begin(), trainable_.end(), graph_.vertex(v).id) != trainable_.end();
        t = t ||
            (config_.augment.images() && !graph_.vertex(v).is_input && encodesImages(*graph_.vertex(v).spec));
        for (const auto& c : graph_.incoming(v))
            t = t || in_trained[c.from];
        in_trained[v] = t;
    }
    if (config_.augment.images()) {
        bool any = false;
        for (size_t v = 0; v < n; ++v)
            any =
                any || (in_trained[v] && !graph_.vertex(v).is_input && encodesImages(*graph_.vertex(v).spec));
        if (!any)
            throw Error(preset.locate(config_.pointer + "/augment"),
                        "image_crop, image_flip and color_jitter work on the images a node such as "
                        "models.visual_encoder reads; the trained part of this preset reads none");
    }
    for (size_t v = 0; v < n; ++v) {
        if (!in_trained[v])
            continue;
        for (const auto& c : graph_.incoming(v)) {
            if (in_trained[c.from])
                continue;
            auto& ports = boundary_[graph_.vertex(c.from).id];
            if (std::find(ports.begin(), ports.end(), c.from_port) == ports.end())
                ports.push_back(c.from_port);
        }
        const auto& id = graph_.vertex(v).id;
        if (!graph_.vertex(v).is_input && graph_.node(v).module() &&
            std::find(trainable_.begin(), trainable_.end(), id) == trainable_.end())
            frozen_modules_.push_back(id);
    }
    for (const auto& id : trainable_)
        setRequiresGrad(*graph_.node(graph_.find(id)).module(), true);
    for (const auto& id : frozen_modules_)
        setRequiresGrad(*graph_.node(graph_.find(id)).module(), false);
}

void Trainer::setTraining(bool training) {
    for (const auto& id : trainable_)
        graph_.node(graph_.find(id)).module()->train(training);
    for (const auto& id : frozen_modules_) // frozen networks keep their batch-norm statistics
        graph_.node(graph_.find(id)).module()->eval();
}

Trainer::Batch Trainer::makeBatch(const Dataset& ds, FeatureCache& cache, const std::vector<size_t>& clips,
                                  int epoch, int64_t step, bool augment) {
    const auto& aug = config_.augment;
    const auto n = static_cast<int64_t>(clips.size());
    // Draws for the whole global batch, in its order, so every process agrees on every sample.
    auto rng = generator(config_.seed, epoch, step, 1);
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    std::vector<double> u_shift(n), u_crop(n), lambda(n, 1.0);
    std::vector<int64_t> partner(n);
    std::iota(partner.begin(), partner.end(), 0);
    for (int64_t i = 0; i < n; ++i) {
        u_shift[i] = uniform(rng);
        u_crop[i] = uniform(rng);
    }
    // Mask draws come from their own stream so that presets without masks keep their numbers.
    const int64_t n_masks = aug.freq_masks + aug.time_masks;
    std::vector<double> u_mask(static_cast<size_t>(n * n_masks * 2));
    if (augment && n_masks > 0) {
        auto mask_rng = generator(config_.seed, epoch, step, 3);
        for (auto& u : u_mask)
            u = uniform(mask_rng);
    }
    const bool mixup = augment && aug.mixup_alpha > 0.0;
    if (mixup) {
        std::gamma_distribution<double> gamma(aug.mixup_alpha, 1.0);
        for (int64_t i = 0; i < n; ++i) {
            double x = gamma(rng), y = gamma(rng);
            lambda[i] = x + y > 0.0 ? x / (x + y) : 0.5;
        }
        std::shuffle(partner.begin(), partner.end(), rng);
    }

    // SpecAugment masks of sample i: bands along bin_axis, then spans along frame_axis (-1: none),
    // each set to the sample's mean so a masked region adds no offset the network could key on.
    auto masked = [&](torch::Tensor t, int64_t i, int64_t bin_axis, int64_t frame_axis) {
        if (n_masks == 0)
            return t;
        t = t.clone();
        const auto fill = t.mean().item<double>();
        const double* u = u_mask.data() + static_cast<size_t>(i * n_masks * 2);
        if (bin_axis >= 0)
            maskSpans(t, bin_axis, aug.freq_masks, aug.freq_mask_width, u, fill);
        u += 2 * aug.freq_masks;
        if (frame_axis >= 0)
            maskSpans(t, frame_axis, aug.time_masks, aug.time_mask_width, u, fill);
        return t;
    };

    // Image draws from a stream of their own too: eight per sample (crop area, aspect, x, y, flip,
    // brightness, contrast, saturation).
    std::vector<double> u_image;
    if (augment && aug.images()) {
        auto image_rng = generator(config_.seed, epoch, step, 4);
        u_image.resize(static_cast<size_t>(n * 8));
        for (auto& u : u_image)
            u = uniform(image_rng);
    }

    // One sample's front-end values after its crop, shift and masks.
    auto sample = [&](int64_t i) {
        auto features = cache.get(ds, clips[static_cast<size_t>(i)]);
        if (!augment || (aug.time_shift <= 0.0 && aug.crop_frames <= 0 && n_masks == 0 && !aug.images()))
            return features;
        bool any_frames = false, any_bins = false;
        for (auto& [id, ports] : features)
            for (auto& [port, v] : ports) {
                if (v.kind == Kind::Image) {
                    if (aug.images())
                        v = v.withTensor(
                            augmentImage(v.tensor, u_image.data() + static_cast<size_t>(i * 8), aug));
                    continue;
                }
                const int64_t axis = v.axis("frame");
                const int64_t bin_axis = v.axis("bin");
                any_bins = any_bins || bin_axis >= 0;
                if (axis < 0) {
                    if (bin_axis >= 0 && aug.freq_masks > 0)
                        v = v.withTensor(masked(v.tensor, i, bin_axis, -1));
                    continue;
                }
                any_frames = true;
                torch::Tensor t = v.tensor;
                const int64_t frames = t.size(axis);
                if (aug.crop_frames > 0) {
                    if (frames < aug.crop_frames) { // a short clip is looped to the window's length
                        const int64_t times = (aug.crop_frames + frames - 1) / frames;
                        std::vector<torch::Tensor> copies(static_cast<size_t>(times), t);
                        t = torch::cat(copies, axis);
                    }
                    const int64_t room = t.size(axis) - aug.crop_frames;
                    auto start = static_cast<int64_t>(u_crop[i] * static_cast<double>(room + 1));
                    t = t.narrow(axis, std::min(start, room), aug.crop_frames);
                }
                if (aug.time_shift > 0.0) {
                    const auto reach =
                        static_cast<int64_t>(std::floor(aug.time_shift * static_cast<double>(t.size(axis))));
                    const auto shift = std::min(
                        reach, static_cast<int64_t>(u_shift[i] * static_cast<double>(2 * reach + 1)) - reach);
                    if (shift != 0)
                        t = torch::roll(t, {shift}, {axis});
                }
                if (n_masks > 0)
                    t = masked(t, i, bin_axis, axis);
                v = v.withTensor(t.contiguous());
            }
        if (!any_frames && (aug.time_shift > 0.0 || aug.crop_frames > 0 || aug.time_masks > 0))
            throw Error(graph_.preset().locate("/train/augment"),
                        "time_shift, crop_frames and time_masks work along a \"frame\" axis; none of the "
                        "values the trainable nodes read has one");
        if (!any_bins && aug.freq_masks > 0)
            throw Error(graph_.preset().locate("/train/augment/freq_masks"),
                        "freq_masks work along a \"bin\" axis; none of the values the trainable nodes read "
                        "has one");
        return features;
    };

    auto [lo, hi] = shardRange(clips.size(), collective_.rank, collective_.world_size);
    const auto n_classes = static_cast<int64_t>(ds.classes.size());
    Batch batch;
    batch.global_size = n;
    batch.targets = torch::zeros({static_cast<int64_t>(hi - lo), n_classes}, torch::kFloat);
    batch.labels = torch::zeros({static_cast<int64_t>(hi - lo)}, torch::kLong);
    std::map<std::string, std::map<std::string, std::vector<torch::Tensor>>> parts;
    std::map<std::string, Ports> first;
    for (auto i = static_cast<int64_t>(lo); i < static_cast<int64_t>(hi); ++i) {
        const int64_t row = i - static_cast<int64_t>(lo);
        auto features = sample(i);
        const int label = ds.clips[clips[static_cast<size_t>(i)]].label;
        if (mixup) {
            const int64_t j = partner[i];
            const double l = lambda[i];
            auto other = sample(j);
            const int other_label = ds.clips[clips[static_cast<size_t>(j)]].label;
            for (auto& [id, ports] : features)
                for (auto& [port, v] : ports) {
                    const auto& w = other.at(id).at(port);
                    if (!v.tensor.is_floating_point())
                        throw Error(graph_.preset().locate("/train/augment/mixup_alpha"),
                                    "mixup blends the values the trainable nodes read, but node '" + id +
                                        "' gives " + std::string(c10::toString(v.tensor.scalar_type())) +
                                        " values");
                    if (v.tensor.sizes() != w.tensor.sizes())
                        throw Error(graph_.preset().locate("/train/augment/mixup_alpha"),
                                    "mixup needs clips of one length: node '" + id + "' gives " +
                                        ds.clips[clips[static_cast<size_t>(i)]].path.string() + " and " +
                                        ds.clips[clips[static_cast<size_t>(j)]].path.string() +
                                        " different shapes; set /train/augment/crop_frames");
                    v = v.withTensor(v.tensor * l + w.tensor * (1.0 - l));
                }
            batch.targets[row][label] += l;
            batch.targets[row][other_label] += 1.0 - l;
            batch.labels[row] = l >= 0.5 ? label : other_label;
        } else {
            batch.targets[row][label] = 1.0;
            batch.labels[row] = label;
        }
        for (auto& [id, ports] : features)
            for (auto& [port, v] : ports) {
                parts[id][port].push_back(v.tensor);
                if (!first.count(id) || !first[id].count(port))
                    first[id][port] = v;
            }
    }
    for (auto& [id, ports] : parts)
        for (auto& [port, tensors] : ports) {
            for (const auto& t : tensors)
                if (t.sizes() != tensors.front().sizes())
                    throw Error(
                        graph_.preset().locate("/train/batch_size"),
                        "clips of one batch must give values of one shape at node '" + id +
                            "'; this dataset's clips differ in length: set /train/augment/crop_frames "
                            "to train on windows of equal length");
            batch.given[id][port] = first[id][port].withTensor(torch::cat(tensors, 0));
        }
    return batch;
}

torch::Tensor Trainer::forward(const Batch& batch, bool training) {
    RunOptions options;
    options.concurrent = false;
    options.training = training;
    auto out = executor_.runPart({}, batch.given, {logits_}, options);
    const Value& v = logitsOf(out.at(logits_), graph_.node(graph_.find(logits_)));
    if (v.tensor.dim() < 2 || v.tensor.size(0) != batch.targets.size(0))
        throw graph_.node(graph_.find(logits_))
            .error("training needs logits [batch, classes] or [batch, ..., classes]; got a value of " +
                   std::to_string(v.tensor.dim()) + " axes for a batch of " +
                   std::to_string(batch.targets.size(0)));
    if (v.tensor.size(-1) != batch.targets.size(1))
        throw graph_.node(graph_.find(logits_))
            .error("gives " + std::to_string(v.tensor.size(-1)) + " classes, the dataset has " +
                   std::to_string(batch.targets.size(1)) + " (set its n_classes)");
    // Patches or frames between batch and class: one axis of positions, each scored on its own.
    torch::Tensor logits =
        v.tensor.dim() == 2 ? v.tensor : v.tensor.reshape({v.tensor.size(0), -1, v.tensor.size(-1)});
    if (!v.class_names.empty() && !columns_.defined()) {
        std::vector<int64_t> columns;
        for (const auto& c : classes_) {
            auto it = std::find(v.class_names.begin(), v.class_names.end(), c);
            if (it == v.class_names.end())
                throw graph_.node(graph_.find(logits_))
                    .error("the dataset's class \"" + c + "\" is not one of the node's class_names (" +
                           joinNames(v.class_names) + ")");
            columns.push_back(it - v.class_names.begin());
        }
        columns_ = torch::tensor(columns, torch::kLong);
    }
    return columns_.defined() ? logits.index_select(-1, columns_.to(logits.device())) : logits;
}

std::pair<double, double> Trainer::validate(const Dataset& ds, const std::vector<size_t>& clips,
                                            FeatureCache& cache) {
    setTraining(false);
    torch::NoGradGuard no_grad;
    double loss = 0.0, correct = 0.0;
    Collective one; // every process validates every clip: same weights, same answer, no messages
    std::swap(one, collective_);
    // Batches of clips whose features have one shape (clips of other lengths go in other batches).
    std::map<std::string, std::vector<size_t>> by_shape;
    for (size_t i : clips) {
        std::string key;
        for (const auto& [id, ports] : cache.get(ds, i))
            for (const auto& [port, v] : ports)
                for (auto d : v.tensor.sizes())
                    key += std::to_string(d) + ",";
        by_shape[key].push_back(i);
    }
    for (const auto& [key, group] : by_shape)
        for (size_t start = 0; start < group.size(); start += static_cast<size_t>(config_.batch_size)) {
            std::vector<size_t> part(group.begin() + static_cast<std::ptrdiff_t>(start),
                                     group.begin() + static_cast<std::ptrdiff_t>(
                                                         std::min(group.size(), start + config_.batch_size)));
            Batch batch = makeBatch(ds, cache, part, 0, 0, false);
            auto logits = forward(batch, false).to(torch::kCPU, torch::kFloat);
            loss += sampleLoss(logits, batch.targets, "cross_entropy").sum().item<double>();
            correct += (predictedClass(logits) == batch.labels).sum().item<double>();
        }
    std::swap(one, collective_);
    const auto count = static_cast<double>(clips.size());
    return {loss / count, correct / count};
}

TrainResult Trainer::fit(const Dataset& ds, const Split& split, FeatureCache& cache,
                         const TrainOptions& options) {
    std::ostream& out = options.out ? *options.out : std::cerr;
    const bool leader = collective_.rank == 0;
    const bool talk = leader && options.progress;
    const fs::path& run = options.run_dir;
    const fs::path log_file = run / "log.jsonl", checkpoint_file = run / "checkpoint.pt";
    const bool several = trainable_.size() > 1;
    auto weightsFile = [&](const std::string& stem, const std::string& id) {
        return run / (several ? stem + "-" + id + ".pt" : stem + ".pt");
    };

    classes_ = ds.classes;
    columns_ = torch::Tensor();
    if (split.train.empty())
        throw Error({ds.root.string(), "", "", 0, 0}, "the training split is empty");
    const auto min_batch = static_cast<size_t>(std::max(2, 2 * collective_.world_size));
    if (split.train.size() < min_batch)
        throw Error({ds.root.string(), "", "", 0, 0}, "training needs at least " + std::to_string(min_batch) +
                                                          " clips; the split has " +
                                                          std::to_string(split.train.size()));

    // What a checkpoint must agree on to be resumed.
    nlohmann::json settings = {{"train", config_.toJson()},
                               {"description", options.description},
                               {"world_size", collective_.world_size},
                               {"train_clips", split.train.size()},
                               {"validation_clips", split.validation.size()}};
    {
        std::string files;
        for (size_t i : split.train)
            files += ds.clips[i].file + "\n";
        settings["train_files_hash"] = std::to_string(std::hash<std::string>{}(files));
    }

    fs::create_directories(run);
    if (!options.resume && (fs::exists(checkpoint_file) || fs::exists(log_file)))
        throw Error({run.string(), "", "", 0, 0},
                    "this folder already holds a training run (checkpoint.pt / log.jsonl); continue it with "
                    "--resume or train into another folder");

    std::vector<torch::Tensor> params;
    for (const auto& id : trainable_)
        for (auto& p : graph_.node(graph_.find(id)).module()->parameters())
            params.push_back(p);
    auto optimizer = makeOptimizer(params, config_.optimizer);

    // Every process starts from rank 0's weights.
    if (collective_.active()) {
        std::vector<torch::Tensor> state;
        torch::NoGradGuard no_grad;
        for (const auto& id : trainable_) {
            auto* m = graph_.node(graph_.find(id)).module();
            for (auto& p : m->parameters())
                state.push_back(p.data());
            for (auto& b : m->buffers())
                state.push_back(b);
        }
        collective_.broadcast(state);
    }

    int start_epoch = 1, best_epoch = 0, bad_epochs = 0;
    double best_value = std::numeric_limits<double>::quiet_NaN();
    bool stopped = false;
    const bool validating = !split.validation.empty();
    const bool lower_is_better = config_.validation.monitor == "val_loss";

    if (options.resume && fs::exists(checkpoint_file)) {
        torch::serialize::InputArchive archive;
        archive.load_from(checkpoint_file.string());
        c10::IValue format, saved_settings, epoch, best_e, best_v, bad, stop;
        archive.read("format", format);
        archive.read("settings", saved_settings);
        if (format.toStringRef() != kCheckpointFormat)
            throw Error({checkpoint_file.string(), "", "", 0, 0}, "not an avgraph training checkpoint");
        auto saved = nlohmann::json::parse(saved_settings.toStringRef());
        if (saved != settings)
            throw Error(
                {checkpoint_file.string(), "", "", 0, 0},
                "--resume continues a run with the same preset, data and settings; this checkpoint was "
                "made with other ones (" +
                    saved.dump() + " vs now " + settings.dump() + ")");
        archive.read("epoch", epoch);
        archive.read("best_epoch", best_e);
        archive.read("best_value", best_v);
        archive.read("bad_epochs", bad);
        archive.read("stopped", stop);
        for (const auto& id : trainable_) {
            torch::serialize::InputArchive sub;
            archive.read("module." + id, sub);
            graph_.node(graph_.find(id)).module()->load(sub);
        }
        torch::serialize::InputArchive opt;
        archive.read("optimizer", opt);
        optimizer->load(opt);
        start_epoch = static_cast<int>(epoch.toInt()) + 1;
        best_epoch = static_cast<int>(best_e.toInt());
        best_value = best_v.toDouble();
        bad_epochs = static_cast<int>(bad.toInt());
        stopped = stop.toBool();
        if (leader)
            truncateLog(log_file, start_epoch - 1);
        if (talk)
            out << "resuming " << run.string() << " after epoch " << start_epoch - 1 << "\n";
    } else if (leader && fs::exists(log_file)) {
        fs::remove(log_file); // --resume before the first checkpoint: start over
    }

    // Features of every clip this run reads, before the clock starts.
    std::vector<size_t> all_clips = split.train;
    all_clips.insert(all_clips.end(), split.validation.begin(), split.validation.end());
    cache.prepare(ds, all_clips, talk);

    TrainResult result;
    const size_t n = split.train.size();
    const auto B = static_cast<size_t>(config_.batch_size);
    // A last batch too small for batch norm (or for one sample per process) is left out of the epoch.
    size_t steps = n / B + (n % B >= min_batch ? 1 : 0);
    if (steps == 0)
        steps = 1;
    double train_seconds = 0.0;
    size_t samples_trained = 0;
    auto t_run = Clock::now();
    int epoch = start_epoch;
    for (; epoch <= config_.epochs && !stopped; ++epoch) {
        auto t_epoch = Clock::now();
        setTraining(true);
        torch::manual_seed(static_cast<uint64_t>(config_.seed) * 1000003ULL +
                           static_cast<uint64_t>(epoch) * 7919ULL +
                           static_cast<uint64_t>(collective_.rank)); // dropout masks
        std::vector<size_t> order = split.train;
        auto shuffle_rng = generator(config_.seed, epoch, -1, 2);
        std::shuffle(order.begin(), order.end(), shuffle_rng);

        double loss_sum = 0.0, correct = 0.0, seen = 0.0, step_seconds = 0.0;
        ProgressBar bar(steps, talk && stderrIsTerminal());
        double lr = 0.0;
        for (size_t step = 0; step < steps; ++step) {
            const size_t begin = step * B, end = std::min(n, begin + B);
            std::vector<size_t> clips(order.begin() + static_cast<std::ptrdiff_t>(begin),
                                      order.begin() + static_cast<std::ptrdiff_t>(end));
            Batch batch = makeBatch(ds, cache, clips, epoch, static_cast<int64_t>(step), true);
            auto t_step = Clock::now();
            lr = learningRate(config_, (epoch - 1) + static_cast<double>(step) / static_cast<double>(steps));
            for (auto& group : optimizer->param_groups())
                group.options().set_lr(lr);
            optimizer->zero_grad();
            auto logits = forward(batch, true);
            auto per =
                sampleLoss(logits, batch.targets.to(logits.device(), logits.scalar_type()), config_.loss);
            auto loss = per.sum() / static_cast<double>(batch.global_size);
            loss.backward();
            if (collective_.active()) {
                std::vector<torch::Tensor> grads;
                for (auto& p : params) {
                    if (!p.grad().defined())
                        p.mutable_grad() = torch::zeros_like(p);
                    grads.push_back(p.grad());
                }
                collective_.allreduce_sum(grads);
            }
            optimizer->step();
            step_seconds += secondsSince(t_step);
            loss_sum += per.detach().sum().item<double>();
            correct += (predictedClass(logits.detach()).cpu() == batch.labels).sum().item<double>();
            seen += static_cast<double>(batch.targets.size(0));
            if (!std::isfinite(loss_sum))
                throw Error({run.string(), "", "", 0, 0},
                            "the training loss became " + std::to_string(loss_sum) + " in epoch " +
                                std::to_string(epoch) + ", step " + std::to_string(step + 1) +
                                "; lower /train/optimizer/lr");
            bar.update(step + 1, "epoch " + std::to_string(epoch) + "/" + std::to_string(config_.epochs) +
                                     " loss " + fixed(loss_sum / seen, 3) + " acc " +
                                     fixed(100.0 * correct / seen, 1) + "%");
        }
        bar.finish();
        if (collective_.active()) {
            std::vector<torch::Tensor> sums{
                torch::tensor({loss_sum, correct, seen, step_seconds}, torch::kDouble)};
            collective_.allreduce_sum(sums);
            loss_sum = sums[0][0].item<double>();
            correct = sums[0][1].item<double>();
            seen = sums[0][2].item<double>();
            step_seconds = sums[0][3].item<double>() / collective_.world_size;
        }
        train_seconds += step_seconds;
        samples_trained += static_cast<size_t>(seen);

        std::optional<double> val_loss, val_accuracy;
        if (validating) {
            auto [l, a] = validate(ds, split.validation, cache);
            val_loss = l;
            val_accuracy = a;
            const double value = lower_is_better ? l : a;
            const bool better =
                best_epoch == 0 || (lower_is_better ? value < best_value : value > best_value);
            if (better) {
                best_value = value;
                best_epoch = epoch;
                bad_epochs = 0;
                if (leader)
                    for (const auto& id : trainable_)
                        nodes::saveWeights(*graph_.node(graph_.find(id)).module(), weightsFile("best", id));
            } else if (config_.validation.patience > 0 && ++bad_epochs >= config_.validation.patience) {
                stopped = true;
                result.early_stopped = true;
            }
        } else {
            best_epoch = epoch;
        }

        const double epoch_seconds = secondsSince(t_epoch);
        if (leader) {
            nlohmann::json line = {{"epoch", epoch},
                                   {"train_loss", loss_sum / seen},
                                   {"train_accuracy", correct / seen},
                                   {"val_loss", optionalNumber(val_loss)},
                                   {"val_accuracy", optionalNumber(val_accuracy)},
                                   {"lr", lr},
                                   {"seconds", epoch_seconds},
                                   {"samples_per_second", seen / std::max(step_seconds, 1e-9)}};
            std::ofstream(log_file, std::ios::app) << line.dump() << "\n";

            torch::serialize::OutputArchive archive;
            archive.write("format", c10::IValue(std::string(kCheckpointFormat)));
            archive.write("settings", c10::IValue(settings.dump()));
            archive.write("epoch", c10::IValue(static_cast<int64_t>(epoch)));
            archive.write("best_epoch", c10::IValue(static_cast<int64_t>(best_epoch)));
            archive.write("best_value", c10::IValue(best_value));
            archive.write("bad_epochs", c10::IValue(static_cast<int64_t>(bad_epochs)));
            archive.write("stopped", c10::IValue(stopped));
            for (const auto& id : trainable_) {
                torch::serialize::OutputArchive sub;
                graph_.node(graph_.find(id)).module()->save(sub);
                archive.write("module." + id, sub);
            }
            torch::serialize::OutputArchive opt;
            optimizer->save(opt);
            archive.write("optimizer", opt);
            atomicSave(archive, checkpoint_file);
        }
        if (talk) {
            out << "epoch " << epoch << "/" << config_.epochs << "  loss " << fixed(loss_sum / seen, 4)
                << "  acc " << fixed(100.0 * correct / seen, 1) << "%";
            if (validating)
                out << "  val loss " << fixed(*val_loss, 4) << "  val acc " << fixed(100.0 * *val_accuracy, 1)
                    << "%";
            out << "  lr " << std::setprecision(3) << lr << "  " << fixed(epoch_seconds, 1) << " s ("
                << fixed(seen / std::max(step_seconds, 1e-9), 1) << " samples/s)"
                << (stopped ? "  early stop" : "") << std::endl;
        }
    }
    result.epochs_run = epoch - 1;
    result.best_epoch = best_epoch;
    result.seconds = secondsSince(t_run);
    if (leader && fs::exists(log_file)) { // the whole run's time, resumed epochs included
        double logged = 0.0;
        std::ifstream in(log_file);
        std::string line;
        while (std::getline(in, line)) {
            auto j = nlohmann::json::parse(line, nullptr, false);
            if (!j.is_discarded() && j.contains("seconds") && j["seconds"].is_number())
                logged += j["seconds"].get<double>();
        }
        result.seconds = logged;
    }
    result.samples_per_second =
        train_seconds > 0.0 ? static_cast<double>(samples_trained) / train_seconds : 0.0;

    // The kept weights: the best validation epoch's, else the last epoch's.
    setTraining(false);
    for (const auto& id : trainable_) {
        auto* module = graph_.node(graph_.find(id)).module();
        const fs::path best = weightsFile("best", id), final = weightsFile("weights", id);
        if (leader && validating && best_epoch > 0 && fs::exists(best))
            nodes::loadWeights(*module, best);
        if (leader)
            nodes::saveWeights(*module, final);
        result.weights.push_back(final);
    }
    return result;
}

} // namespace avgraph::host::training
