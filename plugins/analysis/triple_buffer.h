#pragma once
/**
 * TripleBuffer: the newest value from one writer thread to one reader thread, without locks.
 *
 *     TripleBuffer<SceneResult> latest;
 *     latest.write() = result; latest.publish();          // worker thread
 *     if (latest.update()) draw(latest.read());           // editor's timer, message thread
 *
 * Three slots: the writer fills its back slot and swaps it with the middle one in one atomic
 * exchange; the reader swaps the middle one with its front slot when a new value is there. Neither
 * side ever waits, the reader always sees a whole value (never one half-written), and values the
 * reader had no time for are skipped, which is what a display wants. The slots are built once, so a
 * T whose assignment reuses its capacity (std::vector of the same size) stops allocating once warm.
 */
#include <atomic>
#include <cstdint>

namespace avgraph::plugin {

template <typename T> class TripleBuffer {
public:
    /** The writer's slot; fill it, then publish(). */
    T& write() { return slots_[back_]; }
    /** Makes the written slot the newest value. */
    void publish() {
        const uint8_t previous =
            middle_.exchange(static_cast<uint8_t>(back_ | kFresh), std::memory_order_acq_rel);
        back_ = previous & kIndex;
    }
    /** Takes the newest value if one arrived since the last update; returns whether one did. */
    bool update() {
        if (!(middle_.load(std::memory_order_relaxed) & kFresh))
            return false;
        const uint8_t previous = middle_.exchange(front_, std::memory_order_acq_rel);
        front_ = previous & kIndex;
        return true;
    }
    /** The reader's current value (what the last successful update took). */
    const T& read() const { return slots_[front_]; }

private:
    static constexpr uint8_t kIndex = 3, kFresh = 4;
    T slots_[3]{};
    uint8_t back_ = 0, front_ = 1;
    std::atomic<uint8_t> middle_{2};
};

} // namespace avgraph::plugin
