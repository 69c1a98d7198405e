#include "host/training/train_config.h"

#include "graph/error.h"
#include "graph/precision.h"

#include <cctype>
#include <cmath>
#include <limits>
#include <set>

namespace avgraph::host::training {

namespace fs = std::filesystem;

namespace {

constexpr double kPi = 3.14159265358979323846;

/** One JSON object of the train section, read key by key with errors at the key's pointer. */
class Section {
public:
    Section(const Preset& preset, const nlohmann::json& object, std::string pointer,
            std::set<std::string> allowed)
        : preset_(preset), object_(object), pointer_(std::move(pointer)) {
        if (!object_.is_object())
            fail("", "must be a JSON object");
        for (const auto& [key, value] : object_.items())
            if (!allowed.count(key)) {
                std::string names;
                for (const auto& a : allowed)
                    names += (names.empty() ? "" : ", ") + a;
                fail(key, "is not a training setting; expected one of " + names);
            }
    }

    bool has(const std::string& key) const { return object_.contains(key) && !object_.at(key).is_null(); }
    const nlohmann::json& at(const std::string& key) const { return object_.at(key); }
    std::string pointer(const std::string& key) const { return pointer_ + "/" + pointerToken(key); }

    [[noreturn]] void fail(const std::string& key, const std::string& message) const {
        throw Error(preset_.locate(key.empty() ? pointer_ : pointer(key)),
                    "train setting " + (key.empty() ? pointer_ : pointer(key)) + " " + message);
    }

    void number(const std::string& key, double& out, double min, double max) const {
        if (!has(key))
            return;
        const auto& v = at(key);
        if (!v.is_number())
            fail(key, "must be a number, got " + v.dump());
        double x = v.get<double>();
        if (!std::isfinite(x) || x < min || x > max)
            fail(key, "must be in [" + text(min) + ", " + text(max) + "], got " + v.dump());
        out = x;
    }
    template <typename Int> void integer(const std::string& key, Int& out, int64_t min, int64_t max) const {
        if (!has(key))
            return;
        const auto& v = at(key);
        if (!v.is_number_integer())
            fail(key, "must be an integer, got " + v.dump());
        auto x = v.get<int64_t>();
        if (x < min || x > max)
            fail(key,
                 "must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " + v.dump());
        out = static_cast<Int>(x);
    }
    void choice(const std::string& key, std::string& out, const std::vector<std::string>& choices) const {
        if (!has(key))
            return;
        const auto& v = at(key);
        std::string names;
        for (const auto& c : choices)
            names += (names.empty() ? "" : ", ") + c;
        if (!v.is_string())
            fail(key, "must be one of " + names + ", got " + v.dump());
        for (const auto& c : choices)
            if (v.get<std::string>() == c) {
                out = c;
                return;
            }
        fail(key, "must be one of " + names + ", got " + v.dump());
    }
    void boolean(const std::string& key, bool& out) const {
        if (!has(key))
            return;
        if (!at(key).is_boolean())
            fail(key, "must be true or false, got " + at(key).dump());
        out = at(key).get<bool>();
    }
    void string(const std::string& key, std::string& out) const {
        if (!has(key))
            return;
        if (!at(key).is_string() || at(key).get<std::string>().empty())
            fail(key, "must be a node id (a non-empty string), got " + at(key).dump());
        out = at(key).get<std::string>();
    }
    void strings(const std::string& key, std::vector<std::string>& out) const {
        if (!has(key))
            return;
        const auto& v = at(key);
        if (!v.is_array() || v.empty())
            fail(key, "must be a non-empty list of node ids, got " + v.dump());
        out.clear();
        for (const auto& e : v) {
            if (!e.is_string())
                fail(key, "must be a list of node ids (strings), got " + v.dump());
            out.push_back(e.get<std::string>());
        }
    }
    Section sub(const std::string& key, std::set<std::string> allowed) const {
        static const nlohmann::json empty = nlohmann::json::object();
        return Section(preset_, has(key) ? at(key) : empty, pointer(key), std::move(allowed));
    }

private:
    static std::string text(double x) {
        if (std::isinf(x))
            return x > 0 ? "inf" : "-inf";
        nlohmann::json j = x;
        return j.dump();
    }
    const Preset& preset_;
    const nlohmann::json& object_;
    std::string pointer_;
};

constexpr double kInf = std::numeric_limits<double>::infinity();

} // namespace

namespace {

void readOptimizer(const Section& parent, OptimizerConfig& o, const std::string& key = "optimizer") {
    auto opt = parent.sub(key, {"type", "lr", "weight_decay", "momentum", "nesterov", "beta1", "beta2"});
    opt.choice("type", o.type, {"adam", "adamw", "sgd"});
    opt.number("lr", o.lr, 0.0, 10.0);
    opt.number("weight_decay", o.weight_decay, 0.0, 1.0);
    opt.number("momentum", o.momentum, 0.0, 1.0);
    opt.boolean("nesterov", o.nesterov);
    opt.number("beta1", o.beta1, 0.0, 0.999999);
    opt.number("beta2", o.beta2, 0.0, 0.999999);
    if (o.lr <= 0.0)
        opt.fail("lr", "must be greater than 0");
}

/** A classifier's settings: the whole train section, or the last stage of a staged recipe. */
TrainConfig parseClassifier(const Preset& preset, const nlohmann::json& section, const std::string& pointer,
                            bool staged) {
    TrainConfig c;
    std::set<std::string> keys{"epochs",    "batch_size", "loss",        "optimizer",
                               "schedule",  "augment",    "validation",  "cache",
                               "trainable", "logits",     "description", "precision"};
    if (staged)
        keys.insert({"kind", "name"});
    else
        keys.insert("seed");
    Section train(preset, section, pointer, keys);
    train.integer("seed", c.seed, 0, std::numeric_limits<unsigned>::max());
    train.integer("epochs", c.epochs, 1, 100000);
    train.integer("batch_size", c.batch_size, 1, 65536);
    train.choice("loss", c.loss, {"cross_entropy", "kl"});
    train.choice("cache", c.cache, {"memory", "disk", "none"});
    train.choice("precision", c.precision, {std::begin(kPrecisionWords), std::end(kPrecisionWords)});
    train.strings("trainable", c.trainable);
    train.string("logits", c.logits);
    readOptimizer(train, c.optimizer);

    auto sched = train.sub("schedule", {"type", "min_lr", "t0", "t_mult", "warmup_epochs"});
    sched.choice("type", c.schedule.type, {"constant", "cosine", "cosine_restarts"});
    sched.number("min_lr", c.schedule.min_lr, 0.0, c.optimizer.lr);
    sched.number("t0", c.schedule.t0, 0.0, kInf);
    sched.number("t_mult", c.schedule.t_mult, 1.0, 100.0);
    sched.number("warmup_epochs", c.schedule.warmup_epochs, 0.0, static_cast<double>(c.epochs));

    auto aug =
        train.sub("augment", {"mixup_alpha", "time_shift", "crop_frames", "freq_masks", "freq_mask_width",
                              "time_masks", "time_mask_width", "image_crop", "image_flip", "color_jitter"});
    aug.number("image_crop", c.augment.image_crop, 0.0, 1.0);
    aug.boolean("image_flip", c.augment.image_flip);
    aug.number("color_jitter", c.augment.color_jitter, 0.0, 1.0);
    aug.number("mixup_alpha", c.augment.mixup_alpha, 0.0, 100.0);
    aug.number("time_shift", c.augment.time_shift, 0.0, 1.0);
    aug.integer("crop_frames", c.augment.crop_frames, 0, 1 << 30);
    aug.integer("freq_masks", c.augment.freq_masks, 0, 64);
    aug.integer("freq_mask_width", c.augment.freq_mask_width, 0, 1 << 20);
    aug.integer("time_masks", c.augment.time_masks, 0, 64);
    aug.integer("time_mask_width", c.augment.time_mask_width, 0, 1 << 30);
    if (c.augment.freq_masks > 0 && c.augment.freq_mask_width == 0)
        aug.fail("freq_mask_width",
                 "must be greater than 0 when freq_masks is set (the widest band to mask)");
    if (c.augment.time_masks > 0 && c.augment.time_mask_width == 0)
        aug.fail("time_mask_width",
                 "must be greater than 0 when time_masks is set (the widest span to mask)");

    auto val = train.sub("validation", {"fraction", "patience", "monitor"});
    val.number("fraction", c.validation.fraction, 0.0, 0.9);
    val.integer("patience", c.validation.patience, 0, 100000);
    val.choice("monitor", c.validation.monitor, {"val_loss", "val_accuracy"});
    if (c.validation.patience > 0 && c.validation.fraction <= 0.0)
        val.fail("patience", "needs a validation split: set /train/validation/fraction (e.g. 0.1)");
    return c;
}

/** The stages array of a staged recipe (checked: a non-empty array ending in a classifier). */
const nlohmann::json* stagesOf(const Preset& preset, unsigned* seed) {
    const auto& doc = preset.document();
    if (!doc.contains("train") || !doc.at("train").is_object() || !doc.at("train").contains("stages"))
        return nullptr;
    const auto& train = doc.at("train");
    const std::set<std::string> staged_keys{"seed", "stages", "description"};
    // A staged recipe sets epochs, loss, optimizer, ... in each stage. Stages added to a preset that
    // extends a plain recipe inherit its keys (extends is a merge patch), which a null removes.
    for (const auto& [key, value] : train.items())
        if (!staged_keys.count(key))
            throw Error(preset.locate("/train/" + pointerToken(key)),
                        "train setting /train/" + pointerToken(key) +
                            " does not go with stages: a staged recipe takes seed and stages (each stage "
                            "has its own " +
                            key + "); in a preset that extends a plain recipe, set \"" + key + "\": null");
    Section top(preset, train, "/train", staged_keys);
    if (seed)
        top.integer("seed", *seed, 0, std::numeric_limits<unsigned>::max());
    const auto& stages = train.at("stages");
    if (!stages.is_array() || stages.empty())
        top.fail("stages", "must be a non-empty list of stages, the classifier last");
    for (size_t i = 0; i < stages.size(); ++i) {
        const std::string ptr = "/train/stages/" + std::to_string(i);
        const auto& st = stages[i];
        if (!st.is_object() || !st.contains("kind") || !st.at("kind").is_string())
            throw Error(preset.locate(ptr),
                        "train setting " + ptr +
                            " must be an object with a \"kind\": vqvae, transformation or "
                            "classifier");
        const auto kind = st.at("kind").get<std::string>();
        const bool last = i + 1 == stages.size();
        if (kind != "vqvae" && kind != "transformation" && kind != "classifier")
            throw Error(preset.locate(ptr + "/kind"), "train setting " + ptr +
                                                          "/kind must be one of vqvae, transformation, "
                                                          "classifier, got \"" +
                                                          kind + "\"");
        const bool after_classifier =
            i > 0 && stages[i - 1].is_object() && stages[i - 1].value("kind", "") == "classifier";
        if (last && kind != "classifier")
            throw Error(preset.locate(ptr + "/kind"), "train setting " + ptr +
                                                          "/kind: the last stage trains the classifier (kind "
                                                          "\"classifier\"), got \"" +
                                                          kind + "\"");
        if (after_classifier && kind != "classifier")
            throw Error(preset.locate(ptr + "/kind"),
                        "train setting " + ptr +
                            "/kind: after a classifier stage only classifier stages "
                            "follow (vqvae and transformation stages come first), got \"" +
                            kind + "\"");
    }
    return &stages;
}

/** A vqvae stage's "data": "av", "images" or both (default both). */
void readStageData(const Section& s, StageConfig& c) {
    c.data = {"av", "images"};
    if (!s.has("data"))
        return;
    const auto& d = s.at("data");
    std::vector<std::string> data;
    if (d.is_string())
        data.push_back(d.get<std::string>());
    else if (d.is_array())
        for (const auto& e : d)
            data.push_back(e.is_string() ? e.get<std::string>() : e.dump());
    if (data.empty())
        s.fail("data", "must be \"av\", \"images\" or both as a list, got " + d.dump());
    for (const auto& e : data)
        if (e != "av" && e != "images")
            s.fail("data",
                   "must be \"av\" (frames of --av-data), \"images\" (--images) or both, got " + d.dump());
    c.data = data;
}

/** A transformation stage's own keys: its generator, the vqvae stage it learns from, and the GAN's. */
void readTransformation(const Section& s, StageConfig& c, const std::vector<StageConfig>& before) {
    s.string("generator", c.generator);
    s.string("vqvae", c.vqvae);
    if (c.vqvae.empty()) {
        for (const auto& b : before)
            if (b.kind == "vqvae")
                c.vqvae = b.name;
    }
    bool found = false;
    for (const auto& b : before)
        found = found || (b.kind == "vqvae" && b.name == c.vqvae);
    if (!found)
        s.fail("vqvae", "the transformation stage needs an earlier vqvae stage to give its targets" +
                            (c.vqvae.empty() ? std::string() : "; none is named \"" + c.vqvae + "\""));
    s.number("audio_seconds", c.audio_seconds, 0.01, 600.0);
    s.integer("n_critic", c.n_critic, 1, 100);
    s.number("lambda_gp", c.lambda_gp, 0.0, 1e6);
    s.number("gamma", c.gamma, 0.0, 1e6);
    s.number("regression", c.regression, 0.0, 1e6);
    readOptimizer(s, c.critic_optimizer, "critic_optimizer");
}

/** The stage's name (default: its kind): a folder name, its own among the stages before it. */
void readStageName(const Section& s, StageConfig& c, const std::vector<StageConfig>& before) {
    if (s.has("name")) {
        s.string("name", c.name);
        for (char ch : c.name)
            if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_')
                s.fail("name",
                       "names the stage's folder: letters, digits, - and _ only, got \"" + c.name + "\"");
    }
    for (const auto& b : before)
        if (b.name == c.name)
            s.fail("name", "\"" + c.name + "\" names an earlier stage too; give each stage its own name");
}

StageConfig parseStage(const Preset& preset, const nlohmann::json& st, size_t index,
                       const std::vector<StageConfig>& before) {
    StageConfig c;
    c.pointer = "/train/stages/" + std::to_string(index);
    c.kind = st.at("kind").get<std::string>();
    c.name = c.kind;
    std::set<std::string> keys{"kind",       "name",      "description",         "epochs",
                               "batch_size", "optimizer", "validation_fraction", "fps",
                               "image_size"};
    if (c.kind == "vqvae")
        keys.insert({"preset", "data"});
    else
        keys.insert({"critic", "generator", "vqvae", "audio_seconds", "n_critic", "lambda_gp", "gamma",
                     "regression", "critic_optimizer"});
    Section s(preset, st, c.pointer, keys);
    readStageName(s, c, before);
    s.integer("epochs", c.epochs, 1, 100000);
    s.integer("batch_size", c.batch_size, 1, 65536);
    s.number("validation_fraction", c.validation_fraction, 0.0, 0.9);
    s.number("fps", c.fps, 1e-3, 1000.0);
    s.integer("image_size", c.image_size, 8, 4096);
    if (c.image_size % 8 != 0)
        s.fail("image_size", "must be a multiple of 8 (the VQ-VAE halves it three times)");
    c.optimizer.lr = 2e-4;
    if (c.kind == "transformation")
        c.optimizer.beta1 = 0.5; // Liu et al.'s GAN code: Adam(0.0002, 0.5)
    c.critic_optimizer = c.optimizer;
    readOptimizer(s, c.optimizer);
    const std::string preset_key = c.kind == "vqvae" ? "preset" : "critic";
    if (!s.has(preset_key) || !s.at(preset_key).is_string() || s.at(preset_key).get<std::string>().empty())
        s.fail(preset_key, std::string("must name the ") +
                               (c.kind == "vqvae" ? "VQ-VAE preset (an image input, models.vqvae_encoder, "
                                                    "models.vq_codebook, models.vqvae_decoder)"
                                                  : "critic preset (a tensor input, models.critic)") +
                               ", relative to this preset");
    c.preset = fs::absolute(preset.folderOf(s.pointer(preset_key)) / s.at(preset_key).get<std::string>())
                   .lexically_normal();
    if (c.kind == "vqvae")
        readStageData(s, c);
    else
        readTransformation(s, c, before);
    return c;
}

} // namespace

TrainConfig parseTrainConfig(const Preset& preset) { return parseClassifierStages(preset).back(); }

std::vector<TrainConfig> parseClassifierStages(const Preset& preset) {
    const auto& doc = preset.document();
    if (!doc.contains("train") || doc.at("train").is_null())
        return {TrainConfig{}};
    unsigned seed = 1;
    const auto* stages = stagesOf(preset, &seed);
    if (!stages)
        return {parseClassifier(preset, doc.at("train"), "/train", false)};
    std::vector<TrainConfig> out;
    std::set<std::string> names;
    for (size_t i = 0; i < stages->size(); ++i) {
        const auto& st = (*stages)[i];
        if (st.at("kind") != "classifier")
            continue;
        const std::string ptr = "/train/stages/" + std::to_string(i);
        auto c = parseClassifier(preset, st, ptr, true);
        c.seed = seed;
        c.pointer = ptr;
        if (st.contains("name")) {
            if (!st.at("name").is_string() || st.at("name").get<std::string>().empty())
                throw Error(preset.locate(ptr + "/name"), "train setting " + ptr +
                                                              "/name must be a non-empty string, got " +
                                                              st.at("name").dump());
            c.name = st.at("name").get<std::string>();
        }
        if (!names.insert(c.name).second)
            throw Error(preset.locate(ptr + "/name"), "train setting " + ptr +
                                                          "/name: another classifier stage "
                                                          "is called \"" +
                                                          c.name + "\"; give each its own name");
        out.push_back(std::move(c));
    }
    return out;
}

std::vector<StageConfig> parseStages(const Preset& preset) {
    std::vector<StageConfig> out;
    const auto* stages = stagesOf(preset, nullptr);
    if (!stages)
        return out;
    for (size_t i = 0; i + 1 < stages->size() && (*stages)[i].at("kind") != "classifier"; ++i)
        out.push_back(parseStage(preset, (*stages)[i], i, out));
    return out;
}

nlohmann::json StageConfig::toJson() const {
    auto optimizerJson = [](const OptimizerConfig& o) {
        return nlohmann::json{{"type", o.type},
                              {"lr", o.lr},
                              {"weight_decay", o.weight_decay},
                              {"momentum", o.momentum},
                              {"nesterov", o.nesterov},
                              {"beta1", o.beta1},
                              {"beta2", o.beta2}};
    };
    nlohmann::json j = {{"kind", kind},
                        {"name", name},
                        {"preset", preset.string()},
                        {"epochs", epochs},
                        {"batch_size", batch_size},
                        {"optimizer", optimizerJson(optimizer)},
                        {"validation_fraction", validation_fraction},
                        {"fps", fps},
                        {"image_size", image_size}};
    if (kind == "vqvae")
        j["data"] = data;
    else {
        j["generator"] = generator;
        j["vqvae"] = vqvae;
        j["audio_seconds"] = audio_seconds;
        j["n_critic"] = n_critic;
        j["lambda_gp"] = lambda_gp;
        j["gamma"] = gamma;
        j["regression"] = regression;
        j["critic_optimizer"] = optimizerJson(critic_optimizer);
    }
    return j;
}

nlohmann::json TrainConfig::toJson() const {
    return {{"seed", seed},
            {"epochs", epochs},
            {"batch_size", batch_size},
            {"loss", loss},
            {"optimizer",
             {{"type", optimizer.type},
              {"lr", optimizer.lr},
              {"weight_decay", optimizer.weight_decay},
              {"momentum", optimizer.momentum},
              {"nesterov", optimizer.nesterov},
              {"beta1", optimizer.beta1},
              {"beta2", optimizer.beta2}}},
            {"schedule",
             {{"type", schedule.type},
              {"min_lr", schedule.min_lr},
              {"t0", schedule.t0},
              {"t_mult", schedule.t_mult},
              {"warmup_epochs", schedule.warmup_epochs}}},
            {"augment",
             {{"mixup_alpha", augment.mixup_alpha},
              {"time_shift", augment.time_shift},
              {"crop_frames", augment.crop_frames},
              {"freq_masks", augment.freq_masks},
              {"freq_mask_width", augment.freq_mask_width},
              {"time_masks", augment.time_masks},
              {"time_mask_width", augment.time_mask_width},
              {"image_crop", augment.image_crop},
              {"image_flip", augment.image_flip},
              {"color_jitter", augment.color_jitter}}},
            {"validation",
             {{"fraction", validation.fraction},
              {"patience", validation.patience},
              {"monitor", validation.monitor}}},
            {"cache", cache},
            {"trainable", trainable},
            {"logits", logits}};
}

double learningRate(const TrainConfig& config, double epoch) {
    const auto& s = config.schedule;
    const double lr = config.optimizer.lr;
    if (s.warmup_epochs > 0.0 && epoch < s.warmup_epochs)
        return lr * (epoch + 1e-3) / s.warmup_epochs;
    const double t = epoch - s.warmup_epochs;
    const double span = std::max(1e-9, config.epochs - s.warmup_epochs);
    auto cosine = [&](double position) {
        return s.min_lr + 0.5 * (lr - s.min_lr) * (1.0 + std::cos(kPi * position));
    };
    if (s.type == "constant")
        return lr;
    if (s.type == "cosine")
        return cosine(std::min(1.0, t / span));
    // SGDR (Loshchilov & Hutter): cycles of t0, t0·t_mult, t0·t_mult², ... epochs, each restarting at lr.
    double cycle = s.t0 > 0.0 ? s.t0 : std::max(1.0, span / 10.0);
    double start = 0.0;
    while (t >= start + cycle) {
        start += cycle;
        cycle *= s.t_mult;
    }
    return cosine((t - start) / cycle);
}

} // namespace avgraph::host::training
