#include "graph/executor.h"

#include <ATen/Parallel.h>
#include <torch/types.h>

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

std::map<std::string, Value> Executor::run(const std::map<std::string, Value>& inputs,
                                           const RunOptions& options) {
    checkInputs(inputs);
    const auto& steps = plan_.steps();
    std::vector<Ports> produced(steps.size());
    timings_.assign(steps.size(), {});
    auto t0 = Clock::now();

    // One step: gather its inputs, run its node (or take the graph input), record the time.
    auto execute = [&](size_t s) {
        const auto& vx = graph_.vertex(steps[s].vertex);
        // Grad mode is thread-local: set it in the thread that runs the node.
        std::optional<torch::NoGradGuard> no_grad;
        if (!options.training)
            no_grad.emplace();
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
    std::vector<char> is_given(steps.size(), 0), active(steps.size(), 0);
    for (const auto& [id, ports] : given)
        is_given[stepOfId(id)] = 1;
    // Walk back from the wanted steps; given steps end the walk.
    std::vector<size_t> stack;
    for (const auto& id : wanted)
        stack.push_back(stepOfId(id));
    while (!stack.empty()) {
        size_t s = stack.back();
        stack.pop_back();
        if (active[s])
            continue;
        active[s] = 1;
        if (!is_given[s])
            for (size_t n : steps[s].needs)
                stack.push_back(n);
    }

    std::optional<torch::NoGradGuard> no_grad;
    if (!options.training)
        no_grad.emplace();
    std::vector<Ports> produced(steps.size());
    for (size_t s = 0; s < steps.size(); ++s) {
        if (!active[s])
            continue;
        const auto& vx = graph_.vertex(steps[s].vertex);
        if (is_given[s]) {
            produced[s] = given.at(vx.id);
        } else if (vx.is_input) {
            auto it = inputs.find(vx.id);
            if (it == inputs.end())
                throw Error(graph_.preset().locate("/inputs"),
                            "no value given for graph input '" + vx.id + "'");
            produced[s][""] = it->second;
        } else {
            produced[s] = graph_.node(steps[s].vertex).process(gather(s, produced));
        }
    }
    std::map<std::string, Ports> out;
    for (const auto& id : wanted)
        out[id] = produced[stepOfId(id)];
    return out;
}

void Executor::prepareStream(const StreamSpec& spec) {
    // Ask every node, so that one error names all the nodes that stand in the way.
    std::string refusing;
    for (const auto& step : plan_.steps()) {
        const auto& vx = graph_.vertex(step.vertex);
        std::string why;
        if (vx.is_input)
            continue;
        if (!vx.spec->streams) {
            why = "only runs offline";
        } else {
            try {
                graph_.node(step.vertex).prepareStream(spec);
            } catch (const Error& e) {
                why = e.message();
            }
        }
        if (!why.empty())
            refusing += "\n  " + vx.id + " (" + vx.spec->type + "): " + why;
    }
    if (!refusing.empty())
        throw Error(graph_.preset().locate(""), "cannot stream this graph:" + refusing);
    streaming_ = true;
}

std::map<std::string, Value> Executor::processBlock(const std::map<std::string, Value>& blocks) {
    if (!streaming_)
        throw std::logic_error("Executor::processBlock before prepareStream");
    checkInputs(blocks);
    torch::NoGradGuard no_grad;
    const auto& steps = plan_.steps();
    std::vector<Ports> produced(steps.size());
    for (size_t s = 0; s < steps.size(); ++s) {
        const auto& vx = graph_.vertex(steps[s].vertex);
        if (vx.is_input)
            produced[s][""] = blocks.at(vx.id);
        else
            produced[s] = graph_.node(steps[s].vertex).processBlock(gather(s, produced));
    }
    return collect(produced);
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
