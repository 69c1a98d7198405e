#pragma once
/**
 * AudioRing: the only thing the audio thread touches. A single-producer single-consumer ring of up
 * to two channels on juce::AbstractFifo (lock-free, index arithmetic only), sized in prepare().
 *
 * The audio thread push()es each block; the analysis worker pop()s everything there is into its own
 * window history. When the worker falls behind (a long analysis) and the ring is full, the audio
 * thread drops what does not fit and counts it: the audio the host hears is never affected.
 */
#include <juce_audio_basics/juce_audio_basics.h>
#include <juce_core/juce_core.h>

#include <atomic>

namespace avgraph::plugin {

class AudioRing {
public:
    static constexpr int kMaxChannels = 2;

    /** Allocates `capacity` samples per channel. Not on the audio thread; not while pushing or popping. */
    void prepare(int channels, int capacity) {
        channels_ = juce::jlimit(0, kMaxChannels, channels);
        // An AbstractFifo of total size n holds n - 1 items at indices 0 .. n - 1: the storage has n.
        const int size = juce::jmax(1, capacity) + 1;
        storage_.setSize(kMaxChannels, size, false, true, false);
        fifo_.setTotalSize(size);
        fifo_.reset();
        dropped_.store(0, std::memory_order_relaxed);
    }

    /** Audio thread: copies the block's first channels in. Never allocates, locks or waits. */
    void push(const juce::AudioBuffer<float>& block, int input_channels, int num_samples) {
        const int channels = juce::jmin(input_channels, channels_);
        if (channels <= 0 || num_samples <= 0)
            return;
        const int fits = juce::jmin(num_samples, fifo_.getFreeSpace());
        if (fits < num_samples)
            dropped_.fetch_add(num_samples - fits, std::memory_order_relaxed);
        const auto scope = fifo_.write(fits);
        for (int c = 0; c < channels; ++c) {
            if (scope.blockSize1 > 0)
                storage_.copyFrom(c, scope.startIndex1, block, c, 0, scope.blockSize1);
            if (scope.blockSize2 > 0)
                storage_.copyFrom(c, scope.startIndex2, block, c, scope.blockSize1, scope.blockSize2);
        }
    }

    /** Worker thread: hands every waiting sample to `sink(channel_pointers, channels, n)`, oldest first. */
    template <typename Sink> int pop(Sink&& sink) {
        const int ready = fifo_.getNumReady();
        if (ready <= 0 || channels_ <= 0)
            return 0;
        const auto scope = fifo_.read(ready);
        const float* parts[kMaxChannels];
        for (int c = 0; c < channels_; ++c)
            parts[c] = storage_.getReadPointer(c, scope.startIndex1);
        if (scope.blockSize1 > 0)
            sink(parts, channels_, scope.blockSize1);
        for (int c = 0; c < channels_; ++c)
            parts[c] = storage_.getReadPointer(c, scope.startIndex2);
        if (scope.blockSize2 > 0)
            sink(parts, channels_, scope.blockSize2);
        return ready;
    }

    int channels() const { return channels_; }
    int64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

private:
    juce::AbstractFifo fifo_{2};
    juce::AudioBuffer<float> storage_;
    int channels_ = 0;
    std::atomic<int64_t> dropped_{0};
};

} // namespace avgraph::plugin
