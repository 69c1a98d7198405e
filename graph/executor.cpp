#include "graph/executor.h"

#include <ATen/Parallel.h>
#include <torch/types.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>

namespace avgraph {

namespace {
using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
} // namespace

Executor::Executor(Graph& graph, Plan plan) : graph_(graph), plan_(std::move(plan)) {
    for (const auto& step : plan_.steps())
        if (!graph_.vertex(step.vertex).is_input)
            graph_.node(step.vertex).to(step.device);
}

PrecisionChoice Executor::setPrecision(const std::string& word, const Location& where,
                                       const std::vector<std::string>& nodes) {
    std::optional<PrecisionChoice> first;
    for (const auto& step : plan_.steps()) {
        const auto& vx = graph_.vertex(step.vertex);
        if (vx.is_input || !graph_.node(step.vertex).module() ||
            (!nodes.empty() && std::find(nodes.begin(), nodes.end(), vx.id) == nodes.end()))
            continue;
        const auto choice = choosePrecision(word, step.device, where);
        graph_.node(step.vertex).setPrecision(choice.precision);
        if (!first)
            first = choice;
    }
    return first ? *first : choosePrecision(word, torch::kCPU, where);
}

void Executor::checkInputs(const std::map<std::string, Value>& inputs) const {
    for (const auto& step : plan_.steps()) {
        const auto& vx = graph_.vertex(step.vertex);
        if (vx.is_input && !inputs.count(vx.id))
            throw Error(graph_.preset().locate("/inputs"), "no value given for graph input '" + vx.id + "'");
    }
}

// The values on a step's input ports, moved to the step's device.
Ports Executor::gather(size_t s, const std::vector<Ports>& produced) const {
    const PlanStep& step = plan_.steps()[s];
    Ports in;
    for (const auto& c : graph_.incoming(step.vertex)) {
        const Ports& from = produced[static_cast<size_t>(plan_.stepOf(c.from))];
        auto it = from.find(c.from_port);
        if (it == from.end())
            throw graph_.vertex(c.from).node->error("produced no value on output '" + c.from_port + "'");
        in[c.to_port] = it->second.to(step.device);
    }
    return in;
}

std::map<std::string, Value> Executor::collect(const std::vector<Ports>& produced) const {
    std::map<std::string, Value> out;
    for (const auto& o : graph_.outputs()) {
        const Ports& ports = produced[static_cast<size_t>(plan_.stepOf(o.vertex))];
        auto it = ports.find(o.port);
        if (it == ports.end())
            throw graph_.vertex(o.vertex).node->error("produced no value on output '" + o.port + "'");
        out[o.name] = it->second;
    }
    return out;
}

namespace {
thread_local const ReplicaSum* current_replica_sum = nullptr;
} // namespace

const ReplicaSum* currentReplicaSum() { return current_replica_sum; }

ReplicaSumScope::ReplicaSumScope(const ReplicaSum* sum) : previous_(current_replica_sum) {
    current_replica_sum = sum && *sum ? sum : nullptr;
}
ReplicaSumScope::~ReplicaSumScope() { current_replica_sum = previous_; }

std::map<std::string, Value> Executor::run(const std::map<std::string, Value>& inputs,
                                           const RunOptions& options) {
    checkInputs(inputs);
    const auto& steps = plan_.steps();
    std::vector<Ports> produced(steps.size());
    timings_.assign(steps.size(), {});
    const ReplicaSum* replica_sum = options.replica_sum ? &options.replica_sum : currentReplicaSum();
    auto t0 = Clock::now();

    // One step: gather its inputs, run its node (or take the graph input), record the time.
    auto execute = [&](size_t s) {
        const auto& vx = graph_.vertex(steps[s].vertex);
        // Grad mode is thread-local: set it in the thread that runs the node.
        std::optional<torch::NoGradGuard> no_grad;
        if (!options.training)
            no_grad.emplace();
        ReplicaSumScope replicas(replica_sum); // the pool's threads see the caller's
        double start = secondsSince(t0);
        if (vx.is_input) {
            produced[s][""] = inputs.at(vx.id);
        } else {
            produced[s] = graph_.node(steps[s].vertex).process(gather(s, produced));
        }
        timings_[s] = {vx.id, vx.is_input ? "input" : vx.spec->type, start, secondsSince(t0) - start};
    };

    if (!options.concurrent) {
        for (size_t s = 0; s < steps.size(); ++s)
            execute(s);
        return collect(produced);
    }

    // Dependency-driven: a step is launched on the inter-op pool when the last step it needs ends.
    std::vector<std::vector<size_t>> dependents(steps.size());
    std::vector<size_t> waiting(steps.size());
    for (size_t s = 0; s < steps.size(); ++s) {
        waiting[s] = steps[s].needs.size();
        for (size_t n : steps[s].needs)
            dependents[n].push_back(s);
    }
    std::mutex mutex;
    std::condition_variable done_cv;
    size_t finished = 0, in_flight = 0;
    std::exception_ptr failure;

    std::function<void(size_t)> launch = [&](size_t s) {
        ++in_flight; // under the mutex
        at::launch([&, s] {
            std::exception_ptr error;
            try {
                execute(s);
            } catch (...) {
                error = std::current_exception();
            }
            std::lock_guard<std::mutex> lock(mutex);
            --in_flight;
            ++finished;
            if (error && !failure)
                failure = error;
            if (!failure)
                for (size_t d : dependents[s])
                    if (--waiting[d] == 0)
                        launch(d);
            done_cv.notify_all();
        });
    };
    {
        std::unique_lock<std::mutex> lock(mutex);
        for (size_t s = 0; s < steps.size(); ++s)
            if (waiting[s] == 0)
                launch(s);
        // After a failure, wait for the steps already running: they reference this frame.
        done_cv.wait(lock, [&] { return in_flight == 0 && (failure || finished == steps.size()); });
    }
    if (failure)
        std::rethrow_exception(failure);
    return collect(produced);
}

std::map<std::string, Ports> Executor::runPart(const std::map<std::string, Value>& inputs,
                                               const std::map<std::string, Ports>& given,
                                               const std::vector<std::string>& wanted,
                                               const RunOptions& options) {
    const auto& steps = plan_.steps();
    auto stepOfId = [&](const std::string& id) {
        size_t v = 0;
        try {
            v = graph_.find(id);
        } catch (const std::out_of_range&) {
            throw std::invalid_argument("Executor::runPart: no node or input '" + id + "'");
        }
        int s = plan_.stepOf(v);
        if (s < 0)
            throw std::invalid_argument("Executor::runPart: '" + id + "' is not needed by any output");
        return static_cast<size_t>(s);
    };
    std::vector<bool> is_given(graph_.size(), false); // by vertex
    for (const auto& [id, ports] : given)
        is_given[steps[stepOfId(id)].vertex] = true;
    // Walk back from the wanted nodes; given ones end the walk.
    std::vector<size_t> wanted_vertices;
    for (const auto& id : wanted)
        wanted_vertices.push_back(steps[stepOfId(id)].vertex);
    const auto active = graph_.ancestors(wanted_vertices, is_given); // by vertex

    std::optional<torch::NoGradGuard> no_grad;
    if (!options.training)
        no_grad.emplace();
    ReplicaSumScope replicas(options.replica_sum ? &options.replica_sum : currentReplicaSum());
    std::vector<Ports> produced(steps.size());
    for (size_t s = 0; s < steps.size(); ++s) {
        const size_t v = steps[s].vertex;
        if (!active[v])
            continue;
        const auto& vx = graph_.vertex(v);
        if (is_given[v]) {
            produced[s] = given.at(vx.id);
        } else if (vx.is_input) {
            auto it = inputs.find(vx.id);
            if (it == inputs.end())
                throw Error(graph_.preset().locate("/inputs"),
                            "no value given for graph input '" + vx.id + "'");
            produced[s][""] = it->second;
        } else {
            produced[s] = graph_.node(v).process(gather(s, produced));
        }
    }
    std::map<std::string, Ports> out;
    for (const auto& id : wanted)
        out[id] = produced[stepOfId(id)];
    return out;
}

std::vector<char> Executor::stepsFor(const std::vector<std::string>& ends) const {
    const auto& steps = plan_.steps();
    std::vector<char> active(steps.size(), ends.empty() ? 1 : 0);
    std::vector<size_t> stack;
    for (const auto& id : ends) {
        size_t v = 0;
        try {
            v = graph_.find(id);
        } catch (const std::out_of_range&) {
            throw std::invalid_argument("Executor: no node '" + id + "' to stream to");
        }
        if (plan_.stepOf(v) < 0)
            throw std::invalid_argument("Executor: node '" + id + "' is not needed by any output");
        stack.push_back(static_cast<size_t>(plan_.stepOf(v)));
    }
    while (!stack.empty()) {
        const size_t s = stack.back();
        stack.pop_back();
        if (active[s])
            continue;
        active[s] = 1;
        for (size_t n : steps[s].needs)
            stack.push_back(n);
    }
    return active;
}

std::map<size_t, std::string> Executor::prepareSteps(const StreamSpec& spec,
                                                     const std::vector<char>& active) {
    // Ask every node, so that one error names all the nodes that stand in the way.
    std::map<size_t, std::string> refusing;
    for (size_t s = 0; s < plan_.steps().size(); ++s) {
        const auto& vx = graph_.vertex(plan_.steps()[s].vertex);
        if (!active[s] || vx.is_input)
            continue;
        if (!vx.spec->streams) {
            refusing[s] = "only runs offline";
            continue;
        }
        // Deferred decibel clipping is for the stream's consumer: only a node whose values go nowhere
        // else (no streamed node reads them) may hand them on unclipped.
        StreamSpec node_spec = spec;
        for (const auto& c : graph_.outgoing(plan_.steps()[s].vertex)) {
            const int to = plan_.stepOf(c.to);
            if (to >= 0 && active[static_cast<size_t>(to)])
                node_spec.defer_top_db = false;
        }
        try {
            graph_.node(plan_.steps()[s].vertex).prepareStream(node_spec);
        } catch (const Error& e) {
            refusing[s] = e.message();
        }
    }
    return refusing;
}

std::vector<char> Executor::streamingSteps(const StreamSpec& spec, std::map<size_t, std::string>* why) {
    const auto& steps = plan_.steps();
    // First what the node specs say, in plan order (a step's needs come before it); then ask the nodes.
    // A node's deferral depends on which nodes after it stream, so shrink the set until it holds.
    std::vector<char> active(steps.size(), 1);
    std::map<size_t, std::string> reasons;
    for (size_t s = 0; s < steps.size(); ++s) {
        const auto& vx = graph_.vertex(steps[s].vertex);
        if (!vx.is_input && !vx.spec->streams) {
            active[s] = 0;
            reasons[s] = "only runs offline";
            continue;
        }
        for (size_t n : steps[s].needs)
            if (!active[n]) {
                active[s] = 0;
                reasons[s] = "reads '" + graph_.vertex(steps[n].vertex).id + "', which does not stream";
            }
    }
    for (;;) {
        auto refusing = prepareSteps(spec, active);
        bool changed = false;
        for (size_t s = 0; s < steps.size(); ++s) { // plan order: a step's needs come before it
            if (!active[s])
                continue;
            std::string reason;
            if (auto it = refusing.find(s); it != refusing.end()) {
                reason = it->second;
            } else {
                for (size_t n : steps[s].needs)
                    if (!active[n])
                        reason = "reads '" + graph_.vertex(steps[n].vertex).id + "', which does not stream";
            }
            if (!reason.empty()) {
                active[s] = 0;
                reasons[s] = reason;
                changed = true;
            }
        }
        if (!changed)
            changed = trialBlock(spec, active, reasons);
        if (!changed)
            break;
    }
    if (why)
        *why = reasons;
    return active;
}

bool Executor::trialBlock(const StreamSpec& spec, std::vector<char>& active,
                          std::map<size_t, std::string>& reasons) {
    // Some nodes learn what their input is only from a block (features.mfcc: audio, or a spectrum), and
    // only then can refuse: a short block of silence through the prepared steps finds them.
    const auto& steps = plan_.steps();
    std::vector<Ports> produced(steps.size());
    torch::NoGradGuard no_grad;
    for (size_t s = 0; s < steps.size(); ++s) {
        if (!active[s])
            continue;
        const auto& vx = graph_.vertex(steps[s].vertex);
        if (vx.is_input) {
            const auto kind = vx.output_kinds.find("");
            if (kind == vx.output_kinds.end() || kind->second != Kind::Audio || spec.sample_rate <= 0.0)
                return false; // only audio inputs have a block to try
            Value silence;
            silence.tensor = torch::zeros(
                {1, std::max<int64_t>(spec.channels, 1), std::min<int64_t>(spec.max_block, 1024)});
            silence.kind = Kind::Audio;
            silence.sample_rate = spec.sample_rate;
            silence.axes = {"batch", "channel", "sample"};
            produced[s][""] = silence;
            continue;
        }
        try {
            produced[s] = graph_.node(steps[s].vertex).processBlock(gather(s, produced));
        } catch (const Error& e) {
            active[s] = 0;
            reasons[s] = e.message();
            return true;
        }
    }
    return false;
}

void Executor::prepareStream(const StreamSpec& spec) { prepareActive(spec, stepsFor({}), {}); }

void Executor::prepareStreamTo(const StreamSpec& spec, const std::vector<std::string>& ends) {
    if (ends.empty())
        throw std::invalid_argument("Executor::prepareStreamTo: no node to stream to");
    prepareActive(spec, stepsFor(ends), ends);
}

void Executor::prepareActive(const StreamSpec& spec, std::vector<char> active,
                             const std::vector<std::string>& ends) {
    auto refusing = prepareSteps(spec, active);
    if (!refusing.empty()) {
        std::string text;
        for (const auto& [s, why] : refusing) {
            const auto& vx = graph_.vertex(plan_.steps()[s].vertex);
            text += "\n  " + vx.id + " (" + vx.spec->type + "): " + why;
        }
        throw Error(graph_.preset().locate(""),
                    std::string(ends.empty() ? "cannot stream this graph:" : "cannot stream this far:") +
                        text);
    }
    streamed_ = std::move(active);
    stream_ends_ = ends;
    streaming_ = true;
}

std::vector<Ports> Executor::streamSteps(const std::map<std::string, Value>& blocks, bool finish) {
    if (!streaming_)
        throw std::logic_error("Executor: a block before prepareStream");
    const auto& steps = plan_.steps();
    for (size_t s = 0; s < steps.size(); ++s) {
        const auto& vx = graph_.vertex(steps[s].vertex);
        if (streamed_[s] && vx.is_input && !blocks.count(vx.id))
            throw Error(graph_.preset().locate("/inputs"), "no value given for graph input '" + vx.id + "'");
    }
    torch::NoGradGuard no_grad;
    std::vector<Ports> produced(steps.size());
    for (size_t s = 0; s < steps.size(); ++s) {
        if (!streamed_[s])
            continue;
        const auto& vx = graph_.vertex(steps[s].vertex);
        Node* node = vx.is_input ? nullptr : &graph_.node(steps[s].vertex);
        if (!node)
            produced[s][""] = blocks.at(vx.id);
        else if (finish)
            produced[s] = node->finishStream(gather(s, produced));
        else
            produced[s] = node->processBlock(gather(s, produced));
    }
    return produced;
}

std::map<std::string, Value> Executor::processBlock(const std::map<std::string, Value>& blocks) {
    if (streaming_ && !stream_ends_.empty())
        throw std::logic_error("Executor::processBlock on a stream prepared with prepareStreamTo");
    return collect(streamSteps(blocks, false));
}

std::map<std::string, Value> Executor::finishStream(const std::map<std::string, Value>& last) {
    if (streaming_ && !stream_ends_.empty())
        throw std::logic_error("Executor::finishStream on a stream prepared with prepareStreamTo");
    return collect(streamSteps(last, true));
}

std::map<std::string, Ports> Executor::processBlockTo(const std::map<std::string, Value>& blocks,
                                                      bool finish) {
    auto produced = streamSteps(blocks, finish);
    std::map<std::string, Ports> out;
    for (const auto& id : stream_ends_)
        out[id] = produced[static_cast<size_t>(plan_.stepOf(graph_.find(id)))];
    return out;
}

void Executor::resetStream() {
    for (const auto& step : plan_.steps())
        if (!graph_.vertex(step.vertex).is_input)
            graph_.node(step.vertex).resetStream();
}

int64_t Executor::latencySamples() const {
    const auto& steps = plan_.steps();
    std::vector<int64_t> latency(steps.size(), 0);
    for (size_t s = 0; s < steps.size(); ++s) {
        int64_t before = 0;
        for (size_t n : steps[s].needs)
            before = std::max(before, latency[n]);
        const auto& vx = graph_.vertex(steps[s].vertex);
        latency[s] = before + (vx.is_input ? 0 : vx.node->latencySamples());
    }
    int64_t worst = 0;
    for (const auto& o : graph_.outputs())
        worst = std::max(worst, latency[static_cast<size_t>(plan_.stepOf(o.vertex))]);
    return worst;
}

} // namespace avgraph
