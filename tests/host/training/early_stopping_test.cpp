// Early stopping: the best epoch by the monitored value, patience counted in epochs without a strictly
// better one, and a resumed run that stops where the uninterrupted one would.
#include "host/training/early_stopping.h"

#include <catch2/catch.hpp>

#include <cmath>

using namespace avgraph::host::training;

namespace {

ValidationConfig monitor(const std::string& what, int patience) {
    ValidationConfig c;
    c.fraction = 0.1;
    c.monitor = what;
    c.patience = patience;
    return c;
}

} // namespace

TEST_CASE("early stopping keeps the lowest validation loss and stops after `patience` worse epochs",
          "[training][early-stopping]") {
    EarlyStopping s(monitor("val_loss", 2));
    // Epoch 3 equals the best (not better): one bad epoch; epoch 4 is better and resets the count;
    // epochs 5 and 6 are two bad epochs in a row.
    const double losses[] = {1.0, 0.8, 0.8, 0.7, 0.75, 0.71};
    const bool best[] = {true, true, false, true, false, false};
    for (int e = 0; e < 6; ++e) {
        INFO("epoch " << e + 1);
        CHECK(s.update(e + 1, losses[e], 0.5) == best[e]); // accuracy is not monitored
        CHECK(s.stopped() == (e + 1 == 6));
    }
    CHECK(s.bestEpoch() == 4);
    CHECK(s.state().best_value == 0.7);
    CHECK(s.state().bad_epochs == 2);
}

TEST_CASE("early stopping on accuracy keeps the highest; patience 0 never stops",
          "[training][early-stopping]") {
    EarlyStopping s(monitor("val_accuracy", 0));
    const double accuracies[] = {0.5, 0.6, 0.4, 0.3, 0.2, 0.1};
    for (int e = 0; e < 6; ++e)
        s.update(e + 1, 0.0, accuracies[e]);
    CHECK(s.bestEpoch() == 2);
    CHECK(s.state().best_value == 0.6);
    CHECK_FALSE(s.stopped());
    CHECK(s.state().bad_epochs == 0); // not counted without patience

    // The first epoch is the best so far even when its value is not a number.
    EarlyStopping first(monitor("val_loss", 1));
    CHECK(first.update(1, std::nan(""), 0.0));
    CHECK_FALSE(first.update(2, 0.5, 0.0)); // nothing compares better than NaN: one bad epoch, stop
    CHECK(first.stopped());
}

TEST_CASE("early stopping resumed from its state stops where the whole run stops",
          "[training][early-stopping]") {
    const double losses[] = {1.0, 0.9, 0.95, 0.97, 0.99};
    EarlyStopping whole(monitor("val_loss", 3));
    for (int e = 0; e < 5; ++e)
        whole.update(e + 1, losses[e], 0.0);
    EarlyStopping first_half(monitor("val_loss", 3));
    for (int e = 0; e < 3; ++e)
        first_half.update(e + 1, losses[e], 0.0);
    EarlyStopping resumed(monitor("val_loss", 3), first_half.state());
    CHECK_FALSE(resumed.stopped());
    for (int e = 3; e < 5; ++e)
        resumed.update(e + 1, losses[e], 0.0);
    CHECK(whole.stopped());
    CHECK(resumed.stopped());
    CHECK(resumed.bestEpoch() == whole.bestEpoch());
    CHECK(resumed.bestEpoch() == 2);

    // Without validation every epoch is the best so far.
    EarlyStopping none(ValidationConfig{});
    none.unvalidated(1);
    none.unvalidated(2);
    CHECK(none.bestEpoch() == 2);
    CHECK_FALSE(none.stopped());
}
