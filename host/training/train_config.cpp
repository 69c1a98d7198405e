#include "host/training/train_config.h"

#include "graph/error.h"

#include <cmath>
#include <set>

namespace avgraph::host::training {

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

TrainConfig parseTrainConfig(const Preset& preset) {
    TrainConfig c;
    const auto& doc = preset.document();
    if (!doc.contains("train") || doc.at("train").is_null())
        return c;
    Section train(preset, doc.at("train"), "/train",
                  {"seed", "epochs", "batch_size", "loss", "optimizer", "schedule", "augment", "validation",
                   "cache", "trainable", "logits", "description"});
    train.integer("seed", c.seed, 0, std::numeric_limits<unsigned>::max());
    train.integer("epochs", c.epochs, 1, 100000);
    train.integer("batch_size", c.batch_size, 1, 65536);
    train.choice("loss", c.loss, {"cross_entropy", "kl"});
    train.choice("cache", c.cache, {"memory", "disk", "none"});
    train.strings("trainable", c.trainable);
    train.string("logits", c.logits);

    auto opt = train.sub("optimizer", {"type", "lr", "weight_decay", "momentum", "nesterov"});
    opt.choice("type", c.optimizer.type, {"adam", "adamw", "sgd"});
    opt.number("lr", c.optimizer.lr, 0.0, 10.0);
    opt.number("weight_decay", c.optimizer.weight_decay, 0.0, 1.0);
    opt.number("momentum", c.optimizer.momentum, 0.0, 1.0);
    opt.boolean("nesterov", c.optimizer.nesterov);
    if (c.optimizer.lr <= 0.0)
        opt.fail("lr", "must be greater than 0");

    auto sched = train.sub("schedule", {"type", "min_lr", "t0", "t_mult", "warmup_epochs"});
    sched.choice("type", c.schedule.type, {"constant", "cosine", "cosine_restarts"});
    sched.number("min_lr", c.schedule.min_lr, 0.0, c.optimizer.lr);
    sched.number("t0", c.schedule.t0, 0.0, kInf);
    sched.number("t_mult", c.schedule.t_mult, 1.0, 100.0);
    sched.number("warmup_epochs", c.schedule.warmup_epochs, 0.0, static_cast<double>(c.epochs));

    auto aug = train.sub("augment", {"mixup_alpha", "time_shift", "crop_frames"});
    aug.number("mixup_alpha", c.augment.mixup_alpha, 0.0, 100.0);
    aug.number("time_shift", c.augment.time_shift, 0.0, 1.0);
    aug.integer("crop_frames", c.augment.crop_frames, 0, 1 << 30);

    auto val = train.sub("validation", {"fraction", "patience", "monitor"});
    val.number("fraction", c.validation.fraction, 0.0, 0.9);
    val.integer("patience", c.validation.patience, 0, 100000);
    val.choice("monitor", c.validation.monitor, {"val_loss", "val_accuracy"});
    if (c.validation.patience > 0 && c.validation.fraction <= 0.0)
        val.fail("patience", "needs a validation split: set /train/validation/fraction (e.g. 0.1)");
    return c;
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
              {"nesterov", optimizer.nesterov}}},
            {"schedule",
             {{"type", schedule.type},
              {"min_lr", schedule.min_lr},
              {"t0", schedule.t0},
              {"t_mult", schedule.t_mult},
              {"warmup_epochs", schedule.warmup_epochs}}},
            {"augment",
             {{"mixup_alpha", augment.mixup_alpha},
              {"time_shift", augment.time_shift},
              {"crop_frames", augment.crop_frames}}},
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
