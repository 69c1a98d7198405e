// fusion.concat on small hand-made tensors: joining, repeating a frameless input over the frames,
// gradients to every input, and inputs that do not fit together.
#include "nodes/fusion/fusion_nodes.h"

#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

namespace avgraph::test {

namespace {

Value features(torch::Tensor t) {
    Value v;
    v.tensor = std::move(t);
    v.kind = Kind::Tensor;
    return v;
}

Value join(const std::vector<Value>& inputs) {
    Ports ports;
    for (size_t i = 0; i < inputs.size(); ++i)
        ports["in" + std::to_string(i)] = inputs[i];
    return makeNode("fusion.concat", nlohmann::json::object(), "join")->process(ports).at("out");
}

torch::Tensor values(std::vector<float> v, std::vector<int64_t> shape) {
    return torch::tensor(v).reshape(shape);
}

} // namespace

TEST_CASE("fusion.concat joins [batch, F] vectors", "[fusion][concat]") {
    auto out = join({features(values({1, 2, 3, 4}, {2, 2})), features(values({5, 6, 7, 8, 9, 10}, {2, 3}))});
    CHECK(out.kind == Kind::Tensor);
    CHECK(out.axes == std::vector<std::string>{"batch", "feature"});
    CHECK(torch::equal(out.tensor, values({1, 2, 5, 6, 7, 3, 4, 8, 9, 10}, {2, 5})));
}

TEST_CASE("fusion.concat repeats a frameless input over the other inputs' frames", "[fusion][concat]") {
    // Audio: 1 clip of 3 frames of 2 features; video: one 1-d embedding per clip, joined with every frame.
    Value audio = features(values({1, 2, 3, 4, 5, 6}, {1, 3, 2}));
    audio.hop = 2736;
    audio.sample_rate = 16000;
    auto video = features(values({9}, {1, 1}));
    auto out = join({audio, video});
    REQUIRE(out.tensor.sizes() == torch::IntArrayRef{1, 3, 3});
    CHECK(torch::equal(out.tensor, values({1, 2, 9, 3, 4, 9, 5, 6, 9}, {1, 3, 3})));
    CHECK(out.axes == std::vector<std::string>{"batch", "frame", "feature"});
    CHECK(out.hop == 2736); // the frames are the audio's
    CHECK(out.sample_rate == 16000);

    // In the other order the video's features come first; two framed inputs are joined frame by frame.
    auto audio2 = features(values({-1, -2, -3}, {1, 3, 1}));
    auto out2 = join({video, audio, audio2});
    CHECK(torch::equal(out2.tensor, values({9, 1, 2, -1, 9, 3, 4, -2, 9, 5, 6, -3}, {1, 3, 4})));
}

TEST_CASE("fusion.concat passes gradients to every input", "[fusion][concat]") {
    auto a = torch::randn({2, 4, 3}, torch::requires_grad());
    auto v = torch::randn({2, 5}, torch::requires_grad());
    auto out = join({features(a), features(v)});
    REQUIRE(out.tensor.sizes() == torch::IntArrayRef{2, 4, 8});
    // d sum(w * out) / d v: v's feature j appears in each of the 4 frames, so the sum of w over them.
    auto w = torch::randn({2, 4, 8});
    (out.tensor * w).sum().backward();
    CHECK(torch::allclose(a.grad(), w.slice(2, 0, 3)));
    CHECK(torch::allclose(v.grad(), w.slice(2, 3, 8).sum(1)));
}

TEST_CASE("fusion.concat refuses inputs that do not fit together, naming the port", "[fusion][concat]") {
    auto a = features(torch::zeros({2, 4, 3}));
    SECTION("different batch sizes") {
        REQUIRE_THROWS_WITH(join({a, features(torch::zeros({3, 5}))}),
                            Catch::Contains("node 'join'") &&
                                Catch::Contains("in1 has a batch of 3 but in0 of 2"));
    }
    SECTION("different frame counts") {
        REQUIRE_THROWS_WITH(join({a, features(torch::zeros({2, 5})), features(torch::zeros({2, 6, 1}))}),
                            Catch::Contains("in2 has 6 frames but in0 has 4"));
    }
    SECTION("more than 3 dimensions") {
        REQUIRE_THROWS_WITH(
            join({a, features(torch::zeros({2, 4, 1, 3}))}),
            Catch::Contains("in1 is [2, 4, 1, 3]; expected [batch, features] or [batch, frame, "
                            "features]"));
    }
    SECTION("one dimension") {
        REQUIRE_THROWS_WITH(join({features(torch::zeros({3}))}), Catch::Contains("in0 is [3]"));
    }
}

} // namespace avgraph::test
