// Batches of clips of one shape: consecutive clips of equal shape share a batch up to its size, a clip of
// another shape starts a new one; and the shape key that decides it (names, sample rates, sizes).
#include "host/training/batcher.h"
#include "io/audio_input.h"

#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

using namespace avgraph;
using namespace avgraph::host::training;
using avgraph::host::audioValue;
using avgraph::host::sameShapes;

namespace {

/** An audio input's value of `samples` samples at `rate`. */
Value audio(int64_t samples, double rate = 16000.0) { return audioValue(torch::zeros({1, samples}), rate); }

} // namespace

TEST_CASE("the batcher groups consecutive items of one shape, at most a batch at a time",
          "[training][batcher]") {
    std::vector<std::vector<int>> batches;
    ShapeBatcher<int> batcher(2, [&](const std::vector<int>& batch) { batches.push_back(batch); });
    // Shapes a a a b a b b: runs of equal shape cut into pairs, and a change of shape cuts too.
    const std::vector<std::string> shapes{"a", "a", "a", "b", "a", "b", "b"};
    for (int i = 0; i < static_cast<int>(shapes.size()); ++i)
        batcher.add(i, shapes[i]);
    CHECK(batches == std::vector<std::vector<int>>{{0, 1}, {2}, {3}, {4}}); // the last batch waits
    batcher.flush();
    CHECK(batches == std::vector<std::vector<int>>{{0, 1}, {2}, {3}, {4}, {5, 6}});
    batcher.flush(); // nothing pending: nothing runs
    CHECK(batches.size() == 5);

    std::vector<std::vector<int>> one;
    ShapeBatcher<int> single(1, [&](const std::vector<int>& batch) { one.push_back(batch); });
    for (int i = 0; i < 3; ++i)
        single.add(i, "a");
    single.flush();
    CHECK(one == std::vector<std::vector<int>>{{0}, {1}, {2}});
}

TEST_CASE("shape keys are equal exactly when the clips can share a batch", "[training][batcher]") {
    const std::map<std::string, Value> a{{"audio", audio(16000)}};
    const std::map<std::string, Value> same{{"audio", audio(16000)}};
    const std::map<std::string, Value> longer{{"audio", audio(16001)}};
    const std::map<std::string, Value> faster{{"audio", audio(16000, 16000.5)}};
    const std::map<std::string, Value> renamed{{"sound", audio(16000)}};
    const std::map<std::string, Value> two{{"audio", audio(16000)}, {"image", audio(16000)}};
    CHECK(shapeKey(a) == shapeKey(same));
    CHECK(sameShapes(a, same));
    for (const auto* other : {&longer, &faster, &renamed, &two}) {
        CHECK(shapeKey(a) != shapeKey(*other));
        CHECK_FALSE(sameShapes(a, *other)); // the batcher's key agrees with the stacking rule
    }
}
