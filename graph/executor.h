#pragma once
/**
 * Executor: runs a planned graph.
 *
 * Aims: run one plan offline (whole values, independent branches at once), block by block
 * (streaming, bounded memory), in part (training: autograd on, cached front ends), with the same
 * nodes and the same results. Non-aims: deciding what a graph is (Graph, Plan), reading files (io/),
 * and threads of its own (LibTorch's inter-op pool runs the branches).
 *
 * Offline: `run` takes whole values (batch first) for the graph inputs and returns the preset's
 * outputs. Steps start as soon as the steps they need are done; with `concurrent` (the default),
 * independent branches run at the same time on LibTorch's inter-op thread pool (at::launch), and
 * each node's own tensor ops use the intra-op threads. Inference runs under NoGradGuard; training
 * mode keeps autograd on so gradients flow through the whole graph.
 *
 * Streaming: `prepareStream`, then `processBlock` with consecutive blocks for the graph inputs;
 * each call returns what every output can produce so far; `finishStream` with the last block (maybe
 * empty) ends the signal, and what every call returned, joined, is the offline result. Every needed
 * node must stream. `latencySamples` is the longest path of node latencies to any output.
 *
 * Part of a graph can stream too: `prepareStreamTo` prepares only the steps that some nodes (the
 * ends) need, and `processBlockTo` returns the ends' values; a segmented run (graph/segments.h)
 * streams that far and runs the rest offline on windows of the ends' frames. `streamingSteps` finds
 * how far a graph can stream.
 *
 * An Executor is not itself thread-safe: one run (or one block) at a time.
 */
#include "graph/graph.h"
#include "graph/plan.h"
#include "graph/precision.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace avgraph {

/**
 * A sum over the processes of data-parallel training (host/training/distributed.h makes one), whose
 * backward sums the gradients the same way: what a batch-norm layer sums its statistics with to see
 * the global batch (nodes/models/batch_norm.h).
 */
using ReplicaSum = std::function<torch::Tensor(const torch::Tensor&)>;

struct RunOptions {
    bool concurrent = true; ///< false: one step at a time, in plan order
    bool training = false;  ///< autograd on
    ReplicaSum replica_sum; ///< training on several processes: their sum; empty: the caller's scope's
};

/**
 * The replica sum of the run whose node this thread is running, or null. The executor sets it around
 * every node it runs, on the thread that runs it, as it sets grad mode: RunOptions::replica_sum, or
 * else the one of the ReplicaSumScope around the call. It belongs to a run or a scope on one thread,
 * not to the process: other graphs running elsewhere in the process do not see it.
 */
const ReplicaSum* currentReplicaSum();

/** Sets currentReplicaSum() on this thread for its lifetime: a data-parallel training run's thread
 * (avgraph train), the executor's tasks, tests of nodes. A null or empty sum means one process. */
class ReplicaSumScope {
public:
    explicit ReplicaSumScope(const ReplicaSum* sum);
    ~ReplicaSumScope();
    ReplicaSumScope(const ReplicaSumScope&) = delete;
    ReplicaSumScope& operator=(const ReplicaSumScope&) = delete;

private:
    const ReplicaSum* previous_;
};

/** Wall-clock time of one step in the last run, relative to the run's start. */
struct StepTiming {
    std::string id;
    std::string type;
    double start_s = 0.0;
    double seconds = 0.0;
};

class Executor {
public:
    Executor(Graph& graph, Plan plan);

    /** Offline run: values for every graph input, by input name; returns values by output name. */
    std::map<std::string, Value> run(const std::map<std::string, Value>& inputs,
                                     const RunOptions& options = {});
    /**
     * Runs part of the graph, for training: the steps that the `wanted` nodes need, given the
     * outputs of some vertices (`given`, by node or graph-input id; a graph input's value sits on
     * port ""). Given steps, and steps that only given ones need, are not run. Graph inputs the
     * remaining steps read come from `inputs`. Returns the wanted nodes' outputs by node id. Runs
     * one step at a time, in plan order (training graphs are chains; autograd needs one thread).
     */
    std::map<std::string, Ports> runPart(const std::map<std::string, Value>& inputs,
                                         const std::map<std::string, Ports>& given,
                                         const std::vector<std::string>& wanted,
                                         const RunOptions& options = {});
    /** Per-step timings of the last offline run, in plan order. */
    const std::vector<StepTiming>& timings() const { return timings_; }

    void prepareStream(const StreamSpec& spec);
    std::map<std::string, Value> processBlock(const std::map<std::string, Value>& blocks);
    /** The last block (may have no samples): outputs as processBlock, plus what the end completes. */
    std::map<std::string, Value> finishStream(const std::map<std::string, Value>& last);

    /** Prepares the steps that the nodes `ends` need, and only those; the outputs of the ends are then
     *  what processBlockTo returns, by node id. */
    void prepareStreamTo(const StreamSpec& spec, const std::vector<std::string>& ends);
    std::map<std::string, Ports> processBlockTo(const std::map<std::string, Value>& blocks,
                                                bool finish = false);

    /**
     * Which plan steps can stream with `spec`: nodes whose spec streams, that accept the spec (a node may
     * refuse its parameters, e.g. top_db that cannot be deferred), and all of whose inputs stream too.
     * Graph inputs count as streaming. `why`, when given, receives the reason of each node that cannot,
     * by step. Leaves the nodes prepared in an unspecified state: prepare again before streaming.
     */
    std::vector<char> streamingSteps(const StreamSpec& spec, std::map<size_t, std::string>* why = nullptr);

    void resetStream();
    int64_t latencySamples() const;

    const Graph& graph() const { return graph_; }
    const Plan& plan() const { return plan_; }

    /**
     * The precision the graph's networks compute in, from a word of graph/precision.h ("fp32", "bf16",
     * "fp16", "auto"), chosen for each network node's device: every network of the plan, or those of
     * `nodes` (ids; training sets the networks it runs every step, leaving the cached front end's
     * float32). Returns the choice for the first (for a graph without one, what the word means on the
     * CPU). Throws an Error at `where` as choosePrecision does.
     */
    PrecisionChoice setPrecision(const std::string& word, const Location& where,
                                 const std::vector<std::string>& nodes = {});

private:
    Ports gather(size_t step, const std::vector<Ports>& produced) const;
    std::map<std::string, Value> collect(const std::vector<Ports>& produced) const;
    void checkInputs(const std::map<std::string, Value>& inputs) const;
    /** Prepares the `active` steps to stream to `ends` (none: the outputs), or throws naming those that
     * refuse. */
    void prepareActive(const StreamSpec& spec, std::vector<char> active,
                       const std::vector<std::string>& ends);
    /** Prepares the `active` steps; the reasons of those that refuse, by step. */
    std::map<size_t, std::string> prepareSteps(const StreamSpec& spec, const std::vector<char>& active);
    std::vector<Ports> streamSteps(const std::map<std::string, Value>& blocks, bool finish);
    /** A block of silence through the prepared `active` steps: false, or true after deactivating the
     *  first step that refused it (its reason in `reasons`). */
    bool trialBlock(const StreamSpec& spec, std::vector<char>& active,
                    std::map<size_t, std::string>& reasons);
    /** Active steps: those `ends` need (all needed steps when empty). */
    std::vector<char> stepsFor(const std::vector<std::string>& ends) const;

    Graph& graph_;
    Plan plan_;
    std::vector<StepTiming> timings_;
    bool streaming_ = false;
    std::vector<char> streamed_;           ///< the steps prepared to stream
    std::vector<std::string> stream_ends_; ///< node ids whose values processBlockTo returns
};

} // namespace avgraph
