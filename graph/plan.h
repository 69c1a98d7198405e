#pragma once
/**
 * Plan: how a validated Graph will run.
 *
 * Fixes a topological order over the vertices the outputs need, groups them into levels (vertices
 * of one level do not depend on each other, so independent branches may run at once), resolves
 * each node's device ("cpu", "cuda", "cuda:N"; "auto" picks CUDA when this LibTorch has it) and
 * lists the transfers between devices that edges imply.
 */
#include "graph/graph.h"

#include <torch/types.h>

#include <string>
#include <vector>

namespace avgraph {

struct PlanStep {
    size_t vertex = 0;
    torch::Device device = torch::kCPU;
    int level = 0;             ///< longest path from a graph input
    std::vector<size_t> needs; ///< indices into Plan::steps this step waits for
};

struct Transfer {
    size_t from_vertex = 0, to_vertex = 0;
    torch::Device from = torch::kCPU, to = torch::kCPU;
};

class Plan {
public:
    /**
     * `default_device` applies to nodes whose preset names none ("" = "auto"); `default_from` is where
     * the caller got it (an option, a setting), for the error when it is no device. Throws an Error at
     * the node when it asks for CUDA and this LibTorch has none.
     */
    static Plan make(const Graph& graph, const std::string& default_device = "",
                     const Location& default_from = {});

    const std::vector<PlanStep>& steps() const { return steps_; }
    const std::vector<Transfer>& transfers() const { return transfers_; }
    /** Step index of a vertex, or -1 when the outputs do not need it. */
    int stepOf(size_t vertex) const { return step_of_[vertex]; }
    /** Number of steps per level: more than one means branches that may run concurrently. */
    std::vector<std::vector<size_t>> levels() const;
    /** Human-readable plan, one line per step. */
    std::string describe(const Graph& graph) const;

private:
    std::vector<PlanStep> steps_;
    std::vector<Transfer> transfers_;
    std::vector<int> step_of_;
};

/** Resolves "cpu", "cuda", "cuda:N" or "auto"/"" to a device this LibTorch can use, or throws. */
torch::Device resolveDevice(const std::string& name, const Location& where);

} // namespace avgraph
