#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

#include <torch/torch.h>

using namespace avgraph;
using nlohmann::json;

namespace {

/** A 16 kHz spectrum, hop 512 unless a test needs another to mismatch. */
Value concatInput(torch::Tensor t, int64_t hop = 512) {
    return test::spectrumValue(std::move(t), 16000.0, hop);
}

Value join(const std::string& axis, const std::vector<Value>& inputs) {
    Ports ports;
    for (size_t i = 0; i < inputs.size(); ++i)
        ports["in" + std::to_string(i)] = inputs[i];
    return test::makeNode("tensor.concat", {{"axis", axis}}, "cat")->process(ports).at("out");
}

} // namespace

TEST_CASE("tensor.concat joins along channel, bin or frame", "[nodes][tensor]") {
    auto a = torch::rand({2, 1, 64, 10});
    auto b = torch::rand({2, 3, 64, 10});
    Value channels = join("channel", {concatInput(a), concatInput(b)});
    CHECK(torch::equal(channels.tensor, torch::cat({a, b}, 1)));
    CHECK(channels.kind == Kind::Spectrum); // the first input's kind and metadata
    CHECK(channels.hop == 512);
    CHECK(channels.sample_rate == 16000.0);
    CHECK(channels.axes == std::vector<std::string>{"batch", "channel", "bin", "frame"});

    auto c = torch::rand({2, 1, 20, 10});
    CHECK(torch::equal(join("bin", {concatInput(a), concatInput(c)}).tensor, torch::cat({a, c}, 2)));
    auto d = torch::rand({2, 1, 64, 7});
    CHECK(torch::equal(join("frame", {concatInput(a), concatInput(d)}).tensor, torch::cat({a, d}, 3)));
    CHECK(torch::equal(join("channel", {concatInput(a)}).tensor, a));
}

TEST_CASE("tensor.concat keeps port order past in9", "[nodes][tensor]") {
    std::vector<Value> inputs;
    for (int i = 0; i < 12; ++i)
        inputs.push_back(concatInput(torch::full({1, 1, 2, 3}, static_cast<float>(i))));
    auto joined = join("bin", inputs).tensor;
    REQUIRE(joined.size(2) == 24);
    for (int i = 0; i < 12; ++i)
        CHECK(joined[0][0][2 * i][0].item<float>() == static_cast<float>(i));
}

TEST_CASE("tensor.concat says clearly when its inputs do not fit", "[nodes][tensor]") {
    auto a = concatInput(torch::zeros({1, 1, 64, 188}));
    try {
        join("channel", {a, concatInput(torch::zeros({1, 1, 64, 94}))});
        FAIL("different frame counts were joined");
    } catch (const Error& e) {
        CHECK(e.where().node == "cat");
        CHECK_THAT(e.what(), Catch::Contains("(tensor.concat)") &&
                                 Catch::Contains("in1 has 94 frames but in0 has 188") &&
                                 Catch::Contains("same frames"));
    }
    CHECK_THROWS_WITH(join("bin", {a, concatInput(torch::zeros({1, 1, 64, 188}), 256)}),
                      Catch::Contains("in1 has frames every 256 samples at 16000 Hz but in0 every 512"));
    CHECK_THROWS_WITH(join("channel", {a, concatInput(torch::zeros({1, 1, 32, 188}))}),
                      Catch::Contains("in1 is [1, 1, 32, 188] but in0 is [1, 1, 64, 188]") &&
                          Catch::Contains("dimension 2 differs"));
    CHECK_THROWS_WITH(join("frame", {a, concatInput(torch::zeros({2, 1, 64, 10}))}),
                      Catch::Contains("dimension 0 differs"));
    CHECK_THROWS_WITH(join("channel", {a, concatInput(torch::zeros({1, 64, 188}))}),
                      Catch::Contains("in1 is [1, 64, 188] but in0 is [1, 1, 64, 188]") &&
                          Catch::Contains("the same number of dimensions"));
    CHECK_THROWS_WITH(join("channel", {concatInput(torch::zeros({1, 188}))}),
                      Catch::Contains("needs inputs laid out as [batch, channel, ..., frame]"));
    CHECK_THROWS_WITH(join("bin", {concatInput(torch::zeros({1, 2, 100}))}),
                      Catch::Contains("needs inputs laid out as [batch, channel, bin, frame]"));
    CHECK_THROWS_WITH(test::makeNode("tensor.concat", {{"axis", "time"}}),
                      Catch::Contains("parameter 'axis'") && Catch::Contains("\"frame\""));
}

TEST_CASE("tensor.concat streams along channel and bin but not frame", "[nodes][tensor][stream]") {
    auto node = test::makeNode("tensor.concat", {{"axis", "channel"}}, "cat");
    node->prepareStream({16000.0, 1, 512});
    // in1 lags one frame behind in0: the output waits for it.
    auto a = torch::rand({1, 1, 4, 5});
    auto b = torch::rand({1, 1, 4, 5});
    auto first = node->processBlock(
        {{"in0", concatInput(a.narrow(-1, 0, 3))}, {"in1", concatInput(b.narrow(-1, 0, 2))}});
    auto second = node->processBlock(
        {{"in0", concatInput(a.narrow(-1, 3, 2))}, {"in1", concatInput(b.narrow(-1, 2, 3))}});
    CHECK(first.at("out").tensor.size(-1) == 2);
    auto streamed = torch::cat({first.at("out").tensor, second.at("out").tensor}, -1);
    CHECK(torch::equal(streamed, torch::cat({a, b}, 1)));

    auto along_frames = test::makeNode("tensor.concat", {{"axis", "frame"}}, "cat");
    CHECK_THROWS_WITH(along_frames->prepareStream({16000.0, 1, 512}),
                      Catch::Contains("cannot stream with axis 'frame'"));
}
