#pragma once
/**
 * Node: one step of a graph (a feature, a network, a fusion rule).
 *
 * Aims: one object that computes one step the same way offline, block by block and in training, on
 * the CPU or a GPU, with errors that name the node. Non-aims: scheduling (the Executor decides when
 * and on which thread a node runs), file I/O (io/), and state shared between nodes.
 *
 * Life cycle
 *   - Built: the factory of the node's spec constructs it from validated parameters (NodeContext).
 *   - Prepared: when the graph is built, `prepare(inputs, outputs)` tells it what is known of its
 *     inputs before anything runs (kind, sample rate, hop: ValueInfo) and lets it correct what its
 *     outputs will be (a resampler's rate, a feature's hop). A node checks there what depends on its
 *     inputs (a mel band above the Nyquist frequency of a known rate, frames of different hops joined)
 *     and makes its constants once (mel filterbanks, CQT filters), so `avgraph validate` reports them
 *     and the first run does not pay for them. What stays unknown (a graph input that takes each
 *     file at its own rate) is checked when the value arrives.
 *   - Offline: `process(inputs)` takes whole values (batch first) and returns the outputs. It must
 *     not keep state between calls, so the executor may call nodes of independent branches at once.
 *   - Streaming: `prepareStream(spec)`, then `processBlock(inputs)` with consecutive blocks; each
 *     call returns what the node can produce so far (possibly zero frames). A streaming node reports
 *     its latency in samples: after that latency, the concatenated blocks equal the offline result.
 *     `finishStream(last)` ends the signal: it takes the upstream nodes' own last values and returns
 *     them processed plus what the offline run has beyond the last block (the frames that the end
 *     padding completes, a resampler's flushed tail), so the concatenated blocks and the finish equal
 *     the offline result. `resetStream()` forgets the past. Nodes that cannot stream (their spec says
 *     so) throw.
 *   - Training: nodes whose spec is trainable expose their torch::nn::Module through `module()`.
 *
 * The public interface is non-virtual; subclasses implement the protected hooks. The public calls
 * turn any exception from a hook into an avgraph::Error that names the node, so a LibTorch shape
 * error inside a node reaches the user as "node 'feat' (features.logmel): ...".
 */
#include "graph/error.h"
#include "graph/node_spec.h"
#include "graph/params.h"
#include "graph/precision.h"
#include "graph/value.h"

#include <torch/nn/module.h>

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace avgraph {

/** Values by port name. */
using Ports = std::map<std::string, Value>;

/** What a node is built from. */
struct NodeContext {
    std::string id;
    const NodeSpec* spec = nullptr;
    Params params;
    Location where; ///< the node in its preset, for errors raised later
    std::filesystem::path preset_dir;
};

/** An Error at one parameter of the node being built, for NodeSpec::check hooks and node constructors. */
Error paramError(const NodeContext& ctx, const std::string& param, const std::string& message);

/**
 * What the graph knows of a value before anything runs: its kind, and its sample rate and hop where
 * the graph fixes them (a graph input with a sample_rate, a resampler, a feature's hop_length).
 */
struct ValueInfo {
    Kind kind = Kind::Any;
    std::optional<double> sample_rate; ///< of the audio the value comes from; unset: known at run time
    std::optional<int64_t> hop;        ///< samples between frames; unset: not framed, or not known
};
/** ValueInfo by port name. */
using PortInfos = std::map<std::string, ValueInfo>;

/** What a streaming graph will be fed. */
struct StreamSpec {
    double sample_rate = 0.0;
    int64_t channels = 1;
    int64_t max_block = 4096; ///< the largest block processBlock will see, in samples
    /**
     * The consumer clips decibels itself once the stream has ended (the file runner does, over the
     * written file; a segment window over its own frames). A node whose offline result clips `top_db`
     * below the maximum of the whole signal, which a stream only knows at its end, then streams its
     * unclipped values and marks them (Value::pending_top_db) instead of refusing. The executor sets
     * it only for nodes whose values go nowhere but to such consumers.
     */
    bool defer_top_db = false;
};

class Node {
public:
    explicit Node(const NodeContext& context);
    virtual ~Node();
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;

    const std::string& id() const { return context_.id; }
    const NodeSpec& spec() const { return *context_.spec; }
    const Params& params() const { return context_.params; }
    const Location& where() const { return context_.where; }

    /**
     * Called once, when the graph is built: `inputs` by connected input port, `outputs` as the graph
     * derives them (kinds resolved; the sample rate of the first input that has one; its hop where the
     * kind is unchanged). Returns the outputs as the node corrects them. Throws an Error at the node.
     */
    PortInfos prepare(const PortInfos& inputs, PortInfos outputs);

    Ports process(const Ports& inputs);

    void prepareStream(const StreamSpec& spec);
    Ports processBlock(const Ports& inputs);
    /** The end of the stream: `last` processed like a block, then what the end of the signal completes. */
    Ports finishStream(const Ports& last);
    void resetStream();
    /** Samples of delay between a block's input and the matching output, once prepared. */
    int64_t latencySamples() const;

    /** The trainable module, or nullptr. */
    torch::nn::Module* module();
    /** Moves parameters and buffers to a device before the node runs there. */
    void to(const torch::Device& device);
    /**
     * The precision its network computes in (graph/precision.h): under autocast on the node's device,
     * with what it outputs cast back to float32. Nodes without a network ignore it.
     */
    void setPrecision(Precision precision) { precision_ = precision; }
    Precision precision() const { return precision_; }
    /**
     * body() under the node's precision, as process() runs run(): for parts of its network that are
     * called directly (a segmented run's shared trunk and head, graph/segments.h).
     */
    Ports portsInPrecision(const std::function<Ports()>& body);
    torch::Tensor tensorInPrecision(const std::function<torch::Tensor()>& body);

    /** An Error located at this node. */
    Error error(const std::string& message) const;

protected:
    /** Default: nothing to check or make, the outputs as derived. */
    virtual void onPrepare(const PortInfos& inputs, PortInfos& outputs) {}
    virtual Ports run(const Ports& inputs) = 0;
    virtual void onPrepareStream(const StreamSpec& spec);
    virtual Ports runBlock(const Ports& inputs);
    /** Default: `last` as one more block, for nodes whose offline result has nothing past the stream's. */
    virtual Ports runFinish(const Ports& last) { return runBlock(last); }
    virtual void onResetStream() {}
    virtual int64_t latency() const { return 0; }
    virtual torch::nn::Module* trainableModule() { return nullptr; }
    virtual void moveTo(const torch::Device& device);

    /** The value on an input port; throws a located error when a required one is missing. */
    const Value& input(const Ports& inputs, const std::string& port) const;

private:
    template <typename F> auto guarded(const char* what, F&& body) const -> decltype(body());
    NodeContext context_;
    Precision precision_ = Precision::fp32;
    torch::Device device_ = torch::kCPU;
};

} // namespace avgraph
