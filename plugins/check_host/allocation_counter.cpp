#include "plugins/check_host/allocation_counter.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <link.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstring>

#include <cstdlib>
#include <new>

// glibc's own entry points: the definitions below forward to them.
extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);
// glibc's locks bound to explicit symbol versions: calling them does not come back here.
int avgraph_glibc_mutex_lock(pthread_mutex_t*);
__asm__(".symver avgraph_glibc_mutex_lock,__pthread_mutex_lock@GLIBC_2.2.5");
int avgraph_glibc_rwlock_rdlock(pthread_rwlock_t*);
__asm__(".symver avgraph_glibc_rwlock_rdlock,__pthread_rwlock_rdlock@GLIBC_2.2.5");
int avgraph_glibc_rwlock_wrlock(pthread_rwlock_t*);
__asm__(".symver avgraph_glibc_rwlock_wrlock,__pthread_rwlock_wrlock@GLIBC_2.2.5");
}

namespace {

// Plain thread-locals of trivial types in the executable: initial-exec TLS, no allocation to reach them.
thread_local int open_scopes = 0;
thread_local int64_t allocations = 0;
thread_local int64_t locks = 0;

// AVGRAPH_CHECK_TRACE=1: print the stack of the first allocation and lock inside a scope (debugging).
thread_local bool tracing = false;
int traced = 0;
void trace(const char* what) {
    static const bool wanted = getenv("AVGRAPH_CHECK_TRACE") != nullptr;
    if (!wanted || tracing || traced >= 4)
        return;
    tracing = true;
    ++traced;
    void* frames[40];
    const int n = backtrace(frames, 40);
    write(2, what, __builtin_strlen(what));
    write(2, "\n", 1);
    backtrace_symbols_fd(frames, n, 2);
    tracing = false;
}

// The plugin's code: the address ranges of its loaded segments (watchModule). Only calls with one of
// these on the stack count: the host's own wrapper code (JUCE's VST3 host allocates a vector per
// block) is the host's business, not the plugin's.
struct Range {
    uintptr_t begin, end;
};
Range module_ranges[16];
std::atomic<int> module_range_count{0};
std::atomic<uintptr_t> own_begin{0}, own_end{0};
thread_local bool inside = false;
thread_local int64_t own_allocations = 0, own_locks = 0;

/** Which code is on the stack: bit 1 the plugin binary (or anything when none is watched), bit 2 avgraph's
 * own. */
int callers() {
    const int ranges = module_range_count.load(std::memory_order_acquire);
    if (ranges == 0)
        return 1;
    inside = true;
    void* frames[96];
    const int n = backtrace(frames, 96);
    inside = false;
    int found = 0;
    const uintptr_t ob = own_begin.load(std::memory_order_relaxed),
                    oe = own_end.load(std::memory_order_relaxed);
    for (int i = 0; i < n; ++i) {
        const auto pc = reinterpret_cast<uintptr_t>(frames[i]);
        for (int r = 0; r < ranges; ++r)
            if (pc >= module_ranges[r].begin && pc < module_ranges[r].end)
                found |= 1;
        if (pc >= ob && pc < oe)
            found |= 2;
    }
    return found;
}

/** One allocation or lock: counted for the plugin binary and for avgraph's own code, as the stack says. */
inline void note(int64_t& by_plugin, int64_t& by_own_code, const char* what) {
    if (open_scopes > 0 && !inside) {
        const int who = callers();
        if (who & 1) {
            ++by_plugin;
            trace(what);
        }
        if (who & 2)
            ++by_own_code;
    }
}

inline void noteAllocation() { note(allocations, own_allocations, "allocation on the audio thread:"); }

} // namespace

extern "C" {

void* malloc(size_t n) {
    noteAllocation();
    return __libc_malloc(n);
}
void* calloc(size_t n, size_t size) {
    noteAllocation();
    return __libc_calloc(n, size);
}
void* realloc(void* p, size_t n) {
    noteAllocation();
    return __libc_realloc(p, n);
}
void free(void* p) { __libc_free(p); }
int posix_memalign(void** out, size_t alignment, size_t n) {
    noteAllocation();
    void* p = __libc_memalign(alignment, n);
    if (!p)
        return 12; // ENOMEM
    *out = p;
    return 0;
}
void* aligned_alloc(size_t alignment, size_t n) {
    noteAllocation();
    return __libc_memalign(alignment, n);
}

int pthread_mutex_lock(pthread_mutex_t* mutex) {
    note(locks, own_locks, "lock on the audio thread:");
    return avgraph_glibc_mutex_lock(mutex);
}
int pthread_rwlock_rdlock(pthread_rwlock_t* lock) {
    note(locks, own_locks, "read lock on the audio thread:");
    return avgraph_glibc_rwlock_rdlock(lock);
}
int pthread_rwlock_wrlock(pthread_rwlock_t* lock) {
    note(locks, own_locks, "write lock on the audio thread:");
    return avgraph_glibc_rwlock_wrlock(lock);
}

} // extern "C"

void* operator new(size_t n) {
    noteAllocation();
    if (void* p = __libc_malloc(n ? n : 1))
        return p;
    throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
    noteAllocation();
    return __libc_malloc(n ? n : 1);
}
void* operator new[](size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void* operator new(size_t n, std::align_val_t a) {
    noteAllocation();
    if (void* p = __libc_memalign(static_cast<size_t>(a), n ? n : 1))
        return p;
    throw std::bad_alloc();
}
void* operator new[](size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p) noexcept { __libc_free(p); }
void operator delete[](void* p) noexcept { __libc_free(p); }
void operator delete(void* p, size_t) noexcept { __libc_free(p); }
void operator delete[](void* p, size_t) noexcept { __libc_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { __libc_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { __libc_free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { __libc_free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { __libc_free(p); }

namespace avgraph::check {

void watchOwnCode(const void* begin, const void* end) {
    own_begin.store(reinterpret_cast<uintptr_t>(begin));
    own_end.store(reinterpret_cast<uintptr_t>(end));
}

int watchModule(const char* binary) {
    struct Search {
        const char* binary;
        int found;
        const char* path;
    } search{binary, 0, nullptr};
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* data) {
            auto* s = static_cast<Search*>(data);
            char resolved[PATH_MAX];
            if (!info->dlpi_name || !realpath(info->dlpi_name, resolved) ||
                std::strcmp(resolved, s->binary) != 0)
                return 0;
            s->path = info->dlpi_name;
            for (int i = 0; i < info->dlpi_phnum && s->found < 16; ++i)
                if (info->dlpi_phdr[i].p_type == PT_LOAD && (info->dlpi_phdr[i].p_flags & PF_X)) {
                    const uintptr_t begin = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
                    module_ranges[s->found++] = {begin, begin + info->dlpi_phdr[i].p_memsz};
                }
            return 0;
        },
        &search);
    module_range_count.store(search.found, std::memory_order_release);
    // The plugin's own audio-thread code, when it says where it is.
    if (search.path) {
        if (void* handle = dlopen(search.path, RTLD_NOW | RTLD_NOLOAD)) {
            using Where = void (*)(const void**, const void**);
            if (auto where = reinterpret_cast<Where>(dlsym(handle, "avgraph_audio_thread_code"))) {
                const void *begin = nullptr, *end = nullptr;
                where(&begin, &end);
                watchOwnCode(begin, end);
            }
            dlclose(handle);
        }
    }
    return search.found;
}

bool watchingOwnCode() { return own_end.load() > own_begin.load(); }

RealtimeScope::RealtimeScope()
    : allocations_at_start_(::allocations), locks_at_start_(::locks),
      own_allocations_at_start_(::own_allocations), own_locks_at_start_(::own_locks) {
    void* warm[2];
    backtrace(warm, 2); // loads the unwinder (which allocates) before anything is counted
    ++open_scopes;
}
RealtimeScope::~RealtimeScope() { --open_scopes; }
int64_t RealtimeScope::allocations() const { return ::allocations - allocations_at_start_; }
int64_t RealtimeScope::locks() const { return ::locks - locks_at_start_; }
int64_t RealtimeScope::ownAllocations() const { return ::own_allocations - own_allocations_at_start_; }
int64_t RealtimeScope::ownLocks() const { return ::own_locks - own_locks_at_start_; }

} // namespace avgraph::check
