#pragma once
/**
 * Early stopping on a validation split: which epoch's weights to keep, and when to stop.
 *
 * After each epoch the monitored value (val_loss, lower is better, or val_accuracy, higher is better)
 * is compared with the best so far; the first epoch is always the best so far. An epoch that is not
 * strictly better counts against the patience, and `patience` such epochs in a row stop the run
 * (patience 0: never). Without validation every epoch is the best so far: the last one is kept.
 */
#include "host/training/train_config.h"

#include <limits>

namespace avgraph::host::training {

/** Where early stopping stands; checkpoints store it so that a resumed run stops where the whole would. */
struct StoppingState {
    int best_epoch = 0; ///< 0: none yet
    double best_value = std::numeric_limits<double>::quiet_NaN();
    int bad_epochs = 0; ///< epochs since the best one
    bool stopped = false;
};

class EarlyStopping {
public:
    explicit EarlyStopping(const ValidationConfig& config, StoppingState state = {});

    /** Scores a validated epoch; true when it is the best so far (the weights to keep). */
    bool update(int epoch, double val_loss, double val_accuracy);
    /** An epoch without validation: it is the best so far. */
    void unvalidated(int epoch) { state_.best_epoch = epoch; }

    bool stopped() const { return state_.stopped; }
    int bestEpoch() const { return state_.best_epoch; }
    const StoppingState& state() const { return state_; }

private:
    bool lower_is_better_;
    int patience_;
    StoppingState state_;
};

} // namespace avgraph::host::training
