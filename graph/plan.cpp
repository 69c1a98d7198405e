#include "graph/plan.h"

#include <torch/cuda.h>

#include <algorithm>
#include <sstream>

namespace avgraph {

torch::Device resolveDevice(const std::string& name, const Location& where) {
    if (name.empty() || name == "auto")
        return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
    if (name == "cpu")
        return torch::kCPU;
    if (name.rfind("cuda", 0) == 0) {
        if (!torch::cuda::is_available())
            throw Error(where, "device '" + name +
                                   "' was asked for, but this LibTorch build has no CUDA device; "
                                   "use cpu or auto");
        torch::Device d(name);
        int64_t count = static_cast<int64_t>(torch::cuda::device_count());
        if (d.has_index() && d.index() >= count)
            throw Error(where, "device '" + name + "' was asked for, but only " + std::to_string(count) +
                                   " CUDA device(s) exist");
        return d.has_index() ? d : torch::Device(torch::kCUDA, 0);
    }
    throw Error(where, "unknown device '" + name + "' (expected cpu, cuda, cuda:N or auto)");
}

Plan Plan::make(const Graph& graph, const std::string& default_device, const Location& default_from) {
    Plan plan;
    auto needed = graph.neededForOutputs();
    plan.step_of_.assign(graph.size(), -1);
    torch::Device fallback = resolveDevice(default_device, default_from);
    for (size_t v : graph.topologicalOrder()) {
        if (!needed[v])
            continue;
        const auto& vx = graph.vertex(v);
        PlanStep step;
        step.vertex = v;
        // Graph inputs are decoded on the CPU; nodes go where the preset, or else the host, says.
        step.device = vx.is_input ? torch::Device(torch::kCPU)
                                  : (vx.device.empty() ? fallback : resolveDevice(vx.device, vx.where));
        for (const auto& c : graph.incoming(v)) {
            int s = plan.step_of_[c.from];
            if (std::find(step.needs.begin(), step.needs.end(), static_cast<size_t>(s)) == step.needs.end())
                step.needs.push_back(static_cast<size_t>(s));
            step.level = std::max(step.level, plan.steps_[static_cast<size_t>(s)].level + 1);
            const torch::Device& src = plan.steps_[static_cast<size_t>(s)].device;
            if (src != step.device)
                plan.transfers_.push_back({c.from, v, src, step.device});
        }
        plan.step_of_[v] = static_cast<int>(plan.steps_.size());
        plan.steps_.push_back(step);
    }
    return plan;
}

std::vector<std::vector<size_t>> Plan::levels() const {
    std::vector<std::vector<size_t>> out;
    for (size_t s = 0; s < steps_.size(); ++s) {
        size_t level = static_cast<size_t>(steps_[s].level);
        if (out.size() <= level)
            out.resize(level + 1);
        out[level].push_back(s);
    }
    return out;
}

std::string Plan::describe(const Graph& graph) const {
    std::ostringstream out;
    for (const auto& step : steps_) {
        const auto& vx = graph.vertex(step.vertex);
        out << "  level " << step.level << "  " << vx.id << "  ("
            << (vx.is_input ? std::string("input") : vx.spec->type) << ")  on " << step.device.str();
        if (!step.needs.empty()) {
            out << "  after";
            for (size_t n : step.needs)
                out << " " << graph.vertex(steps_[n].vertex).id;
        }
        out << "\n";
    }
    for (const auto& t : transfers_)
        out << "  transfer " << graph.vertex(t.from_vertex).id << " -> " << graph.vertex(t.to_vertex).id
            << ": " << t.from.str() << " -> " << t.to.str() << "\n";
    return out.str();
}

} // namespace avgraph
