// An example third-party node library: one node type, `example.gain`, built as its own shared
// object against avgraph's public headers and loaded with `avgraph --nodes libavgraph_example_nodes.so`
// or a preset's "node_libraries". It streams, so it also shows the block interface.
#include "graph/node_library.h"

#include <cmath>

namespace {

using namespace avgraph;

class GainNode : public Node {
public:
    explicit GainNode(const NodeContext& ctx)
        : Node(ctx), factor_(std::pow(10.0, ctx.params.real("gain_db") / 20.0)) {}

protected:
    Ports run(const Ports& in) override {
        const Value& x = input(in, "in");
        return {{"out", x.withTensor(x.tensor * factor_)}};
    }
    void onPrepareStream(const StreamSpec&) override {}
    Ports runBlock(const Ports& in) override { return run(in); }

private:
    double factor_;
};

NodeSpec gainSpec() {
    NodeSpec s;
    s.type = "example.gain";
    s.summary = "Scales any value by a gain in decibels (an example of a third-party node library)";
    s.doc = "Built from examples/node_library as a separate shared object; see docs/architecture.md.";
    s.inputs = {PortSpec::of("in", {Kind::Any}, "any value")};
    s.outputs = {PortSpec::of("out", {Kind::Any}, "the input times 10^(gain_db/20)")};
    s.params = {ParamSpec::real("gain_db", 0.0, "gain in dB").range(-120.0, 120.0)};
    s.streams = true;
    s.make = [](const NodeContext& ctx) { return std::make_unique<GainNode>(ctx); };
    return s;
}

} // namespace

AVGRAPH_NODE_LIBRARY(registry) { registry.add(gainSpec()); }
