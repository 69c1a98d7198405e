// models.res_dcnn (Chen et al.'s acoustic encoder): shapes, the length each residual block leaves
// against its closed form, frames encoded on their own, training, and refused parameters and inputs.
// Its values against Python PyTorch: pytorch_reference_test.cpp.
#include "nodes/models/res_dcnn.h"

#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

namespace avgraph::test {

namespace {

nodes::ResDcnnImpl& network(Node& node) {
    auto* net = dynamic_cast<nodes::ResDcnnImpl*>(node.module());
    REQUIRE(net != nullptr);
    return *net;
}

} // namespace

TEST_CASE("models.res_dcnn gives one embedding per frame", "[models][res_dcnn]") {
    auto node = makeNode("models.res_dcnn"); // Chen et al.: 2 channels, 256 bins, 2048-1024
    auto out =
        node->process({{"in", spectrumValue(torch::randn({2, 2, 256, 5}), 16000, 2736)}}).at("embedding");
    CHECK(out.tensor.sizes() == torch::IntArrayRef{2, 5, 1024});
    CHECK(out.kind == Kind::Tensor);
    CHECK(out.axes == std::vector<std::string>{"batch", "frame", "feature"});
    CHECK(out.hop == 2736);
    CHECK(out.sample_rate == 16000);
    CHECK((out.tensor >= 0).all().item<bool>()); // it ends with a ReLU
}

TEST_CASE("models.res_dcnn's blocks take L bins to floor((L - 2) / 2)", "[models][res_dcnn]") {
    // Conv k3 without padding takes 2 bins, the pooling halves (rounding down); after k blocks
    // L_k = floor((L_0 + 2) / 2^k) - 2.
    auto closed = [](int64_t n_bins, int k) { return (n_bins + 2) / (int64_t{1} << k) - 2; };
    for (const int64_t n_bins : {256, 64}) {
        CAPTURE(n_bins);
        auto node = makeNode("models.res_dcnn", {{"n_bins", n_bins}, {"hidden", "8,6"}});
        auto& net = network(*node);
        const auto lengths = nodes::ResDcnnImpl::blockLengths(n_bins, 4);
        REQUIRE(lengths.size() == 4);
        torch::NoGradGuard no_grad;
        const auto outputs = net.blockOutputs(torch::randn({3, 2, n_bins}));
        REQUIRE(outputs.size() == 4);
        const int64_t widths[] = {4, 8, 16, 32};
        for (int k = 1; k <= 4; ++k) {
            CHECK(lengths[k - 1] == closed(n_bins, k));
            CHECK(outputs[k - 1].sizes() == torch::IntArrayRef{3, widths[k - 1], closed(n_bins, k)});
        }
        // fc1 takes the last block flattened and the input frame flattened.
        CHECK(net.named_parameters()["fc1.weight"].size(1) == 32 * closed(n_bins, 4) + 2 * n_bins);
    }
    CHECK(nodes::ResDcnnImpl::blockLengths(256, 4) == std::vector<int64_t>{127, 62, 30, 14});
    CHECK(nodes::ResDcnnImpl::blockLengths(64, 4) == std::vector<int64_t>{31, 14, 6, 2});
}

TEST_CASE("models.res_dcnn encodes each frame on its own", "[models][res_dcnn]") {
    auto node = makeNode("models.res_dcnn", {{"n_bins", 64}, {"hidden", "16,8"}});
    torch::NoGradGuard no_grad;
    const auto x = torch::randn({2, 2, 64, 4});
    const auto all = node->process({{"in", spectrumValue(x, 16000, 2736)}}).at("embedding").tensor;
    // In eval mode, clip 1's frame 2 alone gives the same embedding as within its clip.
    const auto one = node->process({{"in", spectrumValue(x.slice(0, 1, 2).slice(3, 2, 3), 16000, 2736)}})
                         .at("embedding")
                         .tensor;
    REQUIRE(one.sizes() == torch::IntArrayRef{1, 1, 8});
    CHECK(torch::allclose(all[1][2], one[0][0], 1e-5, 1e-6));
    CHECK(!torch::allclose(all[1][2], all[1][1], 1e-5, 1e-6));
}

TEST_CASE("models.res_dcnn trains: gradients reach the first block", "[models][res_dcnn]") {
    auto node = makeNode("models.res_dcnn", {{"n_bins", 64}, {"hidden", "16,8"}});
    node->module()->train();
    auto out = node->process({{"in", spectrumValue(torch::randn({2, 2, 64, 3}), 16000, 2736)}})
                   .at("embedding")
                   .tensor;
    (out * torch::randn(out.sizes())).sum().backward();
    const auto grad = network(*node).named_parameters()["block1.conv.weight"].grad();
    REQUIRE(grad.defined());
    CHECK(grad.abs().sum().item<double>() > 0);
}

TEST_CASE("models.res_dcnn refuses parameters and inputs that do not fit", "[models][res_dcnn]") {
    SECTION("too few bins for the blocks: at least 3 * 2^4 - 2 = 46 for four") {
        auto e = errorOf([] { makeNode("models.res_dcnn", {{"n_bins", 45}}); });
        CHECK(e.where().pointer == "/nodes/node/params/n_bins");
        CHECK_THAT(e.message(), Catch::Contains("at least 46"));
        CHECK_NOTHROW(makeNode("models.res_dcnn", {{"n_bins", 46}, {"hidden", "4,4"}}));
    }
    SECTION("hidden needs two widths") {
        auto e = errorOf([] { makeNode("models.res_dcnn", {{"hidden", "64"}}); });
        CHECK(e.where().pointer == "/nodes/node/params/hidden");
    }
    SECTION("inputs") {
        auto node = makeNode("models.res_dcnn", {{"n_bins", 64}, {"hidden", "8,4"}}, "audio_encoder");
        auto e = errorOf([&] {
            node->process({{"in", spectrumValue(torch::randn({1, 2, 128, 3}), 16000, 2736)}});
        });
        CHECK_THAT(e.message(), Catch::Contains("expected 2 channel(s) (in_channels) and 64 bins (n_bins)"));
        CHECK(e.where().node == "audio_encoder");
        e = errorOf([&] { node->process({{"in", spectrumValue(torch::randn({2, 64, 3}), 16000, 2736)}}); });
        CHECK_THAT(e.message(), Catch::Contains("expected a spectrum [batch, channel, bin, frame]"));
    }
}

} // namespace avgraph::test
