#pragma once
/**
 * Data-parallel training over several processes or machines through LibTorch's c10d.
 *
 * Every process (rank) holds the whole network and trains on its slice of each global batch
 * (shardRange); after each backward pass the gradients are summed over the ranks (allreduceSum), so
 * every rank takes the same optimiser step and the weights stay equal on all of them. Batch-norm
 * statistics are taken over the global batch through the replica sum batchStatsReducer() gives
 * (RunOptions/ReplicaSumScope), and the initial weights are broadcast from rank 0. With the loss of each rank
 * normalised by the global batch size, training gives the same weights as one process on the same data,
 * within float tolerance (dropout masks excepted: they are drawn per process).
 *
 * The group is set up from the environment that torchrun and Slurm launchers set (docs/distributed.md):
 * RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT. Rank 0 hosts a c10d::TCPStore at MASTER_ADDR:MASTER_PORT
 * where the ranks exchange their addresses; the collectives then run over Gloo (TCP, CPU tensors).
 * AVGRAPH_DIST_BACKEND=nccl is refused: Debian's LibTorch is built without NCCL.
 *
 * The trainer reaches the group through a Collective (the functions it calls each step), so that one
 * process needs no group at all.
 */
#include "nodes/models/batch_norm.h"

#include <torch/torch.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace avgraph::host::training {

/**
 * What training needs from the other data-parallel processes (a DataParallel group, or a test's
 * stand-in); the defaults are one process, for which every function below does nothing.
 */
struct Collective {
    int rank = 0;
    int world_size = 1;
    /** Sums tensors over the processes, in place. */
    std::function<void(std::vector<torch::Tensor>&)> allreduce_sum;
    /** Copies rank 0's tensors to the other processes, in place. */
    std::function<void(std::vector<torch::Tensor>&)> broadcast;
    bool active() const { return world_size > 1; }
};

/** Every process starts from rank 0's weights: each module's parameters, then its buffers, broadcast. */
void broadcastModules(const Collective& collective, const std::vector<torch::nn::Module*>& modules);

/** Sums the parameters' gradients over the processes, in place (a missing gradient counts as zeros). */
void sumGradients(const Collective& collective, std::vector<torch::Tensor>& parameters);

/** Sums numbers over the processes, as one message of doubles. */
std::vector<double> sumOverProcesses(const Collective& collective, std::vector<double> values);

/**
 * The [begin, end) slice of n items that `rank` of `world` processes takes: contiguous, in rank order,
 * sizes differing by at most one, the first n % world ranks taking one more. A rank may get an empty
 * slice when n < world.
 */
std::pair<size_t, size_t> shardRange(size_t n, int rank, int world);

class DataParallel {
public:
    /**
     * From RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (torchrun / Slurm conventions; LOCAL_RANK ignored
     * on CPU). nullptr when WORLD_SIZE is unset or 1. Bad values -> avgraph::Error naming the variable
     * and what was expected; peers that never show up -> an Error naming MASTER_ADDR:MASTER_PORT after
     * a timeout (default 300 s, AVGRAPH_DIST_TIMEOUT seconds overrides; it also bounds how long a
     * collective waits for a slow peer). Rank 0 hosts the TCPStore. GLOO_SOCKET_IFNAME picks the
     * network interface as in PyTorch; by default Gloo binds to loopback when MASTER_ADDR is a
     * loopback address, else to the address this machine's host name resolves to.
     */
    static std::unique_ptr<DataParallel> fromEnvironment();

    ~DataParallel();
    DataParallel(const DataParallel&) = delete;
    DataParallel& operator=(const DataParallel&) = delete;

    int rank() const;
    int worldSize() const;

    /**
     * Sums the tensors over all ranks, in place. CPU float or double tensors (defined; any shape);
     * they travel as one flat buffer per dtype, so a network's gradients cost one message each step.
     * Throws std::invalid_argument for another device or dtype, avgraph::Error when a peer is lost.
     */
    void allreduceSum(std::vector<torch::Tensor>& tensors);

    /** Copies root's tensors into every rank's, in place (any CPU dtype: buffers include int64). */
    void broadcast(std::vector<torch::Tensor>& tensors, int root = 0);

    /** Returns when every rank has called it. */
    void barrier();

    /**
     * A BatchStatsReducer over this group, the replica sum of its training runs (a custom
     * torch::autograd::Function whose forward and backward are allreduce-sum). It keeps the group
     * alive as long as it is set.
     */
    nodes::BatchStatsReducer batchStatsReducer();

private:
    struct Group;
    explicit DataParallel(std::shared_ptr<Group> group);
    std::shared_ptr<Group> group_;
};

} // namespace avgraph::host::training
