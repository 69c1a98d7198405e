#include "host/training/distributed.h"

#include "graph/error.h"
#include "io/input_files.h"

// c10d declares the Gloo process group only under USE_C10D_GLOO, which Torch's CMake package defines
// for builds that have it; Debian's LibTorch does (libtorch_cpu.so exports c10d::ProcessGroupGloo and
// links the system libgloo, whose headers libgloo-dev installs).
#ifndef USE_C10D_GLOO
#error "this LibTorch has no Gloo process group (USE_C10D_GLOO): data-parallel training needs one"
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdlib>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>

namespace avgraph::host::training {

namespace {

constexpr double kDefaultTimeoutSeconds = 300;

/** The value of an environment variable, or nullptr when it is unset or empty. */
const char* environment(const char* name) {
    const char* value = std::getenv(name);
    return value && *value ? value : nullptr;
}

[[noreturn]] void badVariable(const std::string& name, const std::string& value,
                              const std::string& expected) {
    throw Error({}, name + "='" + value + "': expected " + expected);
}

/** A whole decimal number in [min, max], or an Error naming the variable. */
long parseInteger(const char* name, const std::string& value, long min, long max,
                  const std::string& expected) {
    size_t used = 0;
    long parsed = 0;
    try {
        parsed = std::stol(value, &used);
    } catch (const std::exception&) {
        badVariable(name, value, expected);
    }
    if (used != value.size() || parsed < min || parsed > max)
        badVariable(name, value, expected);
    return parsed;
}

double timeoutSeconds() {
    const char* text = environment("AVGRAPH_DIST_TIMEOUT");
    if (!text)
        return kDefaultTimeoutSeconds;
    const std::string value = text;
    size_t used = 0;
    double seconds = 0;
    try {
        seconds = std::stod(value, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != value.size() || !(seconds > 0) || seconds > 1e7)
        badVariable("AVGRAPH_DIST_TIMEOUT", value, "a positive number of seconds");
    return seconds;
}

bool isLoopback(const std::string& address) {
    return address == "localhost" || address == "::1" || address.rfind("127.", 0) == 0;
}

/** c10 errors carry a C++ backtrace in what(); users need the message only (without a final full stop:
 * it is quoted inside a sentence). */
std::string reason(const std::exception& e) {
    const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
    std::string text = c10_error ? c10_error->what_without_backtrace() : e.what();
    while (!text.empty() && (text.back() == '.' || text.back() == '\n' || text.back() == ' '))
        text.pop_back();
    return text;
}

} // namespace

std::pair<size_t, size_t> shardRange(size_t n, int rank, int world) {
    if (world < 1 || rank < 0 || rank >= world)
        throw std::invalid_argument("shardRange: rank " + std::to_string(rank) + " of " +
                                    std::to_string(world));
    // The split of `avgraph run --shard`: rank r takes shard r + 1 of world.
    return host::shardRange(n, Shard{static_cast<size_t>(rank) + 1, static_cast<size_t>(world)});
}

struct DataParallel::Group {
    int rank = 0;
    int world_size = 1;
    std::string master; ///< "MASTER_ADDR:MASTER_PORT = host:port", for messages
    c10::intrusive_ptr<c10d::Store> store;
    c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;

    /** Waits for a collective, turning a lost peer or a timeout into an Error that says where. */
    void wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what) const {
        try {
            work->wait();
        } catch (const std::exception& e) {
            throw Error({}, std::string("data-parallel ") + what + " failed on rank " + std::to_string(rank) +
                                " of " + std::to_string(world_size) + " (" + master + "): " + reason(e));
        }
    }

    /**
     * Runs `collective` on the tensors packed into one flat buffer per dtype, then copies the buffers
     * back: one message per dtype instead of one per tensor.
     */
    template <typename Collective>
    void coalesced(std::vector<torch::Tensor>& tensors, Collective collective) {
        torch::NoGradGuard no_grad;
        std::map<c10::ScalarType, std::vector<torch::Tensor*>> by_dtype;
        for (auto& t : tensors)
            by_dtype[t.scalar_type()].push_back(&t);
        for (auto& [dtype, group] : by_dtype) {
            std::vector<torch::Tensor> flat_parts;
            flat_parts.reserve(group.size());
            for (auto* t : group)
                flat_parts.push_back(t->reshape({-1}));
            std::vector<torch::Tensor> buffer{torch::cat(flat_parts)};
            collective(buffer);
            int64_t offset = 0;
            for (auto* t : group) {
                const int64_t n = t->numel();
                t->copy_(buffer[0].slice(0, offset, offset + n).view_as(*t));
                offset += n;
            }
        }
    }
};

std::unique_ptr<DataParallel> DataParallel::fromEnvironment() {
    const char* world_text = environment("WORLD_SIZE");
    if (!world_text)
        return nullptr;
    const int world_size =
        static_cast<int>(parseInteger("WORLD_SIZE", world_text, 1, std::numeric_limits<int>::max(),
                                      "a positive whole number of processes"));
    if (world_size == 1)
        return nullptr;

    if (const char* backend = environment("AVGRAPH_DIST_BACKEND");
        backend && std::string(backend) != "gloo") {
        if (std::string(backend) == "nccl")
            throw Error({}, "AVGRAPH_DIST_BACKEND='nccl': this LibTorch is a CPU build without NCCL (NCCL "
                            "needs a CUDA LibTorch built with it); expected gloo");
        badVariable("AVGRAPH_DIST_BACKEND", backend, "gloo");
    }

    const char* rank_text = environment("RANK");
    if (!rank_text)
        throw Error({}, "RANK is unset: expected this process's rank in [0, " + std::to_string(world_size) +
                            ") since WORLD_SIZE=" + std::to_string(world_size));
    const int rank = static_cast<int>(
        parseInteger("RANK", rank_text, 0, world_size - 1,
                     "a whole number in [0, WORLD_SIZE=" + std::to_string(world_size) + ")"));
    const char* address = environment("MASTER_ADDR");
    if (!address)
        throw Error({}, "MASTER_ADDR is unset: expected the host name or address of rank 0's machine");
    const char* port_text = environment("MASTER_PORT");
    if (!port_text)
        throw Error({}, "MASTER_PORT is unset: expected the TCP port rank 0 listens on (1-65535)");
    const auto port = static_cast<uint16_t>(
        parseInteger("MASTER_PORT", port_text, 1, 65535, "a TCP port number in 1-65535"));
    const double seconds = timeoutSeconds();
    const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));

    auto group = std::make_shared<Group>();
    group->rank = rank;
    group->world_size = world_size;
    group->master = std::string("MASTER_ADDR:MASTER_PORT = ") + address + ":" + port_text;
    try {
        c10d::TCPStoreOptions store_options;
        store_options.port = port;
        store_options.isServer = rank == 0;
        store_options.numWorkers = world_size;
        // The Gloo rendezvous below waits for the peers (with the same timeout); waiting in the store
        // as well would double the time a user waits for a peer that never comes.
        store_options.waitWorkers = false;
        store_options.timeout = timeout;
        group->store = c10::make_intrusive<c10d::TCPStore>(address, store_options);

        auto options = c10d::ProcessGroupGloo::Options::create(timeout);
        if (const char* interface = environment("GLOO_SOCKET_IFNAME"))
            options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
        else if (isLoopback(address))
            // All ranks are on this machine: loopback works even where the host name does not resolve.
            options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(address));
        else
            options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
        group->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(group->store, rank, world_size, options);
    } catch (const std::exception& e) {
        throw Error({}, "rank " + std::to_string(rank) + " of " + std::to_string(world_size) +
                            " could not join the data-parallel group at " + group->master + " within " +
                            std::to_string(static_cast<int64_t>(seconds)) +
                            " s (AVGRAPH_DIST_TIMEOUT): " + reason(e) +
                            ". Are all ranks started with the same MASTER_ADDR, MASTER_PORT and WORLD_SIZE, "
                            "and is the port free on rank 0's machine?");
    }
    return std::unique_ptr<DataParallel>(new DataParallel(std::move(group)));
}

DataParallel::DataParallel(std::shared_ptr<Group> group) : group_(std::move(group)) {}
DataParallel::~DataParallel() = default;

int DataParallel::rank() const { return group_->rank; }
int DataParallel::worldSize() const { return group_->world_size; }

void DataParallel::allreduceSum(std::vector<torch::Tensor>& tensors) {
    for (size_t i = 0; i < tensors.size(); ++i) {
        const auto& t = tensors[i];
        if (!t.defined() || !t.device().is_cpu() ||
            (t.scalar_type() != torch::kFloat32 && t.scalar_type() != torch::kFloat64))
            throw std::invalid_argument("allreduceSum: tensor " + std::to_string(i) +
                                        " is not a defined CPU float or double tensor");
    }
    group_->coalesced(tensors, [&](std::vector<torch::Tensor>& buffer) {
        group_->wait(group_->gloo->allreduce(buffer), "allreduce");
    });
}

void DataParallel::broadcast(std::vector<torch::Tensor>& tensors, int root) {
    if (root < 0 || root >= group_->world_size)
        throw std::invalid_argument("broadcast: root " + std::to_string(root) + " is not a rank");
    for (size_t i = 0; i < tensors.size(); ++i)
        if (!tensors[i].defined() || !tensors[i].device().is_cpu())
            throw std::invalid_argument("broadcast: tensor " + std::to_string(i) +
                                        " is not a defined CPU tensor");
    c10d::BroadcastOptions options;
    options.rootRank = root;
    group_->coalesced(tensors, [&](std::vector<torch::Tensor>& buffer) {
        group_->wait(group_->gloo->broadcast(buffer, options), "broadcast");
    });
}

void DataParallel::barrier() { group_->wait(group_->gloo->barrier(), "barrier"); }

nodes::BatchStatsReducer DataParallel::batchStatsReducer() {
    // The closure owns the group: a reducer still set after the DataParallel is gone keeps working.
    std::shared_ptr<Group> group = group_;
    return nodes::differentiableSum([group](torch::Tensor t) {
        std::vector<torch::Tensor> buffer{std::move(t)};
        group->wait(group->gloo->allreduce(buffer), "batch-norm statistics allreduce");
        return buffer[0];
    });
}

void broadcastModules(const Collective& collective, const std::vector<torch::nn::Module*>& modules) {
    if (!collective.active())
        return;
    std::vector<torch::Tensor> state;
    torch::NoGradGuard no_grad;
    for (auto* m : modules) {
        for (auto& p : m->parameters())
            state.push_back(p.data());
        for (auto& b : m->buffers())
            state.push_back(b);
    }
    collective.broadcast(state);
}

void sumGradients(const Collective& collective, std::vector<torch::Tensor>& parameters) {
    if (!collective.active())
        return;
    std::vector<torch::Tensor> grads;
    for (auto& p : parameters) {
        if (!p.grad().defined())
            p.mutable_grad() = torch::zeros_like(p);
        grads.push_back(p.grad());
    }
    collective.allreduce_sum(grads);
}

std::vector<double> sumOverProcesses(const Collective& collective, std::vector<double> values) {
    if (!collective.active())
        return values;
    std::vector<torch::Tensor> sums{torch::tensor(values, torch::kDouble)};
    collective.allreduce_sum(sums);
    for (size_t i = 0; i < values.size(); ++i)
        values[i] = sums[0][static_cast<int64_t>(i)].item<double>();
    return values;
}

} // namespace avgraph::host::training
