#include "host/training/early_stopping.h"

namespace avgraph::host::training {

EarlyStopping::EarlyStopping(const ValidationConfig& config, StoppingState state)
    : lower_is_better_(config.monitor == "val_loss"), patience_(config.patience), state_(state) {}

bool EarlyStopping::update(int epoch, double val_loss, double val_accuracy) {
    const double value = lower_is_better_ ? val_loss : val_accuracy;
    const bool better =
        state_.best_epoch == 0 || (lower_is_better_ ? value < state_.best_value : value > state_.best_value);
    if (better) {
        state_.best_value = value;
        state_.best_epoch = epoch;
        state_.bad_epochs = 0;
    } else if (patience_ > 0 && ++state_.bad_epochs >= patience_) {
        state_.stopped = true;
    }
    return better;
}

} // namespace avgraph::host::training
