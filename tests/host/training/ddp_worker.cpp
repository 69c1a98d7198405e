// A data-parallel training worker for tests/host/training/distributed_test.cpp: a few SGD steps of a
// small CNN9 on fixed random data, as one process (WORLD_SIZE unset) or as one rank of several (the
// environment torchrun sets). Every rank writes its weights to OUT_PREFIX-rank<R>.pt.
//
//   ddp_worker OUT_PREFIX [--no-sync] [--float64 | --bf16] [--steps N]
//
// --no-sync skips the gradient allreduce (each rank steps on its own slice's gradient), so the test can
// show that its comparison fails when the ranks are not synchronised. --float64 trains in double
// precision: the ranks' partial sums round differently from one process's whole sums, and in float32
// a pre-activation within rounding of zero can then take the other side of a ReLU, a difference that
// training amplifies; in float64 that does not happen within a few steps, so the weights can be
// compared tightly. --bf16 runs the network's forward pass under bf16 autocast (graph/precision.h), as
// `avgraph train` with "precision": "bf16" does, with float32 weights and a float32 loss.
#include "graph/precision.h"
#include "host/training/distributed.h"
#include "nodes/models/batch_norm.h"
#include "nodes/models/model_weights.h"
#include "nodes/models/networks.h"

#include <exception>
#include <iostream>
#include <string>

namespace {

constexpr int64_t kGlobalBatch = 8;
constexpr int64_t kDefaultSteps = 4;
constexpr int64_t kClasses = 3;

int train(const std::string& out_prefix, bool sync_gradients, torch::Dtype dtype,
          avgraph::Precision precision, int64_t steps) {
    namespace training = avgraph::host::training;
    // Two ranks share two cores with the build: one intra-op thread each.
    torch::set_num_threads(1);
    const auto group = training::DataParallel::fromEnvironment();
    const int rank = group ? group->rank() : 0;
    const int world = group ? group->worldSize() : 1;
    avgraph::ReplicaSum replica_sum;
    if (group)
        replica_sum = group->batchStatsReducer();
    avgraph::ReplicaSumScope replicas(&replica_sum);

    // Each rank starts from other random weights: only the broadcast from rank 0 makes them equal to
    // the one-process run's (seeded like rank 0).
    torch::manual_seed(100 + rank);
    avgraph::nodes::Cnn9 net(1, std::vector<int64_t>{8, 8, 16, 16}, kClasses, /*dropout=*/0.0);
    net->to(dtype);
    if (group) {
        std::vector<torch::Tensor> state;
        for (auto& p : net->parameters())
            state.push_back(p);
        for (auto& b : net->buffers())
            state.push_back(b);
        group->broadcast(state, 0);
    }

    // The same data on every rank; each trains on its slice of every global batch.
    torch::manual_seed(1);
    const auto images = torch::randn({steps * kGlobalBatch, 1, 32, 32}, torch::TensorOptions(dtype));
    const auto labels = torch::randint(kClasses, {steps * kGlobalBatch}, torch::kLong);
    const auto [begin, end] = training::shardRange(kGlobalBatch, rank, world);

    torch::optim::SGD optimizer(net->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
    net->train();
    for (int64_t step = 0; step < steps; ++step) {
        const int64_t first = step * kGlobalBatch;
        const auto x = images.slice(0, first + begin, first + end);
        const auto y = labels.slice(0, first + begin, first + end);
        optimizer.zero_grad();
        // Summed over this rank's items and divided by the global batch: the ranks' losses add up to
        // the one-process mean, and so do their gradients.
        torch::Tensor logits;
        {
            avgraph::AutocastScope autocast(precision, c10::DeviceType::CPU);
            logits = net->forward(x);
        }
        const auto loss = torch::nn::functional::cross_entropy(
                              logits.to(dtype), y,
                              torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)) /
                          kGlobalBatch;
        loss.backward();
        if (group && sync_gradients) {
            std::vector<torch::Tensor> gradients;
            for (auto& p : net->parameters())
                gradients.push_back(p.grad());
            group->allreduceSum(gradients);
        }
        optimizer.step();
    }
    avgraph::nodes::saveWeights(*net, out_prefix + "-rank" + std::to_string(rank) + ".pt");
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    bool sync = true, usage_error = argc < 2;
    torch::Dtype dtype = torch::kFloat32;
    avgraph::Precision precision = avgraph::Precision::fp32;
    int64_t steps = kDefaultSteps;
    for (int i = 2; i < argc; ++i) {
        const std::string option = argv[i];
        if (option == "--no-sync")
            sync = false;
        else if (option == "--float64")
            dtype = torch::kFloat64;
        else if (option == "--bf16")
            precision = avgraph::Precision::bf16;
        else if (option == "--steps" && i + 1 < argc)
            steps = std::stoll(argv[++i]);
        else
            usage_error = true;
    }
    if (usage_error) {
        std::cerr << "usage: ddp_worker OUT_PREFIX [--no-sync] [--float64 | --bf16] [--steps N]\n";
        return 2;
    }
    try {
        return train(argv[1], sync, dtype, precision, steps);
    } catch (const std::exception& e) {
        std::cerr << "ddp_worker: " << e.what() << "\n";
        return 1;
    }
}
