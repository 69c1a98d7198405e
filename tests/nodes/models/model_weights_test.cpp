// Weights files: save and load round trip, compatibility with torch::save / torch::load, and files
// that do not fit refused with the file and the first mismatching parameter.
#include "nodes/models/model_weights.h"
#include "nodes/models/networks.h"

#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

#include <fstream>

namespace avgraph::test {

namespace {

torch::Tensor logits(Node& node, const torch::Tensor& x) {
    torch::NoGradGuard no_grad;
    return node.process({{"in", spectrumValue(x)}}).at("logits").tensor;
}

/** Every parameter and buffer, by name, as copies. */
std::map<std::string, torch::Tensor> stateOf(torch::nn::Module& m) {
    std::map<std::string, torch::Tensor> state;
    for (const auto& p : m.named_parameters())
        state[p.key()] = p.value().detach().clone();
    for (const auto& b : m.named_buffers())
        state[b.key()] = b.value().clone();
    return state;
}

bool sameState(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b) {
    if (a.size() != b.size())
        return false;
    for (const auto& [name, t] : a)
        if (!b.count(name) || !torch::equal(t, b.at(name)))
            return false;
    return true;
}

Error loadError(const nlohmann::json& params, const std::string& type = "models.cnn9") {
    try {
        makeNode(type, params);
    } catch (const Error& e) {
        return e;
    }
    FAIL("no error");
    return Error({}, "");
}

const nlohmann::json kSmall = {{"widths", "4,8,8,16"}, {"n_classes", 3}};

} // namespace

TEST_CASE("Weights saved from a node load into another node", "[models][weights]") {
    ScratchDir dir;
    auto a = makeNode("models.cnn9", kSmall);
    {
        // Give the batch-norm statistics values too: they are buffers, and must travel as well.
        a->module()->train();
        torch::NoGradGuard no_grad;
        a->process({{"in", spectrumValue(torch::randn({4, 1, 16, 16}) * 3 + 1)}});
        a->module()->eval();
    }
    const auto file = dir / "runs/fold1/weights.pt";
    nodes::saveNodeWeights(*a, file); // creates the folders
    REQUIRE(fs::is_regular_file(file));

    auto params = kSmall;
    params["weights"] = file.string();
    auto b = makeNode("models.cnn9", params);
    CHECK(sameState(stateOf(*a->module()), stateOf(*b->module())));
    const auto x = torch::randn({2, 1, 16, 24});
    CHECK(torch::equal(logits(*a, x), logits(*b, x)));
    auto c = makeNode("models.cnn9", kSmall); // random: differs
    CHECK_FALSE(torch::equal(logits(*a, x), logits(*c, x)));

    SECTION("torch::load reads the file into the same network") {
        nodes::Cnn9 net(1, std::vector<int64_t>{4, 8, 8, 16}, 3, 0.0);
        torch::load(net, file.string());
        CHECK(sameState(stateOf(*a->module()), stateOf(*net)));
    }
    SECTION("a node without a module has no weights to save") {
        auto softmax = makeNode("models.softmax");
        REQUIRE_THROWS_WITH(nodes::saveNodeWeights(*softmax, dir / "x.pt"),
                            Catch::Contains("has no trainable module"));
    }
}

TEST_CASE("A file written by torch::save loads as a node's weights", "[models][weights]") {
    ScratchDir dir;
    nodes::Vgg14 net(2, std::vector<int64_t>{4, 4, 8, 8}, 6, 5, 0.0);
    net->eval();
    torch::save(net, (dir / "vgg.pt").string());
    auto node = makeNode("models.vgg14", {{"in_channels", 2},
                                          {"widths", "4,4,8,8"},
                                          {"fc_width", 6},
                                          {"n_classes", 5},
                                          {"weights", (dir / "vgg.pt").string()}});
    const auto x = torch::randn({3, 2, 16, 16});
    torch::NoGradGuard no_grad;
    CHECK(torch::equal(logits(*node, x), net->forward(x)));
}

TEST_CASE("Weights that do not fit are refused, naming the file and the first mismatch",
          "[models][weights]") {
    ScratchDir dir;
    const auto file = dir / "small.pt";
    nodes::saveNodeWeights(*makeNode("models.cnn9", kSmall), file);

    SECTION("other widths") {
        auto params = kSmall;
        params["widths"] = "4,8,8,32";
        params["weights"] = file.string();
        auto e = loadError(params);
        CHECK(e.where().pointer == "/nodes/node/params/weights");
        CHECK_THAT(e.message(),
                   Catch::Contains(file.string()) &&
                       Catch::Contains("conv_block4.conv1.weight: the file has [16, 8, 3, 3], the "
                                       "network [32, 8, 3, 3]"));
    }
    SECTION("other classes") {
        auto params = kSmall;
        params["n_classes"] = 4;
        params["weights"] = file.string();
        CHECK_THAT(loadError(params).message(), Catch::Contains("fc.weight: the file has [3, 16]"));
    }
    SECTION("another network") {
        auto e = loadError(
            {{"in_channels", 1}, {"widths", "4,8,8,16"}, {"n_classes", 3}, {"weights", file.string()}},
            "models.vgg14");
        CHECK_THAT(e.message(),
                   Catch::Contains(file.string()) &&
                       Catch::Contains("conv_block3.conv3: the network has this submodule, the file "
                                       "does not"));
    }
    SECTION("a smaller network than the file's") {
        const auto big = dir / "vgg.pt";
        nodes::Vgg14 net(1, std::vector<int64_t>{4, 8, 8, 16}, 6, 3, 0.0);
        torch::save(net, big.string());
        auto e = loadError({{"widths", "4,8,8,16"}, {"n_classes", 3}, {"weights", big.string()}});
        CHECK_THAT(e.message(), Catch::Contains("conv_block3.conv3: the file has it, the network does not"));
    }
    SECTION("not an archive") {
        const auto junk = dir / "junk.pt";
        std::ofstream(junk) << "not weights";
        auto params = kSmall;
        params["weights"] = junk.string();
        CHECK_THAT(loadError(params).message(),
                   Catch::Contains("weights file " + junk.string() + " is not a LibTorch archive"));
    }
    SECTION("a missing file") {
        auto params = kSmall;
        params["weights"] = (dir / "missing.pt").string();
        auto e = loadError(params);
        CHECK(e.where().pointer == "/nodes/node/params/weights");
        CHECK_THAT(e.message(), Catch::Contains("file not found") && Catch::Contains("missing.pt"));
    }
    SECTION("a refused file leaves the network as it was") {
        nodes::Cnn9 net(1, std::vector<int64_t>{4, 8, 8, 32}, 3, 0.0);
        const auto before = stateOf(*net);
        REQUIRE_THROWS_AS(nodes::loadWeights(*net, file), std::invalid_argument);
        CHECK(sameState(before, stateOf(*net)));
    }
}

} // namespace avgraph::test
