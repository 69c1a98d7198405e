// Early detection on segments (host/evaluation.h), against values worked by hand; and the DCASE log
// loss of a fused (renormalised product) row.
#include "host/evaluation.h"
#include "host/metrics/metrics.h"

#include <catch2/catch.hpp>

#include <cmath>

using namespace avgraph;
using namespace avgraph::host;

namespace {

Clip segment(const std::string& recording, int k, int label) {
    Clip c;
    c.file = recording + "#t=" + std::to_string(k);
    c.recording = recording;
    c.subsegment = k;
    c.start = k;
    c.duration = 1.0;
    c.label = label;
    return c;
}

} // namespace

TEST_CASE("early detection averages each recording's first n segments", "[host][evaluation]") {
    Dataset ds;
    ds.classes = {"park", "street"};
    // Recording a (park): segments 0, 1, 2; recording b (street): segments 0, 1. Listed out of order.
    ds.clips = {segment("a", 1, 0), segment("b", 0, 1), segment("a", 0, 0), segment("a", 2, 0),
                segment("b", 1, 1)};
    metrics::Predictions p;
    p.classes = ds.classes;
    p.add(ds.clips[0].file, 0, {0.9, 0.1}); // a1
    p.add(ds.clips[1].file, 1, {0.8, 0.2}); // b0: wrong
    p.add(ds.clips[2].file, 0, {0.3, 0.7}); // a0: wrong
    p.add(ds.clips[3].file, 0, {0.6, 0.4}); // a2
    p.add(ds.clips[4].file, 1, {0.1, 0.9}); // b1
    auto curve = earlyDetection(ds, {0, 1, 2, 3, 4}, p);
    REQUIRE(curve);
    CHECK(curve->recordings == 2);
    REQUIRE(curve->seconds == std::vector<double>{1.0, 2.0, 3.0});
    // n = 1: a -> a0 (0.3, 0.7) wrong; b -> b0 (0.8, 0.2) wrong: 0 %.
    CHECK(curve->scores[0].accuracy == Approx(0.0));
    // n = 2: a -> mean(a0, a1) = (0.6, 0.4) right; b -> mean(b0, b1) = (0.45, 0.55) right.
    CHECK(curve->scores[1].accuracy == Approx(1.0));
    CHECK(curve->scores[1].log_loss == Approx((-std::log(0.6) - std::log(0.55)) / 2));
    // n = 3: a -> (0.6, 0.4) (a2 is also (0.6, 0.4)); b keeps its two segments.
    CHECK(curve->scores[2].accuracy == Approx(1.0));
    CHECK(curve->scores[2].log_loss == Approx((-std::log(0.6) - std::log(0.55)) / 2));

    // Clips that are not segments of longer recordings have no curve.
    Dataset whole;
    whole.classes = ds.classes;
    whole.clips = {Clip{}, Clip{}};
    whole.clips[0].file = "x.wav";
    whole.clips[1].file = "y.wav";
    metrics::Predictions q;
    q.classes = ds.classes;
    q.add("x.wav", 0, {0.5, 0.5});
    q.add("y.wav", 1, {0.5, 0.5});
    CHECK_FALSE(earlyDetection(whole, {0, 1}, q));
}

TEST_CASE("DCASE log loss of a product-fused row with a zero probability", "[host][evaluation]") {
    // Two systems give (0.5, 0.5, 0) and (0.2, 0.8, 0): the product (0.1, 0.4, 0) renormalised is
    // (0.2, 0.8, 0). DCASE clips to [1e-15, 1 - 1e-15] and renormalises each row before the log: for
    // true class 2 the loss is -ln(1e-15 / (1 + 1e-15)), for true class 1 -ln(0.8 / (1 + 1e-15)).
    const std::vector<double> row = {0.1 / 0.5, 0.4 / 0.5, 0.0};
    CHECK(metrics::clipLogLoss(row, 2) == Approx(-std::log(1e-15 / (1.0 + 1e-15))));
    CHECK(metrics::clipLogLoss(row, 1) == Approx(-std::log(0.8 / (1.0 + 1e-15))));
}
