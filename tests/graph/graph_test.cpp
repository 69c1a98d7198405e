#include "graph/graph.h"
#include "graph/plan.h"
#include "nodes/builtin_nodes.h"

#include "tests/graph/graph_test_support.h"
#include "tests/test_support.h"

#include <catch2/catch.hpp>

#include <fstream>

using namespace avgraph;
namespace fs = std::filesystem;

TEST_CASE("a valid preset builds into a DAG with resolved kinds", "[graph]") {
    auto registry = test::builtinRegistry();
    Graph g = Graph::build(Preset::load(test::testPresetDir() / "base.json"), *registry);
    CHECK(g.size() == 5); // audio + 4 nodes
    auto order = g.topologicalOrder();
    auto pos = [&](const std::string& id) {
        return std::find(order.begin(), order.end(), g.find(id)) - order.begin();
    };
    CHECK(pos("audio") < pos("spec"));
    CHECK(pos("spec") < pos("mel"));
    CHECK(pos("mel") < pos("db"));
    CHECK(g.vertex(g.find("db")).output_kinds.begin()->second == Kind::Spectrum);
    REQUIRE(g.outputs().size() == 2);

    Plan plan = Plan::make(g, "cpu");
    auto levels = plan.levels();
    REQUIRE(levels.size() == 4);
    CHECK(levels[1].size() == 2); // feat and spec are independent branches
    for (const auto& step : plan.steps())
        CHECK(step.device == torch::Device(torch::kCPU));
    CHECK(plan.transfers().empty());
}

TEST_CASE("nodes that feed no output are not planned", "[graph]") {
    auto registry = test::builtinRegistry();
    Graph g = Graph::build(Preset::load(test::testPresetDir() / "base.json", {}), *registry);
    auto needed = g.neededForOutputs();
    CHECK(std::all_of(needed.begin(), needed.end(), [](bool b) { return b; }));
    Preset only_logmel =
        Preset::parse(R"({"avgraph": 1, "extends": "base.json", "outputs": {"chain": null}})",
                      test::testPresetDir() / "inline.json");
    Graph g2 = Graph::build(only_logmel, *registry);
    Plan plan = Plan::make(g2, "cpu");
    CHECK(plan.steps().size() == 2); // audio, feat
    CHECK(plan.stepOf(g2.find("mel")) == -1);
}

TEST_CASE("asking for CUDA without it is a located error", "[graph][device]") {
    if (torch::cuda::is_available())
        return; // the check below is about a CPU-only LibTorch
    auto registry = test::builtinRegistry();
    Preset p = Preset::parse(R"({"avgraph": 1, "extends": "base.json",
                                  "nodes": {"mel": {"device": "cuda"}}})",
                             test::testPresetDir() / "inline.json");
    Graph g = Graph::build(p, *registry);
    try {
        Plan::make(g);
        FAIL("cuda was accepted without CUDA");
    } catch (const Error& e) {
        CHECK(e.where().node == "mel");
        CHECK_THAT(e.what(), Catch::Contains("no CUDA device"));
    }
}

TEST_CASE("every broken preset is rejected with file, pointer, node and what was expected",
          "[graph][validation]") {
    auto expected =
        nlohmann::json::parse(std::ifstream(test::testPresetDir() / "broken/expected_errors.json"));
    int checked = 0;
    for (const auto& [name, want] : expected.items()) {
        if (name == "//")
            continue;
        DYNAMIC_SECTION(name) {
            auto registry = test::builtinRegistry();
            try {
                Graph::build(Preset::load(test::testPresetDir() / "broken" / name), *registry);
                FAIL("accepted a broken preset");
            } catch (const Error& e) {
                INFO(e.what());
                CHECK(fs::path(e.where().file).filename() == want["file"].get<std::string>());
                CHECK(e.where().pointer == want["pointer"].get<std::string>());
                CHECK(e.where().node == want["node"].get<std::string>());
                if (want.contains("line"))
                    CHECK(e.where().line == want["line"].get<int>());
                for (const auto& fragment : want["message"])
                    CHECK_THAT(e.what(), Catch::Contains(fragment.get<std::string>()));
            }
        }
        ++checked;
    }
    // Every broken preset in the folder has an expectation (a new one cannot be silently skipped).
    int files = 0;
    for (const auto& f : fs::directory_iterator(test::testPresetDir() / "broken"))
        if (f.path().extension() == ".json" && f.path().filename() != "expected_errors.json" &&
            f.path().filename() != "extends_cycle_b.json")
            ++files;
    CHECK(checked == files);
}

TEST_CASE("the Graphviz output names every node, type and output", "[graph][dot]") {
    auto registry = test::builtinRegistry();
    Graph g = Graph::build(Preset::load(test::testPresetDir() / "base.json"), *registry);
    std::string dot = g.toDot();
    CHECK_THAT(dot, Catch::StartsWith("digraph \"test-base\" {"));
    for (const char* s : {"\"audio\" -> \"feat\"", "\"spec\" -> \"mel\"", "\"mel\" -> \"db\"",
                          "features.logmel", "features.power_to_db", "\"out:chain\""})
        CHECK_THAT(dot, Catch::Contains(s));
    // Graphviz itself accepts it.
    test::ScratchDir dir;
    std::ofstream(dir / "g.dot") << dot;
    auto r = test::runShell("dot -Tsvg " + test::shellQuote((dir / "g.dot").string()) + " -o " +
                            test::shellQuote((dir / "g.svg").string()));
    CHECK(r.exit_code == 0);
    CHECK(fs::file_size(dir / "g.svg") > 1000);
}

namespace {
// A node type with a weights file, as trainable nodes will have.
class WeightsNode : public Node {
public:
    using Node::Node;

protected:
    Ports run(const Ports& in) override { return {{"out", input(in, "in")}}; }
};

void addWeightsNode(Registry& r) {
    NodeSpec s;
    s.type = "test.weights";
    s.summary = "reads a weights file";
    s.inputs = {PortSpec::of("in", {Kind::Any}, "")};
    s.outputs = {PortSpec::of("out", {Kind::Any}, "")};
    s.params = {ParamSpec::path("weights", "weights file")};
    s.make = [](const NodeContext& c) { return std::make_unique<WeightsNode>(c); };
    r.add(s);
}
} // namespace

TEST_CASE("weights paths resolve against the preset that names them, and must exist", "[graph][validation]") {
    test::ScratchDir dir;
    fs::create_directories(dir / "models");
    fs::create_directories(dir / "experiments");
    std::ofstream(dir / "models/cnn.pt") << "weights";
    std::ofstream(dir / "experiments/cnn.pt") << "other weights";
    std::ofstream(dir / "models/base.json") << R"({"avgraph": 1,
        "nodes": {"net": {"type": "test.weights", "params": {"weights": "cnn.pt"}}},
        "edges": [["audio", "net"]], "outputs": {"o": "net"}})";
    // A child elsewhere that changes nothing about the weights: they stay the base's.
    std::ofstream(dir / "experiments/child.json") << R"({"avgraph": 1, "extends": "../models/base.json",
        "name": "child"})";
    // A child that names its own weights: relative to the child.
    std::ofstream(dir / "experiments/own.json") << R"({"avgraph": 1, "extends": "../models/base.json",
        "nodes": {"net": {"params": {"weights": "cnn.pt"}}}})";
    std::ofstream(dir / "experiments/missing.json") << R"({"avgraph": 1, "extends": "../models/base.json",
        "nodes": {"net": {"params": {"weights": "absent.pt"}}}})";
    Registry r;
    addWeightsNode(r);
    auto weightsOf = [&](const char* preset) {
        Graph g = Graph::build(Preset::load(dir / "experiments" / preset), r);
        return fs::path(g.vertex(g.find("net")).node->params().path("weights"));
    };
    CHECK(fs::equivalent(weightsOf("child.json"), dir / "models/cnn.pt"));
    CHECK(fs::equivalent(weightsOf("own.json"), dir / "experiments/cnn.pt"));
    try {
        weightsOf("missing.json");
        FAIL("a missing weights file was accepted");
    } catch (const Error& e) {
        CHECK(fs::path(e.where().file).filename() == "missing.json");
        CHECK(e.where().pointer == "/nodes/net/params/weights");
        CHECK(e.where().node == "net");
        CHECK_THAT(e.what(), Catch::Contains("file not found") && Catch::Contains("absent.pt"));
    }
}

namespace {
/** audio (44.1 kHz, or each file's own rate) -> 16 kHz -> logmel "feat" and stft "spec" -> mel "mel". */
std::string ratesPreset(const std::string& feat_params, const std::string& mel_params,
                        bool fixed_rate = true) {
    return R"({"avgraph": 1, "name": "rates",
      "inputs": {"audio": {"kind": "audio")" +
           std::string(fixed_rate ? R"(, "sample_rate": 44100)" : "") + R"(}},
      "nodes": {
        "down": {"type": "signal.resample", "params": {"sr": 16000}},
        "spec": {"type": "features.stft", "params": {"n_fft": 512, "hop_length": 160}},
        "feat": {"type": "features.logmel", "params": )" +
           feat_params + R"(},
        "mel": {"type": "features.mel", "params": )" +
           mel_params + R"(}
      },
      "edges": [["audio", "down"], ["down", "spec"], ["down", "feat"], ["spec", "mel"]],
      "outputs": {"logmel": "feat", "mel": "mel"}})";
}
} // namespace

TEST_CASE("building a graph prepares its nodes with the rate and hop the graph fixes", "[graph][prepare]") {
    auto registry = test::builtinRegistry();
    const std::string feat = R"({"n_fft": 1024, "hop_length": 320, "n_mels": 40})";
    const std::string mel = R"({"n_mels": 40})";
    Graph g = Graph::build(Preset::parse(ratesPreset(feat, mel), "rates.json"), *registry);
    auto info = [&](const Graph& graph, const std::string& id, const std::string& port) {
        return graph.vertex(graph.find(id)).output_info.at(port);
    };
    CHECK(info(g, "audio", "").sample_rate == 44100.0);
    CHECK_FALSE(info(g, "audio", "").hop.has_value());
    CHECK(info(g, "down", "audio").sample_rate == 16000.0); // the resampler's own rate
    CHECK(info(g, "feat", "logmel").sample_rate == 16000.0);
    CHECK(info(g, "feat", "logmel").hop == 320);
    CHECK(info(g, "spec", "spectrum").hop == 160);
    CHECK(info(g, "mel", "mel").hop == 160); // a spectrum in, a spectrum out: the same frames
    CHECK(info(g, "mel", "mel").kind == Kind::Spectrum);

    SECTION("a band above the Nyquist frequency of a rate the graph fixes is found when it is built") {
        // 16 kHz after the resampler: fmax 9000 Hz lies above 8 kHz. Before, only audio showed it.
        const std::string high = R"({"n_mels": 40, "fmax": 9000})";
        for (const auto& [node, text] :
             {std::pair{"feat", ratesPreset(high, mel)}, {"mel", ratesPreset(feat, high)}}) {
            try {
                Graph::build(Preset::parse(text, "rates.json"), *registry);
                FAIL("fmax 9000 Hz at 16 kHz was built");
            } catch (const Error& e) {
                CHECK(e.where().file == "rates.json");
                CHECK(e.where().node == node);
                CHECK_THAT(e.message(),
                           Catch::Contains("fmax = 9000 Hz is above the Nyquist frequency 8000 Hz"));
            }
        }
    }
    SECTION("a graph input of unknown rate leaves the rate unknown up to the resampler") {
        Graph open = Graph::build(Preset::parse(ratesPreset(feat, mel, false), "rates.json"), *registry);
        CHECK_FALSE(info(open, "audio", "").sample_rate.has_value());
        CHECK(info(open, "feat", "logmel").sample_rate == 16000.0);
    }
}
