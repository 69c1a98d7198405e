// What an epoch computes: steps per epoch (a last batch too small for batch norm left out), the
// per-sample losses on soft targets against their closed forms, and the predicted class over positions.
#include "host/training/epoch_loop.h"

#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>

using namespace avgraph::host::training;

TEST_CASE("an epoch has the whole batches and a last one of at least min_batch clips", "[training][epoch]") {
    CHECK(stepsPerEpoch(64, 32, 2) == 2);
    CHECK(stepsPerEpoch(65, 32, 2) == 2); // a last batch of one clip is left out
    CHECK(stepsPerEpoch(66, 32, 2) == 3);
    CHECK(stepsPerEpoch(67, 32, 4) == 2); // two processes need two clips each
    CHECK(stepsPerEpoch(68, 32, 4) == 3);
    CHECK(stepsPerEpoch(3, 32, 2) == 1);
    CHECK(stepsPerEpoch(1, 32, 2) == 1); // never none
}

TEST_CASE("per-sample losses match cross-entropy and KL divergence by hand", "[training][epoch]") {
    // Logits (0, ln 3): softmax (1/4, 3/4).
    const double ln3 = std::log(3.0);
    auto logits = torch::tensor({{0.0, ln3}, {0.0, ln3}}, torch::kDouble);
    auto targets = torch::tensor({{1.0, 0.0}, {0.5, 0.5}}, torch::kDouble);
    auto ce = sampleLoss(logits, targets, "cross_entropy");
    CHECK(ce[0].item<double>() == Approx(std::log(4.0)).epsilon(1e-12));
    CHECK(ce[1].item<double>() == Approx(0.5 * std::log(4.0) + 0.5 * std::log(4.0 / 3.0)).epsilon(1e-12));
    // KL(t || p) = CE − H(t): 0 entropy for one-hot, ln 2 for (1/2, 1/2).
    auto kl = sampleLoss(logits, targets, "kl");
    CHECK(kl[0].item<double>() == Approx(std::log(4.0)).epsilon(1e-12));
    CHECK(kl[1].item<double>() ==
          Approx(0.5 * std::log(4.0) + 0.5 * std::log(4.0 / 3.0) - std::log(2.0)).epsilon(1e-12));

    // Positions [batch, position, class]: every position against the clip's target, averaged.
    auto positions = torch::tensor({{{0.0, ln3}, {ln3, 0.0}}}, torch::kDouble);
    auto per = sampleLoss(positions, torch::tensor({{0.0, 1.0}}, torch::kDouble), "cross_entropy");
    CHECK(per.item<double>() == Approx(0.5 * std::log(4.0 / 3.0) + 0.5 * std::log(4.0)).epsilon(1e-12));
}

TEST_CASE("the predicted class over positions is the class of the mean probability", "[training][epoch]") {
    CHECK(torch::equal(predictedClass(torch::tensor({{0.1, 0.9, 0.0}, {2.0, 1.0, 0.0}})),
                       torch::tensor({1, 0}, torch::kLong)));
    // Position 1 is sure of class 0 (p ≈ 1), positions 2 and 3 lean to class 1 (p = 0.6): the mean
    // probability of class 0 is (1 + 0.4 + 0.4) / 3 = 0.6, although two positions vote for class 1.
    const double l = std::log(0.6 / 0.4);
    auto logits = torch::tensor({{{20.0, 0.0}, {0.0, l}, {0.0, l}}}, torch::kDouble);
    CHECK(predictedClass(logits).item<int64_t>() == 0);
}
