#pragma once
/**
 * Batches of clips of one shape, for the commands that run a graph over many clips (`avgraph run`,
 * evaluation, the trainer's feature cache and validation).
 *
 * A graph runs a batch as one tensor, so the clips of a batch must have values of one shape: the
 * same inputs at the same sample rates with the same sizes (clips of one length). The batcher takes
 * clips one at a time in the caller's order and runs the pending batch when the next clip has another
 * shape or the batch is full; it holds one batch at a time, so memory does not grow with the number of
 * clips. The shape is any string that is equal for clips that may share a batch (shapeKey for a clip's
 * graph-input values).
 *
 *     ShapeBatcher<Item> batcher(8, [&](const std::vector<Item>& batch) { ... run it ... });
 *     for (...) batcher.add(item, shapeKey(values));
 *     batcher.flush(); // the last batch
 */
#include "graph/value.h"

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace avgraph::host::training {

/**
 * The shape of a clip's values as a key: each value's name, sample rate and sizes. Two clips' keys are
 * equal exactly when io/audio_input.h's sameShapes holds (stackClipInputs can batch them).
 */
std::string shapeKey(const std::map<std::string, Value>& values);

template <typename Item> class ShapeBatcher {
public:
    using RunBatch = std::function<void(const std::vector<Item>& batch)>;

    /** `max_batch` >= 1: the most items a batch holds. */
    ShapeBatcher(size_t max_batch, RunBatch run) : max_batch_(max_batch), run_(std::move(run)) {}

    /** Adds an item of the given shape; first runs the pending batch when it is full or of another shape. */
    void add(Item item, std::string shape) {
        if (!pending_.empty() && (shape != shape_ || pending_.size() >= max_batch_))
            flush();
        if (pending_.empty())
            shape_ = std::move(shape);
        pending_.push_back(std::move(item));
    }

    /** Runs the pending batch, if any. */
    void flush() {
        if (pending_.empty())
            return;
        std::vector<Item> batch;
        batch.swap(pending_);
        run_(batch);
    }

private:
    size_t max_batch_;
    RunBatch run_;
    std::vector<Item> pending_;
    std::string shape_; ///< of the pending batch
};

} // namespace avgraph::host::training
