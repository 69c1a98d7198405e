// models.cnn9, models.vgg14, models.embedding_mlp: shapes, parameter counts against closed forms,
// modes, parameters and inputs refused with located errors, and the cnn9-logmel preset end to end.
#include "nodes/models/model_nodes.h"

#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

namespace avgraph::test {

namespace {

// Closed forms: a 3x3 convolution without bias from a to b channels has 9ab weights; batch norm
// 2b (scale and shift; running statistics are buffers); a linear layer ab + b.
int64_t conv(int64_t a, int64_t b) { return 9 * a * b + 2 * b; }
int64_t linear(int64_t a, int64_t b) { return a * b + b; }

torch::Tensor logits(Node& node, const Value& in) {
    torch::NoGradGuard no_grad;
    return node.process({{"in", in}}).at("logits").tensor;
}

} // namespace

TEST_CASE("models.cnn9 maps a spectrum to logits of each class", "[models][cnn9]") {
    auto node =
        makeNode("models.cnn9", {{"widths", "8,16,32,64"}, {"n_classes", 4}, {"class_names", "a, b,c ,d"}});
    auto out = node->process({{"in", spectrumValue(torch::randn({2, 1, 64, 50}), 16000)}}).at("logits");
    CHECK(out.tensor.sizes() == torch::IntArrayRef{2, 4});
    CHECK(out.kind == Kind::Tensor);
    CHECK(out.axes == std::vector<std::string>{"batch", "class"});
    CHECK(out.class_names == std::vector<std::string>{"a", "b", "c", "d"});

    SECTION("patches are folded into the batch and back") {
        auto x = torch::randn({2, 3, 1, 16, 20});
        auto folded = logits(*node, spectrumValue(x, 16000));
        REQUIRE(folded.sizes() == torch::IntArrayRef{2, 3, 4});
        auto one = logits(*node, spectrumValue(x[1][2].unsqueeze(0), 16000));
        CHECK(torch::allclose(folded[1][2], one[0], 1e-5, 1e-6));
    }
    SECTION("the smallest input three 2x2 poolings leave one cell of") {
        CHECK(logits(*node, spectrumValue(torch::randn({1, 1, 8, 8}), 16000)).sizes() ==
              torch::IntArrayRef{1, 4});
    }
}

TEST_CASE("models.cnn9 has the closed-form number of parameters", "[models][cnn9]") {
    SECTION("defaults: 1 channel, widths 64/128/256/512, 10 classes") {
        auto node = makeNode("models.cnn9");
        const int64_t expected = conv(1, 64) + conv(64, 64) + conv(64, 128) + conv(128, 128) +
                                 conv(128, 256) + conv(256, 256) + conv(256, 512) + conv(512, 512) +
                                 linear(512, 10);
        CHECK(expected ==
              4'691'274); // sum(p.numel() for p in Cnn9(1, [64, 128, 256, 512], 10).parameters()) in PyTorch
        CHECK(parameterCount(*node) == expected);
    }
    SECTION("the issue's reading: widths 32/64/128/256") {
        auto node =
            makeNode("models.cnn9", {{"widths", "32,64,128,256"}, {"in_channels", 3}, {"n_classes", 7}});
        CHECK(parameterCount(*node) == conv(3, 32) + conv(32, 32) + conv(32, 64) + conv(64, 64) +
                                           conv(64, 128) + conv(128, 128) + conv(128, 256) + conv(256, 256) +
                                           linear(256, 7));
    }
    SECTION("PANNs' bn0 adds a weight and a bias per input bin; the frame pooling adds nothing") {
        auto node = makeNode("models.cnn9", {{"norm_bins", 64}, {"frame_pooling", "mean+max"}});
        CHECK(parameterCount(*node) == 4'691'274 + 2 * 64);
    }
}

TEST_CASE("models.vgg14 has 12 convolutions and the closed-form number of parameters", "[models][vgg14]") {
    auto node = makeNode("models.vgg14");
    const int64_t expected = conv(6, 64) + conv(64, 64) + conv(64, 128) + conv(128, 128) + conv(128, 256) +
                             3 * conv(256, 256) + conv(256, 512) + 3 * conv(512, 512) + linear(512, 1024) +
                             linear(1024, 10);
    CHECK(expected ==
          11'125'898); // the count of pytorch_reference.py's Vgg14(6, [64, 128, 256, 512], 1024, 10)
    CHECK(parameterCount(*node) == expected);
    int64_t convs = 0;
    for (const auto& m : node->module()->modules())
        convs += m->as<torch::nn::Conv2d>() != nullptr;
    CHECK(convs == 12);
    auto out = logits(*node, spectrumValue(torch::randn({2, 6, 128, 128}), 16000));
    CHECK(out.sizes() == torch::IntArrayRef{2, 10});
}

TEST_CASE("models.embedding_mlp maps embeddings to logits", "[models][mlp]") {
    SECTION("defaults: 2048 -> 8192 -> 8192 -> 1024 -> 10 (count only)") {
        auto node = makeNode("models.embedding_mlp");
        const int64_t bn = 2 * (8192 + 8192 + 1024);
        CHECK(parameterCount(*node) ==
              linear(2048, 8192) + linear(8192, 8192) + linear(8192, 1024) + linear(1024, 10) + bn);
    }
    SECTION("small, without batch norm") {
        auto node =
            makeNode("models.embedding_mlp",
                     {{"in_features", 6}, {"hidden", "5,4"}, {"n_classes", 3}, {"batch_norm", false}});
        CHECK(parameterCount(*node) == linear(6, 5) + linear(5, 4) + linear(4, 3));
        Value v;
        v.tensor = torch::randn({7, 6});
        CHECK(logits(*node, v).sizes() == torch::IntArrayRef{7, 3});
        v.tensor = torch::randn({7, 5});
        REQUIRE_THROWS_WITH(logits(*node, v), Catch::Contains("expected 6 (in_features)"));
    }
}

TEST_CASE("models.embedding_mlp with hidden \"\" is a linear head, applied to every frame", "[models][mlp]") {
    auto node = makeNode("models.embedding_mlp",
                         {{"in_features", 5}, {"hidden", ""}, {"n_classes", 3}, {"class_names", "a,b,c"}});
    CHECK(parameterCount(*node) == linear(5, 3));
    const auto params = node->module()->named_parameters();
    const auto weight = params["fc.weight"], bias = params["fc.bias"];
    REQUIRE(weight.sizes() == torch::IntArrayRef{3, 5});

    // [batch, frame, features]: each frame's logits are W x + b, the frames kept as an axis.
    Value v;
    v.tensor = torch::randn({2, 4, 5});
    v.axes = {"batch", "frame", "feature"};
    auto out = node->process({{"in", v}}).at("logits");
    REQUIRE(out.tensor.sizes() == torch::IntArrayRef{2, 4, 3});
    CHECK(out.axes == std::vector<std::string>{"batch", "frame", "class"});
    CHECK(out.class_names == std::vector<std::string>{"a", "b", "c"});
    for (int64_t b = 0; b < 2; ++b)
        for (int64_t f = 0; f < 4; ++f) {
            torch::NoGradGuard no_grad;
            const auto expected = torch::mv(weight, v.tensor[b][f]) + bias;
            CHECK(torch::allclose(out.tensor[b][f], expected, 1e-5, 1e-6));
        }
    // Trainable through the head: the logits carry gradients to the weights.
    out.tensor.sum().backward();
    CHECK(weight.grad().defined());
    CHECK(weight.grad().abs().sum().item<double>() > 0);
}

TEST_CASE("Model nodes start in eval mode; module() switches them to training", "[models]") {
    auto node = makeNode("models.cnn9", {{"widths", "4,4,4,4"}, {"dropout", 0.5}});
    REQUIRE(node->module() != nullptr);
    CHECK_FALSE(node->module()->is_training());
    for (const auto& m : node->module()->modules())
        CHECK_FALSE(m->is_training());
    const auto x = spectrumValue(torch::randn({4, 1, 16, 16}), 16000);
    // Eval: dropout off and batch norm from running statistics, so items are independent of each other.
    auto all = logits(*node, x);
    auto first = logits(*node, spectrumValue(x.tensor.slice(0, 0, 1), 16000));
    CHECK(torch::allclose(all[0], first[0], 1e-5, 1e-6));
    CHECK(torch::equal(all, logits(*node, x)));

    node->module()->train();
    CHECK(node->module()->is_training());
    // Training: dropout (p 0.5) makes two passes differ.
    CHECK_FALSE(torch::equal(logits(*node, x), logits(*node, x)));
    node->module()->eval();
    // The training passes updated batch norm's running statistics, which eval mode now uses.
    auto after = logits(*node, x);
    CHECK_FALSE(torch::equal(all, after));
    CHECK(torch::equal(after, logits(*node, x)));
}

TEST_CASE("Model nodes refuse bad parameters and inputs with located errors", "[models]") {
    SECTION("widths") {
        auto e = errorOf([] { makeNode("models.cnn9", {{"widths", "64,128,256"}}); });
        CHECK(e.where().pointer == "/nodes/node/params/widths");
        CHECK_THAT(e.message(), Catch::Contains("expected 4 positive integers") && Catch::Contains("got 3"));
        e = errorOf([] { makeNode("models.vgg14", {{"widths", "64,x,256,512"}}); });
        CHECK(e.where().pointer == "/nodes/node/params/widths");
        e = errorOf([] { makeNode("models.embedding_mlp", {{"hidden", "0"}}); });
        CHECK(e.where().pointer == "/nodes/node/params/hidden");
    }
    SECTION("class names") {
        auto e = errorOf([] { makeNode("models.cnn9", {{"n_classes", 3}, {"class_names", "a,b"}}); });
        CHECK(e.where().pointer == "/nodes/node/params/class_names");
        CHECK_THAT(e.message(), Catch::Contains("has 2 names but n_classes is 3"));
        e = errorOf([] { makeNode("models.cnn9", {{"n_classes", 2}, {"class_names", "a,a"}}); });
        CHECK_THAT(e.message(), Catch::Contains("names 'a' twice"));
    }
    SECTION("inputs") {
        auto node = makeNode("models.cnn9", {{"widths", "4,4,4,4"}}, "classifier");
        auto e = errorOf([&] { logits(*node, spectrumValue(torch::randn({1, 2, 64, 64}), 16000)); });
        CHECK(e.where().node == "classifier");
        CHECK_THAT(e.message(),
                   Catch::Contains("[2, 64, 64]") && Catch::Contains("1 channel(s) (in_channels)"));
        e = errorOf([&] { logits(*node, spectrumValue(torch::randn({1, 1, 64, 7}), 16000)); });
        CHECK_THAT(e.message(), Catch::Contains("at least 8 bins and 8 frames"));
        e = errorOf([&] { logits(*node, spectrumValue(torch::randn({64, 64}), 16000)); });
        CHECK_THAT(e.message(), Catch::Contains("expected 4 or more axes"));

        auto normed = makeNode("models.cnn9", {{"widths", "4,4,4,4"}, {"norm_bins", 64}}, "classifier");
        e = errorOf([&] { logits(*normed, spectrumValue(torch::randn({1, 1, 128, 64}), 16000)); });
        CHECK(e.where().node == "classifier");
        CHECK_THAT(e.message(), Catch::Contains("has 128 bins; expected 64 (norm_bins)"));
    }
    SECTION("frame pooling") {
        auto e = errorOf([] { makeNode("models.cnn9", {{"frame_pooling", "mean"}}); });
        CHECK(e.where().pointer == "/nodes/node/params/frame_pooling");
    }
}

TEST_CASE("presets/models/cnn9-logmel.json classifies a clip (random weights)", "[models][cli]") {
    ScratchDir out;
    const auto preset = sourceDir() / "presets/models/cnn9-logmel.json";
    auto r = runAvgraph("run " + shellQuote(preset.string()) + " --input " +
                        shellQuote(esc10Clip().string()) + " --output " + shellQuote(out.path().string()));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    auto p = host::readNpy(out / "probabilities.npy");
    REQUIRE(p.sizes() == torch::IntArrayRef{10});
    CHECK(p.sum().item<double>() == Approx(1.0).margin(1e-5));
    CHECK(p.min().item<double>() > 0.0);
}

} // namespace avgraph::test
