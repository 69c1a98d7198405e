#include "io/runtime.h"

#include "nodes/builtin_nodes.h"

#include <ATen/Parallel.h>

#include <malloc.h>

#include <limits>
#include <thread>

namespace avgraph::host {

void configureAllocator() {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
}

void configureThreads(int threads) {
    int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    int n = threads > 0 ? threads : cores;
    at::set_num_threads(n);
    // The inter-op pool can be sized once per process, before its first use.
    static bool interop_set = [&] {
        at::set_num_interop_threads(std::max(2, cores));
        return true;
    }();
    (void)interop_set;
}

std::unique_ptr<Registry> makeRegistry(const std::vector<std::filesystem::path>& node_libraries) {
    auto registry = std::make_unique<Registry>();
    nodes::registerBuiltinNodes(*registry);
    for (const auto& lib : node_libraries)
        registry->loadLibrary(lib);
    return registry;
}

} // namespace avgraph::host
