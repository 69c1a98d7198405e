// models.softmax and models.argmax against closed forms.
#include "nodes/models/model_nodes.h"

#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

namespace avgraph::test {

namespace {

Value logitsValue(torch::Tensor t, std::vector<std::string> names = {}) {
    Value v;
    v.tensor = std::move(t);
    v.kind = Kind::Tensor;
    v.axes = {"batch", "class"};
    v.class_names = std::move(names);
    return v;
}

} // namespace

TEST_CASE("models.softmax gives exp(x / T) / sum exp(x / T) over the classes", "[models][softmax]") {
    auto node = makeNode("models.softmax", {{"temperature", 2.0}});
    auto x = torch::tensor({{1.0, 2.0, 3.0}, {-1000.0, 0.0, 1000.0}}, torch::kFloat64);
    auto out = node->process({{"in", logitsValue(x, {"a", "b", "c"})}}).at("probabilities");
    CHECK(out.kind == Kind::Probabilities);
    CHECK(out.class_names == std::vector<std::string>{"a", "b", "c"});
    // Row 1 in closed form: exp(k/2) / (e^0.5 + e^1 + e^1.5); row 2 saturates without overflow.
    const double z = std::exp(0.5) + std::exp(1.0) + std::exp(1.5);
    CHECK(out.tensor[0][0].item<double>() == Approx(std::exp(0.5) / z).epsilon(1e-12));
    CHECK(out.tensor[0][2].item<double>() == Approx(std::exp(1.5) / z).epsilon(1e-12));
    CHECK(out.tensor[1][2].item<double>() == 1.0);
    CHECK(out.tensor[1][0].item<double>() == 0.0);
}

TEST_CASE("models.argmax gives class indices that carry their labels", "[models][argmax]") {
    auto node = makeNode("models.argmax");
    auto x = torch::tensor({{0.1f, 0.7f, 0.2f}, {0.5f, 0.1f, 0.4f}, {0.3f, 0.3f, 0.4f}});
    Value probabilities = logitsValue(x, {"dog", "rain", "sea_waves"});
    probabilities.kind = Kind::Probabilities;
    auto out = node->process({{"in", probabilities}}).at("indices");
    CHECK(out.kind == Kind::Indices);
    CHECK(out.tensor.scalar_type() == torch::kLong);
    CHECK(torch::equal(out.tensor, torch::tensor({1, 0, 2}, torch::kLong)));
    CHECK(out.axes == std::vector<std::string>{"batch"});
    CHECK(nodes::classLabels(out) == std::vector<std::string>{"rain", "dog", "sea_waves"});

    SECTION("unnamed classes are labelled by index") {
        auto unnamed = node->process({{"in", logitsValue(x)}}).at("indices");
        CHECK(nodes::classLabels(unnamed) == std::vector<std::string>{"1", "0", "2"});
    }
    SECTION("ties go to the first maximum, as torch.argmax") {
        auto tie = node->process({{"in", logitsValue(torch::tensor({{0.4f, 0.4f, 0.2f}}))}}).at("indices");
        CHECK(tie.tensor.item<int64_t>() == 0);
    }
    SECTION("class names that do not match the class axis are refused") {
        REQUIRE_THROWS_WITH(node->process({{"in", logitsValue(x, {"dog", "rain"})}}),
                            Catch::Contains("has 3 classes but 2 class names"));
    }
}

} // namespace avgraph::test
