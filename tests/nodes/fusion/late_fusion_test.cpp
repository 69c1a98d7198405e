// fusion.late against values worked out by hand: MEAN, PROD and MAX of Pham et al., the mean over
// patches, PROD of many small probabilities, and inputs that do not fit together.
#include "nodes/fusion/fusion_nodes.h"

#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

#include <cmath>

namespace avgraph::test {

namespace {

Value probabilities(torch::Tensor t, std::vector<std::string> class_names = {}) {
    Value v;
    v.tensor = std::move(t);
    v.kind = Kind::Probabilities;
    v.axes = {"batch", "class"};
    v.class_names = std::move(class_names);
    return v;
}

Value fuse(const std::string& mode, const std::vector<Value>& inputs) {
    Ports ports;
    for (size_t i = 0; i < inputs.size(); ++i)
        ports["in" + std::to_string(i)] = inputs[i];
    return makeNode("fusion.late", {{"mode", mode}}, "fuse")->process(ports).at("probabilities");
}

torch::Tensor rows(std::vector<std::vector<double>> values) {
    std::vector<torch::Tensor> out;
    for (const auto& r : values)
        out.push_back(torch::tensor(r, torch::kDouble));
    return torch::stack(out).to(torch::kFloat);
}

const std::vector<std::string> kScenes{"bus", "park", "metro"};

} // namespace

TEST_CASE("fusion.late fuses two systems' probabilities by mean, prod and max", "[fusion][late]") {
    // Two clips; system A and system B.
    const auto a = probabilities(rows({{0.2, 0.3, 0.5}, {0.1, 0.1, 0.8}}), kScenes);
    const auto b = probabilities(rows({{0.6, 0.3, 0.1}, {0.5, 0.25, 0.25}}), kScenes);

    SECTION("mean: the arithmetic mean") {
        auto out = fuse("mean", {a, b});
        CHECK(out.kind == Kind::Probabilities);
        CHECK(out.axes == std::vector<std::string>{"batch", "class"});
        CHECK(out.class_names == kScenes);
        // (0.2+0.6)/2, (0.3+0.3)/2, (0.5+0.1)/2; (0.1+0.5)/2, (0.1+0.25)/2, (0.8+0.25)/2
        CHECK(torch::allclose(out.tensor, rows({{0.4, 0.3, 0.3}, {0.3, 0.175, 0.525}}), 0, 1e-6));
    }
    SECTION("prod: the product, renormalised") {
        // clip 1: 0.12, 0.09, 0.05, sum 0.26 -> 12/26, 9/26, 5/26
        // clip 2: 0.05, 0.025, 0.2, sum 0.275 -> 2/11, 1/11, 8/11
        auto out = fuse("prod", {a, b});
        CHECK(torch::allclose(
            out.tensor, rows({{12.0 / 26, 9.0 / 26, 5.0 / 26}, {2.0 / 11, 1.0 / 11, 8.0 / 11}}), 0, 1e-6));
    }
    SECTION("max: the element-wise maximum, renormalised") {
        // clip 1: 0.6, 0.3, 0.5, sum 1.4 -> 3/7, 3/14, 5/14
        // clip 2: 0.5, 0.25, 0.8, sum 1.55 -> 10/31, 5/31, 16/31
        auto out = fuse("max", {a, b});
        CHECK(torch::allclose(
            out.tensor, rows({{3.0 / 7, 3.0 / 14, 5.0 / 14}, {10.0 / 31, 5.0 / 31, 16.0 / 31}}), 0, 1e-6));
    }
    SECTION("mean is the default mode") {
        Ports ports{{"in0", a}, {"in1", b}};
        auto out = makeNode("fusion.late")->process(ports).at("probabilities");
        CHECK(torch::allclose(out.tensor, rows({{0.4, 0.3, 0.3}, {0.3, 0.175, 0.525}}), 0, 1e-6));
    }
}

TEST_CASE("fusion.late takes each input's mean over its patches first", "[fusion][late]") {
    // One clip of two patches [1, 2, 3] -> [1, 3]: (0.1+0.3)/2, (0.2+0.4)/2, (0.7+0.3)/2
    Value patches = probabilities(torch::tensor({0.1f, 0.2f, 0.7f, 0.3f, 0.4f, 0.3f}).reshape({1, 2, 3}));
    patches.axes = {"batch", "patch", "class"};
    auto alone = fuse("prod", {patches});
    REQUIRE(alone.tensor.sizes() == torch::IntArrayRef{1, 3});
    CHECK(torch::allclose(alone.tensor, rows({{0.2, 0.3, 0.5}}), 0, 1e-6));

    // With a second system of frames [1, 4, 3] whose mean is [0.6, 0.3, 0.1]: then the fusion.
    auto frames =
        probabilities(torch::tensor({0.8f, 0.1f, 0.1f, 0.4f, 0.5f, 0.1f, 0.6f, 0.3f, 0.1f, 0.6f, 0.3f, 0.1f})
                          .reshape({1, 4, 3}));
    CHECK(torch::allclose(fuse("mean", {patches, frames}).tensor, rows({{0.4, 0.3, 0.3}}), 0, 1e-6));
    // 0.12, 0.09, 0.05 -> 12/26, 9/26, 5/26
    CHECK(torch::allclose(fuse("prod", {patches, frames}).tensor, rows({{12.0 / 26, 9.0 / 26, 5.0 / 26}}), 0,
                          1e-6));
}

TEST_CASE("fusion.late prod of 40 systems of small probabilities does not underflow", "[fusion][late]") {
    // Each system gives 1e-3, 1.1e-3, 1.2e-3: the plain float32 product (1e-120 and less) is 0, and 0 / 0
    // rows. Renormalised, the product is 1 : 1.1^40 : 1.2^40 divided by their sum.
    std::vector<Value> systems(40, probabilities(rows({{1e-3, 1.1e-3, 1.2e-3}})));
    REQUIRE(torch::stack(std::vector<torch::Tensor>(40, systems[0].tensor)).prod(0).sum().item<double>() ==
            0.0);
    const double r1 = std::pow(1.1, 40), r2 = std::pow(1.2, 40), total = 1 + r1 + r2;
    auto out = fuse("prod", systems);
    REQUIRE(torch::isfinite(out.tensor).all().item<bool>());
    CHECK(torch::allclose(out.tensor, rows({{1 / total, r1 / total, r2 / total}}), 0, 1e-5));
}

TEST_CASE("fusion.late keeps autograd graphs", "[fusion][late]") {
    auto logits = torch::randn({2, 3}, torch::requires_grad());
    for (const std::string mode : {"mean", "prod", "max"}) {
        auto out = fuse(mode, {probabilities(torch::softmax(logits, -1)),
                               probabilities(rows({{0.2, 0.3, 0.5}, {0.1, 0.1, 0.8}}))});
        REQUIRE(out.tensor.requires_grad());
        // Rows sum to 1 whatever the logits: the gradient of the total is 0, of one entry not.
        out.tensor.select(1, 0).sum().backward();
        CHECK(logits.grad().abs().sum().item<double>() > 0);
        logits.mutable_grad().zero_();
    }
}

TEST_CASE("fusion.late refuses inputs that do not fit together, naming the port", "[fusion][late]") {
    const auto a = probabilities(rows({{0.2, 0.3, 0.5}}), kScenes);
    SECTION("other class names, or the same in another order") {
        auto b = probabilities(rows({{0.2, 0.3, 0.5}}), {"bus", "metro", "park"});
        REQUIRE_THROWS_WITH(fuse("mean", {a, a, b}),
                            Catch::Contains("node 'fuse'") &&
                                Catch::Contains("in2 has the classes [bus, metro, park]") &&
                                Catch::Contains("in0 has [bus, park, metro]"));
    }
    SECTION("inputs without class names take the others'") {
        auto unnamed = probabilities(rows({{0.6, 0.3, 0.1}}));
        CHECK(fuse("mean", {unnamed, a}).class_names == kScenes);
    }
    SECTION("another number of classes") {
        auto b = probabilities(rows({{0.5, 0.5}}));
        REQUIRE_THROWS_WITH(fuse("mean", {a, b}), Catch::Contains("in1 is [1, 2] but in0 is [1, 3]"));
    }
    SECTION("another batch size") {
        auto b = probabilities(rows({{0.2, 0.3, 0.5}, {0.2, 0.3, 0.5}}));
        REQUIRE_THROWS_WITH(fuse("max", {a, b}), Catch::Contains("in1 is [2, 3] but in0 is [1, 3]"));
    }
    SECTION("no class axis") {
        REQUIRE_THROWS_WITH(fuse("max", {a, probabilities(torch::rand({3}))}),
                            Catch::Contains("in1 is [3]; expected probabilities [batch, ..., class]"));
    }
    SECTION("no input") {
        REQUIRE_THROWS_WITH(makeNode("fusion.late")->process({}), Catch::Contains("connect in0, in1"));
    }
}

} // namespace avgraph::test
