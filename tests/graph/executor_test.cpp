#include "graph/executor.h"
#include "io/audio_input.h"
#include "io/runtime.h"
#include "nodes/builtin_nodes.h"

#include "tests/test_support.h"

#include <catch2/catch.hpp>

#include <ATen/Parallel.h>

#include <condition_variable>
#include <mutex>
#include <random>

using namespace avgraph;
namespace fs = std::filesystem;

namespace {

// Two of these in independent branches meet only if the executor runs them at the same time:
// each waits (up to a timeout) for the other to arrive.
struct Rendezvous {
    std::mutex m;
    std::condition_variable cv;
    int arrived = 0;
    bool met = false;
};
Rendezvous rendezvous;

class RendezvousNode : public Node {
public:
    using Node::Node;

protected:
    Ports run(const Ports& in) override {
        std::unique_lock<std::mutex> lock(rendezvous.m);
        ++rendezvous.arrived;
        rendezvous.cv.notify_all();
        bool both =
            rendezvous.cv.wait_for(lock, std::chrono::seconds(10), [] { return rendezvous.arrived >= 2; });
        if (both)
            rendezvous.met = true;
        return {{"out", input(in, "in")}};
    }
};

// Records whether autograd was on inside the node, and what its replica sum makes of 1 (0: none), and
// fails on request.
bool grad_seen = false;
double replica_sum_seen = 0.0;
class ProbeNode : public Node {
public:
    using Node::Node;

protected:
    Ports run(const Ports& in) override {
        grad_seen = torch::GradMode::is_enabled();
        replica_sum_seen =
            currentReplicaSum() ? (*currentReplicaSum())(torch::ones({1})).item<double>() : 0.0;
        if (params().flag("fail"))
            (void)torch::matmul(torch::ones({2, 3}), torch::ones({2, 3})); // a LibTorch shape error
        return {{"out", input(in, "in")}};
    }
};

std::unique_ptr<Registry> registryWithTestNodes() {
    auto r = std::make_unique<Registry>();
    nodes::registerBuiltinNodes(*r);
    NodeSpec meet;
    meet.type = "test.rendezvous";
    meet.summary = "waits for its twin";
    meet.inputs = {PortSpec::of("in", {Kind::Any}, "")};
    meet.outputs = {PortSpec::of("out", {Kind::Any}, "")};
    meet.make = [](const NodeContext& c) { return std::make_unique<RendezvousNode>(c); };
    r->add(meet);
    NodeSpec probe;
    probe.type = "test.probe";
    probe.summary = "records grad mode";
    probe.inputs = {PortSpec::of("in", {Kind::Any}, "")};
    probe.outputs = {PortSpec::of("out", {Kind::Any}, "")};
    probe.params = {ParamSpec::flag("fail", false, "")};
    probe.make = [](const NodeContext& c) { return std::make_unique<ProbeNode>(c); };
    r->add(probe);
    return r;
}

/** audio -> test.probe -> output "o". */
Graph probeGraph(Registry& registry) {
    return Graph::build(Preset::parse(R"({"avgraph": 1, "nodes": {"probe": {"type": "test.probe"}},
        "edges": [["audio", "probe"]], "outputs": {"o": "probe"}})",
                                      "inline.json"),
                        registry);
}

Value silentAudio() {
    Value v;
    v.tensor = torch::zeros({1, 1, 4});
    v.kind = Kind::Audio;
    return v;
}

Value realClip() {
    PresetInput input{"audio", Kind::Audio, 16000.0};
    return host::loadAudioFor(test::esc10Clip(), input);
}

} // namespace

TEST_CASE("concurrent branches give exactly the serial result on a real clip", "[graph][executor]") {
    host::configureThreads(0); // sizes the inter-op pool (at least two threads) before its first use
    auto registry = registryWithTestNodes();
    Graph g = Graph::build(Preset::load(test::testPresetDir() / "base.json"), *registry);
    Executor ex(g, Plan::make(g, "cpu"));
    Value clip = realClip();
    Value batch = clip.withTensor(torch::cat({clip.tensor, clip.tensor.flip(-1)}, 0)); // two clips
    RunOptions serial;
    serial.concurrent = false;
    auto a = ex.run({{"audio", batch}}, serial);
    auto b = ex.run({{"audio", batch}});
    REQUIRE(a.size() == 2);
    for (const auto& [name, value] : a) {
        INFO(name);
        CHECK(value.kind == Kind::Spectrum);
        CHECK(value.tensor.size(0) == 2);
        CHECK(torch::equal(value.tensor, b.at(name).tensor));
    }
    // The one-node log-mel and the three-node chain compute the same thing.
    CHECK(torch::allclose(a.at("logmel").tensor, a.at("chain").tensor, 1e-5, 1e-4));
    // Timings cover every planned node.
    CHECK(ex.timings().size() == 5);
    for (const auto& t : ex.timings())
        CHECK(t.seconds >= 0.0);
}

TEST_CASE("independent branches really run at the same time", "[graph][executor]") {
    host::configureThreads(0);
    auto registry = registryWithTestNodes();
    Preset p = Preset::parse(R"({"avgraph": 1,
        "nodes": {"left": {"type": "test.rendezvous"}, "right": {"type": "test.rendezvous"}},
        "edges": [["audio", "left"], ["audio", "right"]],
        "outputs": {"l": "left", "r": "right"}})",
                             "inline.json");
    Graph g = Graph::build(p, *registry);
    Executor ex(g, Plan::make(g, "cpu"));
    Value v;
    v.tensor = torch::zeros({1, 1, 16});
    v.kind = Kind::Audio;
    ex.run({{"audio", v}});
    CHECK(rendezvous.met);
    const auto& t = ex.timings();
    // Both started before either ended.
    CHECK(t[1].start_s < t[2].start_s + t[2].seconds);
    CHECK(t[2].start_s < t[1].start_s + t[1].seconds);
}

TEST_CASE("inference runs without autograd, training with it; node errors name the node",
          "[graph][executor]") {
    auto registry = registryWithTestNodes();
    Graph g = probeGraph(*registry);
    Executor ex(g, Plan::make(g, "cpu"));
    const Value v = silentAudio();
    for (bool concurrent : {true, false}) {
        RunOptions o;
        o.concurrent = concurrent;
        ex.run({{"audio", v}}, o);
        CHECK_FALSE(grad_seen);
        o.training = true;
        ex.run({{"audio", v}}, o);
        CHECK(grad_seen);
    }
    CHECK_THROWS_WITH(ex.run({}), Catch::Contains("no value given for graph input 'audio'"));

    Preset failing = Preset::parse(R"({"avgraph": 1, "nodes": {"probe": {"type": "test.probe",
        "params": {"fail": true}}}, "edges": [["audio", "probe"]], "outputs": {"o": "probe"}})",
                                   "inline.json");
    Graph gf = Graph::build(failing, *registry);
    Executor exf(gf, Plan::make(gf, "cpu"));
    try {
        exf.run({{"audio", v}});
        FAIL("a failing node did not fail the run");
    } catch (const Error& e) {
        CHECK(e.where().node == "probe");
        CHECK_THAT(e.what(),
                   Catch::Contains("(test.probe) while processing") && Catch::Contains("mat1 and mat2"));
        CHECK_THAT(e.what(), !Catch::Contains("Exception raised from")); // no LibTorch backtrace for users
    }
}

TEST_CASE("a run's replica sum reaches the nodes it runs on any thread, and nothing else",
          "[graph][executor]") {
    auto registry = registryWithTestNodes();
    Graph g = probeGraph(*registry);
    Executor ex(g, Plan::make(g, "cpu"));
    const Value v = silentAudio();
    const ReplicaSum three_processes = [](const torch::Tensor& t) { return t * 3; };
    for (bool concurrent : {true, false}) { // concurrent: the node runs on LibTorch's inter-op pool
        RunOptions o;
        o.concurrent = concurrent;
        o.training = true;
        o.replica_sum = three_processes;
        ex.run({{"audio", v}}, o);
        CHECK(replica_sum_seen == 3.0);
        ex.run({{"audio", v}}, RunOptions{concurrent, true, {}}); // the next run has none
        CHECK(replica_sum_seen == 0.0);
        {
            ReplicaSumScope scope(&three_processes); // a training thread's scope reaches the pool too
            ex.run({{"audio", v}}, RunOptions{concurrent, true, {}});
            CHECK(replica_sum_seen == 3.0);
        }
        ex.run({{"audio", v}}, RunOptions{concurrent, true, {}});
        CHECK(replica_sum_seen == 0.0);
    }
    CHECK(currentReplicaSum() == nullptr);
}

TEST_CASE("streaming through a loaded node library equals offline after its latency",
          "[graph][executor][stream]") {
    auto registry = registryWithTestNodes();
    registry->loadLibrary(test::exampleNodeLibrary());
    Preset p =
        Preset::parse(R"({"avgraph": 1, "nodes": {"g1": {"type": "example.gain", "params": {"gain_db": -6}},
        "g2": {"type": "example.gain", "params": {"gain_db": 12}}},
        "edges": [["audio", "g1"], ["g1", "g2"]], "outputs": {"o": "g2"}})",
                      "inline.json");
    Graph g = Graph::build(p, *registry);
    Executor ex(g, Plan::make(g, "cpu"));
    Value clip = realClip();
    auto offline = ex.run({{"audio", clip}}).at("o").tensor;

    ex.prepareStream({16000.0, 1, 4096});
    CHECK(ex.latencySamples() == 0);
    std::mt19937 rng(7);
    std::uniform_int_distribution<int64_t> size(1, 4096);
    std::vector<torch::Tensor> pieces;
    int64_t n = clip.tensor.size(-1);
    for (int64_t at = 0; at < n;) {
        int64_t len = std::min(size(rng), n - at);
        pieces.push_back(
            ex.processBlock({{"audio", clip.withTensor(clip.tensor.narrow(-1, at, len))}}).at("o").tensor);
        at += len;
    }
    auto streamed = torch::cat(pieces, -1);
    CHECK(torch::allclose(streamed, offline, 0.0, 1e-5 * offline.abs().max().item<double>()));
}

TEST_CASE("a graph with offline-only nodes refuses to stream and names them", "[graph][executor][stream]") {
    auto registry = registryWithTestNodes();
    Graph g = Graph::build(Preset::load(test::testPresetDir() / "base.json"), *registry);
    Executor ex(g, Plan::make(g, "cpu"));
    // top_db is relative to the whole clip's maximum, so these dB nodes cannot stream.
    CHECK_THROWS_WITH(ex.prepareStream({16000.0, 1, 4096}),
                      Catch::Contains("cannot stream this graph") &&
                          Catch::Contains("feat (features.logmel)") &&
                          Catch::Contains("db (features.power_to_db)") && Catch::Contains("top_db"));
    // With top_db null the same graph streams.
    Graph g2 = Graph::build(
        Preset::load(test::testPresetDir() / "base.json", {"feat.top_db=null", "db.top_db=null"}), *registry);
    Executor ex2(g2, Plan::make(g2, "cpu"));
    ex2.prepareStream({16000.0, 1, 4096});
    CHECK(ex2.latencySamples() > 0);
}

TEST_CASE("a feature graph streamed in random blocks equals offline after its latency",
          "[graph][executor][stream]") {
    auto registry = registryWithTestNodes();
    Graph g = Graph::build(
        Preset::load(test::testPresetDir() / "base.json", {"feat.top_db=null", "db.top_db=null"}), *registry);
    Executor ex(g, Plan::make(g, "cpu"));
    Value clip = realClip();
    auto offline = ex.run({{"audio", clip}});

    ex.prepareStream({clip.sample_rate, 1, 4096});
    std::mt19937 rng(11);
    std::uniform_int_distribution<int64_t> size(1, 4096);
    std::map<std::string, std::vector<torch::Tensor>> pieces;
    int64_t n = clip.tensor.size(-1);
    for (int64_t at = 0; at < n;) {
        int64_t len = std::min(size(rng), n - at);
        for (auto& [name, v] : ex.processBlock({{"audio", clip.withTensor(clip.tensor.narrow(-1, at, len))}}))
            pieces[name].push_back(v.tensor);
        at += len;
    }
    for (const auto& [name, want] : offline) {
        INFO(name);
        auto streamed = torch::cat(pieces.at(name), -1);
        int64_t frames = streamed.size(-1);
        // Every frame that does not need padding beyond the end is produced by the stream.
        int64_t hop = want.hop;
        CHECK(frames >= 1 + (n - ex.latencySamples()) / hop - 1);
        REQUIRE(frames <= want.tensor.size(-1));
        auto head = want.tensor.narrow(-1, 0, frames);
        double tol = 1e-5 * head.abs().max().item<double>();
        CHECK((streamed - head).abs().max().item<double>() <= tol);
    }
}
