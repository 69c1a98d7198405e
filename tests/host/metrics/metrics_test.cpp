// The DCASE metrics against closed-form values and against an independent numpy implementation
// (tests/host/metrics/reference_metrics.py) on random predictions.
#include "host/metrics/metrics.h"
#include "tests/test_support.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <random>

using namespace avgraph;
using namespace avgraph::metrics;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> classNames(int k) {
    std::vector<std::string> names;
    for (int i = 0; i < k; ++i)
        names.push_back("class_" + std::to_string(i));
    return names;
}

/** -ln of the true class's probability of a one-hot row after scikit-learn's clipping, in closed form. */
double oneHotLoss(int k) {
    const double eps = kLogLossEps;
    return -std::log((1.0 - eps) / ((1.0 - eps) + (k - 1) * eps));
}

/**
 * Random predictions with every case the metrics must handle: softmax rows of random logits, rows
 * with probability exactly 0 for the true class (clipped to eps), a predicted class that is not the
 * argmax (DCASE scores scene_label, not the probabilities), and, when `empty_class`, a class no
 * clip belongs to.
 */
Predictions randomPredictions(unsigned seed, int k, int n, bool empty_class) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> logit(0.0, 2.0);
    std::uniform_int_distribution<int> cls(0, empty_class ? k - 2 : k - 1);
    const std::vector<std::string> cities = {"barcelona", "helsinki", "lisbon", "london", "lyon", "milan"};
    const std::vector<std::string> devices = {"a", "b", "c", "s1", "s4"};
    Predictions p;
    p.classes = classNames(k);
    for (int i = 0; i < n; ++i) {
        int label = cls(rng);
        std::vector<double> prob(k);
        if (i % 37 == 5) { // all mass on a wrong class: p[true] = 0
            prob.assign(k, 0.0);
            prob[(label + 1) % k] = 1.0;
        } else {
            double sum = 0.0;
            for (int j = 0; j < k; ++j) {
                prob[j] = std::exp(logit(rng) + (j == label ? 1.5 : 0.0));
                sum += prob[j];
            }
            for (double& v : prob)
                v /= sum;
        }
        p.add("audio/clip-" + std::to_string(i) + ".wav", label, prob, cities[rng() % cities.size()],
              devices[rng() % devices.size()]);
        if (i % 11 == 3)
            p.clips.back().predicted = (p.clips.back().predicted + 2) % k;
    }
    p.train_cities = {"barcelona", "helsinki", "lisbon", "london"};
    p.train_devices = {"a", "b", "c", "s1"};
    return p;
}

void checkClose(double ours, const nlohmann::json& want, const std::string& what) {
    INFO(what << ": ours " << ours << ", numpy " << want);
    if (want.is_null()) {
        CHECK(std::isnan(ours));
        return;
    }
    CHECK(ours == Approx(want.get<double>()).epsilon(1e-12).margin(1e-14));
}

void checkSummary(const Summary& s, const nlohmann::json& want, const std::string& what) {
    CHECK(s.clips == want["clips"].get<int>());
    checkClose(s.accuracy, want["accuracy"], what + " accuracy");
    checkClose(s.class_average_accuracy, want["class_average_accuracy"], what + " class-average accuracy");
    checkClose(s.log_loss, want["log_loss"], what + " log loss");
    checkClose(s.class_average_log_loss, want["class_average_log_loss"], what + " class-average log loss");
    for (size_t c = 0; c < s.class_accuracy.size(); ++c) {
        const auto& acc = want["class_accuracy"][c];
        const auto& loss = want["class_log_loss"][c];
        CHECK(s.class_accuracy[c].has_value() == !acc.is_null());
        CHECK(s.class_log_loss[c].has_value() == !loss.is_null());
        if (s.class_accuracy[c] && !acc.is_null())
            checkClose(*s.class_accuracy[c], acc, what + " accuracy of class " + std::to_string(c));
        if (s.class_log_loss[c] && !loss.is_null())
            checkClose(*s.class_log_loss[c], loss, what + " log loss of class " + std::to_string(c));
    }
}

} // namespace

TEST_CASE("metrics match an independent numpy implementation on random predictions", "[host][metrics]") {
    bool empty_class = GENERATE(false, true);
    unsigned seed = GENERATE(1u, 2u);
    INFO("seed " << seed << (empty_class ? ", one class without clips" : ""));
    test::ScratchDir dir;
    fs::path csv = dir / "predictions.csv";
    writePredictionsCsv(csv, randomPredictions(seed, 10, 600, empty_class));
    // Both sides read the same file, so both see the same (9-digit) probabilities.
    Predictions p = readPredictionsCsv(csv);
    p.train_cities = {"barcelona", "helsinki", "lisbon", "london"};
    p.train_devices = {"a", "b", "c", "s1"};
    Metrics m = computeMetrics(p);

    auto r = test::runShell(
        "/usr/bin/python3 " +
        test::shellQuote((test::sourceDir() / "tests/host/metrics/reference_metrics.py").string()) + " " +
        test::shellQuote(csv.string()) + " barcelona,helsinki,lisbon,london a,b,c,s1");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    auto want = nlohmann::json::parse(r.output);

    checkSummary(m.overall, want["overall"], "overall");
    CHECK(m.confusion == want["confusion"].get<std::vector<std::vector<int>>>());
    REQUIRE(m.by_city);
    REQUIRE(m.by_device);
    for (auto [b, key] : {std::pair{&*m.by_city, "city"}, std::pair{&*m.by_device, "device"}}) {
        REQUIRE(b->groups.size() == want[key]["groups"].size());
        for (const auto& [name, s] : b->groups)
            checkSummary(s, want[key]["groups"][name], std::string(key) + " " + name);
        REQUIRE(b->seen);
        REQUIRE(b->unseen);
        checkSummary(*b->seen, want[key]["seen"], std::string("seen ") + key);
        checkSummary(*b->unseen, want[key]["unseen"], std::string("unseen ") + key);
    }
    // The clips whose true class got probability 0 cost -ln(eps / (1 + (k-1) eps)) each, about 34.5.
    CHECK(m.overall.log_loss > 1.0);
}

TEST_CASE("perfect predictions: accuracy 1 and the log loss of a one-hot row", "[host][metrics]") {
    const int k = 10;
    Predictions p;
    p.classes = classNames(k);
    for (int i = 0; i < 50; ++i) {
        std::vector<double> prob(k, 0.0);
        prob[i % k] = 1.0;
        p.add("clip" + std::to_string(i), i % k, prob);
    }
    Metrics m = computeMetrics(p);
    CHECK(m.overall.accuracy == 1.0);
    CHECK(m.overall.class_average_accuracy == 1.0);
    // One-hot rows clip to [eps, 1 - eps]: the loss is -ln((1 - eps) / (1 + (k - 2) eps)) ~ (k - 1) eps,
    // not 0. The ratio is 1 - 9e-15, so double rounding (ulp(1) = 2.2e-16) bounds the agreement.
    CHECK(oneHotLoss(k) == Approx((k - 1) * kLogLossEps).epsilon(0.05));
    CHECK(m.overall.log_loss == Approx(oneHotLoss(k)).margin(1e-15));
    CHECK(m.overall.class_average_log_loss == Approx(oneHotLoss(k)).margin(1e-15));
    CHECK(m.overall.log_loss > 5e-15); // clipped, so not exactly 0
    for (int r = 0; r < k; ++r)
        for (int c = 0; c < k; ++c)
            CHECK(m.confusion[r][c] == (r == c ? 5 : 0));
    CHECK_FALSE(m.by_city);
    CHECK_FALSE(m.by_device);
}

TEST_CASE("uniform probabilities: log loss ln K, the first class predicted", "[host][metrics]") {
    for (int k : {2, 3, 10, 50}) {
        Predictions p;
        p.classes = classNames(k);
        int n = 3 * k + 1;
        for (int i = 0; i < n; ++i)
            p.add("clip" + std::to_string(i), i % k, std::vector<double>(k, 1.0 / k));
        Metrics m = computeMetrics(p);
        INFO("k = " << k);
        CHECK(m.overall.log_loss == Approx(std::log(k)).epsilon(1e-12));
        CHECK(m.overall.class_average_log_loss == Approx(std::log(k)).epsilon(1e-12));
        // argmax of a tie is the first class (numpy.argmax): class 0's 4 clips are right, nothing else.
        CHECK(m.overall.correct == 4);
        CHECK(m.overall.accuracy == Approx(4.0 / n));
        CHECK(m.overall.class_average_accuracy == Approx(1.0 / k));
    }
}

TEST_CASE("a small case worked by hand: class and clip averages differ", "[host][metrics]") {
    Predictions p;
    p.classes = {"park", "bus", "tram"};
    p.add("a.wav", 0, {0.5, 0.25, 0.25});    // right, -ln 0.5
    p.add("b.wav", 0, {0.25, 0.5, 0.25});    // wrong (bus), -ln 0.25
    p.add("c.wav", 1, {0.125, 0.75, 0.125}); // right, -ln 0.75
    Metrics m = computeMetrics(p);
    const double ln2 = std::log(2.0), l75 = -std::log(0.75);
    CHECK(m.overall.accuracy == Approx(2.0 / 3.0));
    CHECK(*m.overall.class_accuracy[0] == 0.5);
    CHECK(*m.overall.class_accuracy[1] == 1.0);
    CHECK_FALSE(m.overall.class_accuracy[2]); // tram has no clips: left out of the averages
    CHECK(m.overall.class_average_accuracy == Approx(0.75));
    CHECK(*m.overall.class_log_loss[0] == Approx(1.5 * ln2));
    CHECK(*m.overall.class_log_loss[1] == Approx(l75));
    CHECK(m.overall.class_average_log_loss == Approx((1.5 * ln2 + l75) / 2));
    CHECK(m.overall.log_loss == Approx((3 * ln2 + l75) / 3));
    CHECK(m.confusion == std::vector<std::vector<int>>{{1, 1, 0}, {0, 1, 0}, {0, 0, 0}});

    auto j = toJson(m);
    CHECK(j["overall"]["class_wise"][2]["accuracy"].is_null());
    CHECK(j["overall"]["accuracy"]["class_average"].get<double>() == Approx(0.75));
    CHECK(j["confusion_matrix"]["counts"][0][1] == 1);
}

TEST_CASE("city breakdown: seen and unseen groups", "[host][metrics]") {
    Predictions p;
    p.classes = {"park", "bus"};
    p.add("1", 0, {0.9, 0.1}, "lyon", "a");
    p.add("2", 1, {0.9, 0.1}, "lyon", "b");
    p.add("3", 1, {0.2, 0.8}, "prague", "a");
    p.train_cities = {"lyon"};
    Metrics m = computeMetrics(p);
    REQUIRE(m.by_city);
    CHECK(m.by_city->groups.size() == 2);
    REQUIRE(m.by_city->seen);
    REQUIRE(m.by_city->unseen);
    CHECK(m.by_city->seen->clips == 2);
    CHECK(m.by_city->seen->accuracy == 0.5);
    CHECK(m.by_city->unseen->clips == 1);
    CHECK(m.by_city->unseen->log_loss == Approx(-std::log(0.8)));
    REQUIRE(m.by_device); // no training devices given: groups only
    CHECK_FALSE(m.by_device->seen);
    CHECK(m.by_device->groups.at("a").clips == 2);
    auto j = toJson(m);
    CHECK(j["by_city"]["groups"]["prague"]["seen_in_training"] == false);
    CHECK(j["by_device"]["seen"].is_null());
}

TEST_CASE("invalid predictions are refused with the clip named", "[host][metrics]") {
    Predictions p;
    p.classes = {"park", "bus"};
    SECTION("no clips") { CHECK_THROWS_WITH(computeMetrics(p), Catch::Contains("no clips")); }
    SECTION("label out of range") {
        p.add("x.wav", 2, {0.5, 0.5});
        CHECK_THROWS_WITH(computeMetrics(p),
                          Catch::Contains("clip 'x.wav'") && Catch::Contains("true class 2"));
    }
    SECTION("NaN") {
        p.add("x.wav", 0, {std::nan(""), 0.5});
        CHECK_THROWS_WITH(computeMetrics(p), Catch::Contains("clip 'x.wav'") && Catch::Contains("[0, 1]"));
    }
    SECTION("not summing to one") {
        p.add("x.wav", 0, {0.6, 0.6});
        CHECK_THROWS_WITH(computeMetrics(p), Catch::Contains("sum to 1.2"));
    }
    SECTION("a file twice") {
        p.add("x.wav", 0, {0.5, 0.5});
        p.add("x.wav", 1, {0.5, 0.5});
        CHECK_THROWS_WITH(computeMetrics(p), Catch::Contains("appears twice"));
    }
}
