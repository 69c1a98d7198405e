#pragma once
/**
 * Counts heap allocations and locks made on one thread while a scope is open.
 *
 * The check host defines the global operator new/delete, malloc/calloc/realloc/posix_memalign/
 * aligned_alloc, pthread_mutex_lock and pthread_rwlock_rdlock/wrlock itself (a condition-variable
 * or semaphore wait takes its mutex through glibc's own calls, which no interposition sees). A plugin loaded
 * into the process resolves those symbols to the host's definitions (the executable comes first in the
 * dynamic linker's search order), so whatever the plugin, its format wrapper or a library it calls does on
 * the audio thread is seen here. With watchModule, a call counts when the plugin's code is on its stack (the
 * host's own code is not the plugin's doing).
 *
 *     RealtimeScope scope;             // on the thread that calls processBlock
 *     instance.processBlock(buffer, midi);
 *     scope.allocations(), scope.locks()
 */
#include <cstdint>

namespace avgraph::check {

class RealtimeScope {
public:
    RealtimeScope();
    ~RealtimeScope();
    RealtimeScope(const RealtimeScope&) = delete;
    RealtimeScope& operator=(const RealtimeScope&) = delete;

    /** By the plugin binary (its format wrapper included). */
    int64_t allocations() const;
    int64_t locks() const;
    /** By the code the plugin marks as its audio-thread code (watchOwnCode), and what it calls. */
    int64_t ownAllocations() const;
    int64_t ownLocks() const;

private:
    int64_t allocations_at_start_, locks_at_start_, own_allocations_at_start_, own_locks_at_start_;
};

/**
 * Counts only calls with the code of a loaded module on the stack (the plugin binary, by its real
 * path); returns how many executable segments it found. Without it, every call counts.
 * When the plugin exports `avgraph_audio_thread_code(begin, end)`, that range is watched as its own code.
 */
int watchModule(const char* binary);

/** The address range of the plugin's own audio-thread code; 0 until watchModule finds it. */
bool watchingOwnCode();

} // namespace avgraph::check
