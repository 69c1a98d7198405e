// fp16's dynamic loss scaling against torch.cuda.amp.GradScaler's rules, worked by hand: the scale
// multiplies the loss, divides the gradients back, halves on an overflow (the step skipped) and doubles
// after `growth_interval` good steps; a checkpoint round trip keeps it.
#include "host/training/grad_scaler.h"

#include "tests/test_support.h"

#include <catch2/catch.hpp>

#include <torch/torch.h>

using namespace avgraph::host::training;

TEST_CASE("GradScaler scales the loss, unscales the gradients, backs off on overflow and grows",
          "[training][precision]") {
    GradScaler scaler({/*init_scale=*/1024.0, /*growth=*/2.0, /*backoff=*/0.5, /*growth_interval=*/3});
    auto w = torch::tensor({1.0f, -2.0f}).requires_grad_();
    const std::vector<torch::Tensor> params{w};

    // loss = 3 w0 + 5 w1: gradients (3, 5), scaled by 1024 in backward and divided back by unscale().
    auto loss = (w * torch::tensor({3.0f, 5.0f})).sum();
    CHECK(scaler.scale(loss).item<double>() == Approx(1024.0 * (3.0 - 10.0)));
    scaler.scale(loss).backward();
    CHECK(w.grad()[0].item<double>() == 3072.0);
    CHECK(scaler.unscale(params));
    CHECK(w.grad()[0].item<double>() == 3.0);
    CHECK(w.grad()[1].item<double>() == 5.0);
    CHECK(scaler.currentScale() == 1024.0);
    CHECK(scaler.goodSteps() == 1);

    // An overflow: the step is to be skipped, the scale halves and the count of good steps restarts.
    w.mutable_grad() = torch::tensor({std::numeric_limits<float>::infinity(), 1.0f});
    CHECK_FALSE(scaler.unscale(params));
    CHECK(scaler.currentScale() == 512.0);
    CHECK(scaler.goodSteps() == 0);
    w.mutable_grad() = torch::tensor({std::nanf(""), 1.0f});
    CHECK_FALSE(scaler.unscale(params));
    CHECK(scaler.currentScale() == 256.0);

    // Three good steps in a row double it.
    for (int i = 0; i < 3; ++i) {
        w.mutable_grad() = torch::tensor({256.0f, 512.0f});
        CHECK(scaler.unscale(params));
        CHECK(w.grad()[1].item<double>() == 2.0); // divided by 256, the scale until the third ends
    }
    CHECK(scaler.currentScale() == 512.0);
    CHECK(scaler.goodSteps() == 0);

    SECTION("a checkpoint keeps the scale and the count") {
        w.mutable_grad() = torch::tensor({1.0f, 1.0f});
        scaler.unscale(params);
        avgraph::test::ScratchDir dir;
        torch::serialize::OutputArchive out;
        scaler.save(out);
        out.save_to((dir / "scaler.pt").string());
        GradScaler restored;
        torch::serialize::InputArchive in;
        in.load_from((dir / "scaler.pt").string());
        restored.load(in);
        CHECK(restored.currentScale() == 512.0);
        CHECK(restored.goodSteps() == 1);
    }
}

TEST_CASE("GradScaler's defaults are PyTorch's", "[training][precision]") {
    const GradScaler scaler;
    CHECK(scaler.currentScale() == 65536.0);
    const GradScalerOptions options;
    CHECK(options.growth == 2.0);
    CHECK(options.backoff == 0.5);
    CHECK(options.growth_interval == 2000);
}
