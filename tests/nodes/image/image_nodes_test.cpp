// image.resize and image.normalize against hand-computed values.
#include "nodes/image/image_nodes.h"

#include "tests/nodes/image/image_values.h"
#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

namespace avgraph::test {

namespace {

torch::Tensor out(Node& node, const torch::Tensor& x) {
    return node.process({{"in", imageValue(x)}}).at("out").tensor;
}

/** One 4x4 image whose pixel (r, c) is r in every channel: rows 0, 1, 2, 3. */
torch::Tensor rowRamp() {
    return torch::arange(4, torch::kFloat).reshape({1, 1, 4, 1}).expand({1, 3, 4, 4}).contiguous();
}

} // namespace

TEST_CASE("image.resize keeps constant images constant in every mode", "[image][resize]") {
    const auto constant = torch::full({2, 3, 24, 40}, 117.0f);
    for (const std::string mode : {"bilinear", "area", "nearest"})
        for (auto [h, w] : {std::pair<int, int>{128, 128}, std::pair<int, int>{7, 13}}) {
            auto node = makeNode("image.resize", {{"mode", mode}, {"height", h}, {"width", w}});
            auto y = node->process({{"in", imageValue(constant)}}).at("out");
            CHECK(y.tensor.sizes() == torch::IntArrayRef{2, 3, h, w});
            CHECK(y.kind == Kind::Image);
            // to float32 rounding: antialiased weights sum to 1 within a few ulps
            CHECK(torch::allclose(y.tensor, torch::full({2, 3, h, w}, 117.0f), 1e-6, 0));
        }
}

TEST_CASE("image.resize shrinks by hand-computed weights", "[image][resize]") {
    SECTION("area: a 2x2 image to 1x1 is its mean") {
        auto node = makeNode("image.resize", {{"mode", "area"}, {"height", 1}, {"width", 1}});
        auto x =
            torch::tensor({1.0f, 2.0f, 4.0f, 9.0f}).reshape({1, 1, 2, 2}).expand({1, 3, 2, 2}).contiguous();
        CHECK(torch::allclose(out(*node, x), torch::full({1, 3, 1, 1}, 4.0f)));
    }
    // Rows 0, 1, 2, 3 halved: output row i is centred on input coordinate 2i + 0.5.
    SECTION("bilinear without antialias samples between rows 0|1 and 2|3") {
        auto node = makeNode("image.resize", {{"height", 2}, {"width", 2}, {"antialias", false}});
        auto y = out(*node, rowRamp());
        CHECK(torch::allclose(y.select(3, 1)[0][0], torch::tensor({0.5f, 2.5f})));
    }
    SECTION("bilinear with antialias: a triangle twice as wide, cut at the border and renormalised") {
        // row 0: weights 0.75, 0.75, 0.25 on rows 0, 1, 2 -> 1.25 / 1.75 = 5/7;
        // row 1: weights 0.25, 0.75, 0.75 on rows 1, 2, 3 -> 4 / 1.75 = 16/7 (as PIL's bilinear)
        auto node = makeNode("image.resize", {{"height", 2}, {"width", 2}});
        auto y = out(*node, rowRamp());
        CHECK(torch::allclose(y.select(3, 0)[0][2], torch::tensor({5.0f / 7, 16.0f / 7})));
    }
    SECTION("nearest takes rows floor(2i)") {
        auto node = makeNode("image.resize", {{"mode", "nearest"}, {"height", 2}, {"width", 2}});
        CHECK(torch::equal(out(*node, rowRamp()).select(3, 0)[0][1], torch::tensor({0.0f, 2.0f})));
    }
    SECTION("a grey image is refused naming the port and the expected shape") {
        auto node = makeNode("image.resize", {}, "resize");
        try {
            out(*node, torch::zeros({1, 1, 4, 4}));
            FAIL("no error");
        } catch (const Error& e) {
            CHECK_THAT(e.what(), Catch::Contains("'resize'") && Catch::Contains("input 'in'") &&
                                     Catch::Contains("[batch, 3, H, W]"));
        }
    }
}

TEST_CASE("image.normalize maps [0, 255] to [-0.5, 0.5] and back", "[image][normalize]") {
    auto x =
        torch::tensor({0.0f, 51.0f, 127.5f, 255.0f}).reshape({1, 1, 2, 2}).expand({1, 3, 2, 2}).contiguous();
    auto forward = makeNode("image.normalize");
    auto y = out(*forward, x);
    // 0/255 - 0.5, 51/255 - 0.5, 127.5/255 - 0.5, 255/255 - 0.5
    CHECK(torch::allclose(y[0][1].flatten(), torch::tensor({-0.5f, -0.3f, 0.0f, 0.5f}), 0, 1e-6));
    auto back = makeNode("image.normalize", {{"scale", 255.0}, {"offset", 127.5}});
    CHECK(torch::allclose(out(*back, y), x, 0, 1e-4));

    SECTION("per-channel mean and std after the affine map") {
        auto node = makeNode("image.normalize",
                             {{"scale", 2.0}, {"offset", 1.0}, {"mean", "1, 2,3"}, {"std", "2,4,6"}});
        auto rgb = torch::tensor({10.0f, 20.0f, 30.0f}).reshape({1, 3, 1, 1});
        // (21 - 1)/2, (41 - 2)/4, (61 - 3)/6
        CHECK(torch::allclose(out(*node, rgb).flatten(), torch::tensor({10.0f, 9.75f, 58.0f / 6})));
    }
    SECTION("lists that are not three numbers, and a zero std, are refused at their parameter") {
        for (auto [param, value] : {std::pair<const char*, const char*>{"mean", "1,2"},
                                    std::pair<const char*, const char*>{"std", "1,x,3"},
                                    std::pair<const char*, const char*>{"std", "1,0,1"}}) {
            try {
                makeNode("image.normalize", {{param, value}});
                FAIL("no error for " << param << " = " << value);
            } catch (const Error& e) {
                CHECK(e.where().pointer == std::string("/nodes/node/params/") + param);
            }
        }
    }
}

} // namespace avgraph::test
