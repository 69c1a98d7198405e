#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

#include <cmath>

#include <torch/torch.h>

#include <random>

using namespace avgraph;
using nlohmann::json;

namespace {

/** A 16 kHz spectrum, hop 224 unless given. */
Value patchInput(torch::Tensor t, int64_t hop = 224) {
    return test::spectrumValue(std::move(t), 16000.0, hop);
}

Value patch(const Value& in, const json& params, const std::string& id = "patch") {
    return test::makeNode("tensor.patch", params, id)->process({{"in", in}}).at("out");
}

} // namespace

TEST_CASE("tensor.patch cuts Pham et al.'s ten 50%-overlapping 128-frame patches", "[nodes][tensor]") {
    // 2 clips, 6 channels (both channels, with deltas), 128 bins, 704 frames.
    auto x = torch::randn({2, 6, 128, 704});
    Value out = patch(patchInput(x), {{"length", 128}, {"hop", 64}});
    REQUIRE(out.tensor.sizes() == torch::IntArrayRef({2, 10, 6, 128, 128}));
    for (int64_t p = 0; p < 10; ++p)
        CHECK(torch::equal(out.tensor.select(1, p), x.narrow(-1, p * 64, 128)));
    CHECK(out.kind == Kind::Spectrum);
    CHECK(out.hop == 224);
    CHECK(out.axes == std::vector<std::string>{"batch", "patch", "channel", "bin", "frame"});
}

TEST_CASE("tensor.patch drops or pads the frames after the last whole patch", "[nodes][tensor]") {
    auto x = torch::arange(10, torch::kFloat32).view({1, 1, 1, 10});
    struct Case {
        int64_t length, hop;
        std::string padding;
        std::vector<std::vector<float>> patches;
    };
    const float P = -1.0f; // pad_value
    const std::vector<Case> cases{
        {4, 3, "drop", {{0, 1, 2, 3}, {3, 4, 5, 6}, {6, 7, 8, 9}}}, // fits exactly: both alike
        {4, 3, "pad", {{0, 1, 2, 3}, {3, 4, 5, 6}, {6, 7, 8, 9}}},
        {4, 4, "drop", {{0, 1, 2, 3}, {4, 5, 6, 7}}},
        {4, 4, "pad", {{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, P, P}}},
        {12, 4, "pad", {{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, P, P}}}, // shorter than one patch
        {2, 4, "drop", {{0, 1}, {4, 5}, {8, 9}}},               // gaps between patches
        {3, 4, "pad", {{0, 1, 2}, {4, 5, 6}, {8, 9, P}}},       // none starts past the end
        {10, 1, "drop", {{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}}},
    };
    for (const auto& c : cases) {
        INFO(c.length << " " << c.hop << " " << c.padding);
        Value out = patch(patchInput(x),
                          {{"length", c.length}, {"hop", c.hop}, {"padding", c.padding}, {"pad_value", P}});
        std::vector<torch::Tensor> rows;
        for (const auto& p : c.patches)
            rows.push_back(torch::tensor(p).view({1, 1, 1, -1}));
        CHECK(torch::equal(out.tensor, torch::stack(rows, 1)));
    }
    try {
        patch(patchInput(x), {{"length", 12}, {"hop", 4}}, "cut");
        FAIL("a clip shorter than a patch was cut with padding 'drop'");
    } catch (const Error& e) {
        CHECK(e.where().node == "cut");
        CHECK_THAT(e.what(), Catch::Contains("(tensor.patch)") &&
                                 Catch::Contains("10 frames, fewer than one patch") &&
                                 Catch::Contains("\"padding\": \"pad\""));
    }
    CHECK_THROWS_WITH(patch(patchInput(torch::zeros({4, 10})), {{"length", 2}}),
                      Catch::Contains("[batch, ..., bin, frame]"));
    CHECK_THROWS_WITH(test::makeNode("tensor.patch", {{"length", 0}}), Catch::Contains("parameter 'length'"));
    CHECK_THROWS_WITH(test::makeNode("tensor.patch", {{"padding", "zeros"}}),
                      Catch::Contains("parameter 'padding'"));
}

TEST_CASE("tensor.patch streams the offline patches once their last frame arrives",
          "[nodes][tensor][stream]") {
    auto x = torch::randn({2, 1, 8, 300});
    struct Case {
        int64_t length, hop;
    };
    uint32_t seed = 3;
    for (const auto& c : std::vector<Case>{{32, 16}, {32, 32}, {8, 20}, {1, 1}, {100, 7}}) {
        INFO(c.length << " " << c.hop);
        auto node = test::makeNode("tensor.patch", {{"length", c.length}, {"hop", c.hop}});
        auto offline = node->process({{"in", patchInput(x)}}).at("out").tensor;
        node->prepareStream({16000.0, 1, 4096});
        std::mt19937 rng(seed++);
        std::uniform_int_distribution<int64_t> size(0, 40);
        std::vector<torch::Tensor> parts;
        for (int64_t at = 0; at < 300;) {
            const int64_t len = std::min(size(rng), 300 - at);
            Value out = node->processBlock({{"in", patchInput(x.narrow(-1, at, len))}}).at("out");
            at += len;
            // Every patch whose last frame has arrived, and no other.
            int64_t released = 0;
            for (const auto& p : parts)
                released += p.size(1);
            released += out.tensor.size(1);
            CHECK(released == (at >= c.length ? 1 + (at - c.length) / c.hop : 0));
            parts.push_back(out.tensor);
        }
        CHECK(node->latencySamples() == (c.length - 1) * 224);
        CHECK(torch::equal(torch::cat(parts, 1), offline));
    }
}

TEST_CASE("the logmel-patches preset cuts normalised log-mel patches through the CLI",
          "[nodes][tensor][cli]") {
    test::ScratchDir out;
    auto r = test::runAvgraph(
        "run " + test::shellQuote((test::sourceDir() / "presets/features/logmel-patches.json").string()) +
        " --input " + test::shellQuote(test::esc10Clip().string()) + " --output " +
        test::shellQuote(out.path().string()));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    auto ours = host::readNpy(out / "patches.npy");
    // 5 s at 44.1 kHz: 431 frames; padding 'pad': min(1 + ceil(303 / 64), ceil(431 / 64)) = 6 patches.
    REQUIRE(ours.sizes() == torch::IntArrayRef({6, 1, 128, 128}));
    auto decoded = host::readAudio(test::esc10Clip());
    Value audio = test::audioValue(decoded.samples.unsqueeze(0), decoded.sample_rate);
    Value logmel = test::makeNode("features.logmel", {{"n_fft", 2048}, {"hop_length", 512}, {"n_mels", 128}})
                       ->process({{"audio", audio}})
                       .at("logmel");
    auto x = logmel.tensor[0][0].to(torch::kFloat64);
    auto mean = x.mean(-1, true);
    auto std =
        (x - mean).square().mean(-1, true).sqrt().clamp_min(1e-8); // bands clipped at top_db are constant
    auto z = (x - mean) / std;
    // The node standardises in float32: x - mean carries a rounding error of a few ulps of |x| (dB values
    // near 100), which the division by a band's std magnifies in quiet, nearly constant bands.
    auto budget = 1e-5 + 8.0 * std::ldexp(1.0, -24) * x.abs().amax(-1, true) / std;
    for (int64_t p = 0; p < 6; ++p) {
        INFO("patch " << p);
        const int64_t frames = std::min<int64_t>(128, 431 - p * 64);
        auto want = z.narrow(-1, p * 64, frames);
        auto got = ours[p][0].narrow(-1, 0, frames).to(torch::kFloat64);
        CHECK(((got - want).abs() <= budget).all().item<bool>());
        CHECK((got - want).abs().max().item<double>() < 1e-3);
        if (frames < 128)
            CHECK(
                torch::equal(ours[p][0].narrow(-1, frames, 128 - frames), torch::zeros({128, 128 - frames})));
    }
}
