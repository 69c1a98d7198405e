#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

#include <torch/torch.h>

using namespace avgraph;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

Value channels(const Value& audio, const std::string& mode, const std::string& id = "ch") {
    return test::makeNode("signal.channels", {{"mode", mode}}, id)->process({{"audio", audio}}).at("audio");
}

} // namespace

TEST_CASE("signal.channels makes mono, left, right, average and difference channels", "[nodes][signal]") {
    auto left = torch::tensor({1.0f, -2.0f, 0.5f}).view({1, 1, 3});
    auto right = torch::tensor({3.0f, 2.0f, -0.5f}).view({1, 1, 3});
    auto stereo = test::audioValue(torch::cat({left, right}, 1).repeat({2, 1, 1}), 22050.0);
    auto expect = [&](const std::string& mode, std::vector<float> values) {
        INFO(mode);
        Value out = channels(stereo, mode);
        CHECK(out.kind == Kind::Audio);
        CHECK(out.sample_rate == 22050.0);
        REQUIRE(out.tensor.sizes() == torch::IntArrayRef({2, 1, 3}));
        CHECK(torch::equal(out.tensor, torch::tensor(values).view({1, 1, 3}).repeat({2, 1, 1})));
    };
    expect("mono", {2.0f, 0.0f, 0.0f});
    expect("left", {1.0f, -2.0f, 0.5f});
    expect("right", {3.0f, 2.0f, -0.5f});
    expect("average", {2.0f, 0.0f, 0.0f});
    expect("difference", {-2.0f, -4.0f, 1.0f});

    // librosa.to_mono averages any number of channels.
    auto three = test::audioValue(torch::arange(9, torch::kFloat32).view({1, 3, 3}), 8000.0);
    CHECK(torch::equal(channels(three, "mono").tensor, torch::tensor({3.0f, 4.0f, 5.0f}).view({1, 1, 3})));
    CHECK(torch::equal(channels(three, "right").tensor, torch::tensor({3.0f, 4.0f, 5.0f}).view({1, 1, 3})));
}

TEST_CASE("signal.channels passes mono through, and says which modes need stereo", "[nodes][signal]") {
    auto mono = test::audioValue(torch::randn({2, 1, 50}), 16000.0);
    for (const auto* mode : {"mono", "left", "average"})
        CHECK(torch::equal(channels(mono, mode).tensor, mono.tensor));
    for (const auto* mode : {"right", "difference"}) {
        try {
            channels(mono, mode, "mid_side");
            FAIL("mode " << mode << " accepted mono audio");
        } catch (const Error& e) {
            CHECK(e.where().node == "mid_side");
            CHECK_THAT(e.what(), Catch::Contains("(signal.channels)") &&
                                     Catch::Contains(std::string("mode '") + mode + "' needs stereo audio") &&
                                     Catch::Contains("input is mono"));
        }
    }
    auto three = test::audioValue(torch::zeros({1, 3, 10}), 16000.0);
    CHECK_THROWS_WITH(channels(three, "difference"),
                      Catch::Contains("needs stereo audio (2 channels), got 3"));
    CHECK_THROWS_WITH(test::makeNode("signal.channels", {{"mode", "mid"}}),
                      Catch::Contains("parameter 'mode'") && Catch::Contains("difference"));
}

TEST_CASE("signal.channels matches sox's remix on a real stereo recording", "[nodes][signal]") {
    // sox remix: "1v0.5,2v0.5" mixes half of each channel, "1,2i" adds the inverted right channel.
    auto decoded = host::readAudio(test::tauClip());
    REQUIRE(decoded.samples.size(0) == 2);
    Value stereo = test::audioValue(decoded.samples.unsqueeze(0), decoded.sample_rate);
    test::ScratchDir dir;
    struct Case {
        std::string mode, remix;
    };
    for (const auto& c : std::vector<Case>{
             {"average", "1v0.5,2v0.5"}, {"difference", "1,2i"}, {"left", "1"}, {"right", "2"}}) {
        INFO(c.mode);
        auto out = dir / (c.mode + ".wav");
        auto r = test::runShell("sox " + test::shellQuote(test::tauClip().string()) +
                                " -D -e floating-point -b 32 " + test::shellQuote(out.string()) + " remix " +
                                c.remix);
        INFO(r.output);
        REQUIRE(r.exit_code == 0); // sox is installed by scripts/setup
        auto sox = host::readAudio(out).samples;
        auto ours = channels(stereo, c.mode).tensor[0];
        REQUIRE(ours.sizes() == sox.sizes());
        // 16-bit samples: sums and halves of them are exact in float32.
        CHECK(torch::equal(ours, sox));
    }
}

TEST_CASE("signal.channels streams block by block without latency", "[nodes][signal][stream]") {
    auto x = torch::randn({1, 2, 1000});
    auto node = test::makeNode("signal.channels", {{"mode", "difference"}});
    auto offline = node->process({{"audio", test::audioValue(x, 16000.0)}}).at("audio").tensor;
    node->prepareStream({16000.0, 2, 512});
    CHECK(node->latencySamples() == 0);
    std::vector<torch::Tensor> parts;
    for (int64_t at = 0; at < 1000; at += 300)
        parts.push_back(
            node->processBlock({{"audio", test::audioValue(
                                              x.narrow(-1, at, std::min<int64_t>(300, 1000 - at)), 16000.0)}})
                .at("audio")
                .tensor);
    CHECK(torch::equal(torch::cat(parts, -1), offline));
}
