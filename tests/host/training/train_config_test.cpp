// The preset's train section: defaults, errors at the key, and the learning-rate schedules against
// their closed forms (PyTorch's CosineAnnealingLR / CosineAnnealingWarmRestarts).
#include "graph/error.h"
#include "host/training/train_config.h"
#include "host/training/trainer.h"

#include <catch2/catch.hpp>

#include <cmath>

using namespace avgraph;
using namespace avgraph::host::training;

namespace {
const double kPi = std::acos(-1.0);

Preset presetWithTrain(const std::string& train) {
    return Preset::parse(
        R"({"avgraph": 1, "nodes": {"stft": {"type": "features.stft"}}, "edges": [], "outputs": {"s": "stft"}, "train": )" +
            train + "}",
        "train.json");
}

std::string errorOf(const std::string& train) {
    try {
        parseTrainConfig(presetWithTrain(train));
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}
} // namespace

TEST_CASE("train section: defaults and values as written", "[training]") {
    auto c = parseTrainConfig(presetWithTrain("{}"));
    CHECK(c.epochs == 40);
    CHECK(c.batch_size == 32);
    CHECK(c.optimizer.type == "adam");
    CHECK(c.augment.mixup_alpha == 0.0);
    c = parseTrainConfig(presetWithTrain(
        R"({"epochs": 3, "optimizer": {"type": "sgd", "lr": 0.1, "momentum": 0.5}, "augment": {"mixup_alpha": 0.4},
            "validation": {"fraction": 0.2, "patience": 4, "monitor": "val_accuracy"}, "trainable": ["a", "b"]})"));
    CHECK(c.epochs == 3);
    CHECK(c.optimizer.type == "sgd");
    CHECK(c.optimizer.lr == 0.1);
    CHECK(c.optimizer.momentum == 0.5);
    CHECK(c.augment.mixup_alpha == 0.4);
    CHECK(c.validation.patience == 4);
    CHECK(c.validation.monitor == "val_accuracy");
    CHECK(c.trainable == std::vector<std::string>{"a", "b"});
}

TEST_CASE("train section: errors name the file, the key and what was expected", "[training]") {
    CHECK_THAT(errorOf(R"({"epoch": 3})"), Catch::Contains("train.json") && Catch::Contains("/train/epoch") &&
                                               Catch::Contains("expected one of") &&
                                               Catch::Contains("epochs"));
    CHECK_THAT(errorOf(R"({"epochs": 0})"),
               Catch::Contains("/train/epochs") && Catch::Contains("[1, 100000]"));
    CHECK_THAT(errorOf(R"({"epochs": 2.5})"), Catch::Contains("must be an integer"));
    CHECK_THAT(errorOf(R"({"optimizer": {"type": "rmsprop"}})"),
               Catch::Contains("/train/optimizer/type") && Catch::Contains("adam, adamw, sgd"));
    CHECK_THAT(errorOf(R"({"optimizer": {"lr": "fast"}})"),
               Catch::Contains("/train/optimizer/lr") && Catch::Contains("must be a number"));
    CHECK_THAT(errorOf(R"({"validation": {"patience": 5}})"),
               Catch::Contains("/train/validation/patience") && Catch::Contains("fraction"));
    CHECK_THAT(errorOf(R"({"trainable": "cnn9"})"),
               Catch::Contains("/train/trainable") && Catch::Contains("list"));
    CHECK_THAT(errorOf(R"([1, 2])"), Catch::Contains("/train") && Catch::Contains("JSON object"));
    CHECK_THAT(errorOf(R"({"augment": {"freq_masks": 2}})"),
               Catch::Contains("/train/augment/freq_mask_width") && Catch::Contains("greater than 0"));
}

TEST_CASE("staged train sections: the classifier stage and the stages before it", "[training]") {
    auto preset = presetWithTrain(R"({"seed": 7, "stages": [
        {"kind": "vqvae", "preset": "vq.json", "data": "images", "image_size": 64, "epochs": 3},
        {"kind": "transformation", "name": "gan", "critic": "critic.json", "n_critic": 2, "gamma": 0,
         "optimizer": {"lr": 0.0001}},
        {"kind": "classifier", "epochs": 5, "augment": {"mixup_alpha": 0.2}}]})");
    auto c = parseTrainConfig(preset);
    CHECK(c.seed == 7);
    CHECK(c.epochs == 5);
    CHECK(c.augment.mixup_alpha == 0.2);
    auto stages = parseStages(preset);
    REQUIRE(stages.size() == 2);
    CHECK(stages[0].kind == "vqvae");
    CHECK(stages[0].name == "vqvae");
    CHECK(stages[0].data == std::vector<std::string>{"images"});
    CHECK(stages[0].image_size == 64);
    CHECK(stages[0].preset.filename() == "vq.json");
    CHECK(stages[1].name == "gan");
    CHECK(stages[1].vqvae == "vqvae"); // the earlier vqvae stage by default
    CHECK(stages[1].n_critic == 2);
    CHECK(stages[1].lambda_gp == 10.0);
    CHECK(stages[1].gamma == 0.0);
    CHECK(stages[1].optimizer.lr == 0.0001);
    CHECK(stages[1].optimizer.beta1 == 0.5); // the GAN default (Liu et al.'s Adam(0.0002, 0.5))
    CHECK(parseStages(presetWithTrain(R"({"epochs": 2})")).empty());
}

TEST_CASE("SpecAugment masks cover the drawn spans and nothing else", "[training]") {
    // 10 bins x 20 frames; one band of width floor(0.5 * 5) = 2 from floor(0.25 * 9) = 2, one span of
    // width floor(0.99 * 4) = 3 from floor(0.0 * 18) = 0.
    auto t = torch::arange(200, torch::kFloat).reshape({1, 1, 10, 20});
    const double bands[] = {0.5, 0.25}, spans[] = {0.99, 0.0};
    maskSpans(t, 2, 1, 4, bands, -1.0);
    maskSpans(t, 3, 1, 3, spans, -2.0);
    auto expected = torch::arange(200, torch::kFloat).reshape({1, 1, 10, 20});
    expected.narrow(2, 2, 2).fill_(-1.0);
    expected.narrow(3, 0, 3).fill_(-2.0);
    CHECK(torch::equal(t, expected));
    // A zero draw masks nothing; a width never exceeds the axis.
    auto u = torch::ones({1, 1, 4, 4});
    const double none[] = {0.0, 0.7}, wide[] = {0.999, 0.5};
    maskSpans(u, 3, 1, 10, none, 0.0);
    CHECK(u.sum().item<double>() == 16.0);
    maskSpans(u, 3, 1, 10, wide, 0.0);
    CHECK(u.sum().item<double>() == 0.0);
}

TEST_CASE("learning-rate schedules follow their closed forms", "[training]") {
    TrainConfig c;
    c.epochs = 10;
    c.optimizer.lr = 0.1;
    c.schedule.min_lr = 0.01;
    c.schedule.type = "constant";
    CHECK(learningRate(c, 7.3) == 0.1);

    // CosineAnnealingLR with T_max = the run: eta_min + (lr - eta_min)(1 + cos(pi t / T)) / 2.
    c.schedule.type = "cosine";
    for (double t : {0.0, 2.5, 5.0, 9.9})
        CHECK(learningRate(c, t) == Approx(0.01 + 0.09 * (1 + std::cos(kPi * t / 10.0)) / 2).epsilon(1e-12));
    CHECK(learningRate(c, 5.0) == Approx(0.055));

    // SGDR with T_0 = 2, T_mult = 2: cycles [0, 2), [2, 6), [6, 14).
    c.schedule.type = "cosine_restarts";
    c.schedule.t0 = 2.0;
    c.schedule.t_mult = 2.0;
    auto sgdr = [](double t_cur, double t_i) { return 0.01 + 0.09 * (1 + std::cos(kPi * t_cur / t_i)) / 2; };
    CHECK(learningRate(c, 1.0) == Approx(sgdr(1.0, 2.0)));
    CHECK(learningRate(c, 2.0) == Approx(0.1)); // restart
    CHECK(learningRate(c, 4.0) == Approx(sgdr(2.0, 4.0)));
    CHECK(learningRate(c, 7.0) == Approx(sgdr(1.0, 8.0)));
}
