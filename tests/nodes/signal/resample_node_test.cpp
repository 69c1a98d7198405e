// signal.resample against independent references: the closed form of a resampled sine, and sox's
// command-line resampler on real clips (the golden 16 and 22.05 kHz WAVs were made by `sox rate -v`,
// and a stereo TAU clip is resampled by sox during the test).
#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <cmath>
#include <random>

using namespace avgraph;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

Value resample(const Value& audio, double sr, const std::string& quality = "high") {
    return test::makeNode("signal.resample", {{"sr", sr}, {"quality", quality}})
        ->process({{"audio", audio}})
        .at("audio");
}

/** 0.5 sin(2 pi 440 n / sr) + 0.5 sin(2 pi 1000 n / sr), the golden sine pair, in float64. */
torch::Tensor sinePair(int64_t n, double sr) {
    auto t = torch::arange(n, torch::kFloat64) / sr;
    return 0.5 * torch::sin(2 * M_PI * 440.0 * t) + 0.5 * torch::sin(2 * M_PI * 1000.0 * t);
}

/** Output samples left out at each end: longer than the very_high filter's ringing (its latency is 3728). */
constexpr int64_t kEdge = 4000;

/** Drops `edge` samples at both ends: the filters' transients where the signal starts and stops. */
torch::Tensor interior(const torch::Tensor& x, int64_t edge) {
    return x.narrow(-1, edge, x.size(-1) - 2 * edge);
}

} // namespace

TEST_CASE("signal.resample gives the closed form of a resampled sine pair", "[nodes][signal][resample]") {
    // The golden sine at 44.1 kHz, resampled to 16 and 22.05 kHz, against the same sines evaluated at the new
    // rate. Both tones lie far inside every recipe's passband, so what is left is the recipe's passband
    // ripple and stopband leakage (libsoxr: 20-bit high, 28-bit very high) and float32 rounding. The first
    // and last 64 output samples carry the transients of a sine that starts and stops abruptly.
    struct Case {
        std::string quality;
        double budget; ///< max |error| for a signal of peak 1
    };
    const std::vector<Case> cases{
        {"quick", 2e-2}, {"low", 2e-3}, {"medium", 2e-4}, {"high", 1e-5}, {"very_high", 1e-6}};
    Value sine = test::goldenAudio("sine440_1000", 44100);
    for (double sr : {16000.0, 22050.0})
        for (const auto& c : cases) {
            INFO(sr << " Hz " << c.quality);
            for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
                Value out = resample(sine.withTensor(sine.tensor.to(dtype)), sr, c.quality);
                CHECK(out.kind == Kind::Audio);
                CHECK(out.sample_rate == sr);
                CHECK(out.tensor.scalar_type() == dtype);
                REQUIRE(out.tensor.sizes() == torch::IntArrayRef({1, 1, static_cast<int64_t>(2 * sr)}));
                auto expected = sinePair(out.tensor.size(-1), sr);
                const double err =
                    (interior(out.tensor[0][0].to(torch::kFloat64), kEdge) - interior(expected, kEdge))
                        .abs()
                        .max()
                        .item<double>();
                if (std::getenv("AVGRAPH_GOLDEN_REPORT"))
                    std::printf("resample sine 44100 -> %g %-9s %s max|err| %.3g (budget %.0e)\n", sr,
                                c.quality.c_str(), dtype == torch::kFloat32 ? "f32" : "f64", err, c.budget);
                CHECK(err <= c.budget);
            }
        }
}

TEST_CASE("signal.resample very_high matches sox's rate -v on real clips",
          "[nodes][signal][resample][golden]") {
    // sox's `rate` effect is the ancestor of libsoxr. The goldens' 16 and 22.05 kHz WAVs are
    // `sox in.wav -D -e floating-point -b 32 out.wav rate -v SR` of the 44.1 kHz one (golden README 1.1).
    // Measured: interior within 4.3e-6 (16 kHz) and 1.1e-6 (22.05 kHz) of the flute's 0.87 peak, 6e-8 on the
    // sine and 2e-7 on the quiet TAU clip; the budget 1e-5 of the peak + 1e-6 leaves twice that. Near the
    // ends they differ more (up to 3 % on the abruptly starting sine): sox treats the edges differently.
    auto check = [](const std::string& what, const torch::Tensor& ours, const torch::Tensor& sox) {
        REQUIRE(ours.sizes() == sox.sizes());
        auto a = interior(ours.to(torch::kFloat64), kEdge);
        auto b = interior(sox.to(torch::kFloat64), kEdge);
        const double peak = b.abs().max().item<double>();
        const double err = (a - b).abs().max().item<double>();
        if (std::getenv("AVGRAPH_GOLDEN_REPORT"))
            std::printf("resample vs sox %-40s max|d| %.3g  of peak %.3g\n", what.c_str(), err, err / peak);
        CHECK(err <= 1e-5 * peak + 1e-6);
    };
    for (const auto& clip : {std::string("clip1_flute"), std::string("sine440_1000")})
        for (int sr : {16000, 22050}) {
            INFO(clip << " " << sr);
            Value out = resample(test::goldenAudio(clip, 44100), sr, "very_high");
            check(clip + " 44100 -> " + std::to_string(sr), out.tensor, test::goldenAudio(clip, sr).tensor);
        }

    // A real stereo recording, 48 kHz 16-bit, through sox now.
    test::ScratchDir dir;
    auto r =
        test::runShell("sox " + test::shellQuote(test::tauClip().string()) + " -D -e floating-point -b 32 " +
                       test::shellQuote((dir / "tau16k.wav").string()) + " rate -v 16000");
    INFO(r.output);
    REQUIRE(r.exit_code == 0); // sox is installed by scripts/setup
    auto decoded = host::readAudio(test::tauClip());
    REQUIRE(decoded.samples.size(0) == 2);
    Value out =
        resample(test::audioValue(decoded.samples.unsqueeze(0), decoded.sample_rate), 16000, "very_high");
    auto sox = host::readAudio(dir / "tau16k.wav");
    check("TAU stereo 48000 -> 16000", out.tensor[0], sox.samples);
}

TEST_CASE("signal.resample keeps batch and channels apart and passes audio at sr through",
          "[nodes][signal][resample]") {
    torch::manual_seed(3);
    auto x = torch::randn({2, 3, 1001});
    Value together = resample(test::audioValue(x, 48000.0), 16000.0);
    REQUIRE(together.tensor.sizes() == torch::IntArrayRef({2, 3, 334})); // ceil(1001 / 3), as librosa
    for (int64_t b = 0; b < 2; ++b)
        for (int64_t c = 0; c < 3; ++c) {
            Value alone =
                resample(test::audioValue(x.slice(0, b, b + 1).slice(1, c, c + 1), 48000.0), 16000.0);
            CHECK(torch::equal(alone.tensor[0][0], together.tensor[b][c]));
        }
    Value same = resample(test::audioValue(x, 16000.0), 16000.0);
    CHECK(same.tensor.is_same(x));
}

TEST_CASE("signal.resample streams the offline samples after its latency",
          "[nodes][signal][resample][stream]") {
    Value flute = test::goldenAudio("clip1_flute", 44100);
    // A batch of two stereo clips.
    auto x =
        torch::cat({flute.tensor, flute.tensor.flip(-1) * 0.5f}, 1).repeat({2, 1, 1}).narrow(-1, 0, 120000);
    Value audio = test::audioValue(x, 44100.0);
    struct Case {
        double sr;
        std::string quality;
    };
    uint32_t seed = 5;
    for (const auto& c : std::vector<Case>{{16000, "high"},
                                           {16000, "very_high"},
                                           {22050, "medium"},
                                           {48000, "high"},
                                           {8000, "quick"},
                                           {32000, "low"}}) {
        INFO(c.sr << " " << c.quality);
        auto node = test::makeNode("signal.resample", {{"sr", c.sr}, {"quality", c.quality}});
        auto offline = node->process({{"audio", audio}}).at("audio").tensor;
        node->prepareStream({44100.0, 2, 4096});
        const int64_t latency = node->latencySamples();
        CHECK(latency > 0);
        if (std::getenv("AVGRAPH_GOLDEN_REPORT"))
            std::printf("resample 44100 -> %g %s: latency %lld input samples\n", c.sr, c.quality.c_str(),
                        static_cast<long long>(latency));
        for (int64_t max_block : {4096, 1}) {
            node->resetStream();
            std::mt19937 rng(seed++);
            std::uniform_int_distribution<int64_t> size(1, max_block);
            const int64_t n = max_block == 1 ? 20000 : x.size(-1);
            std::vector<torch::Tensor> pieces;
            for (int64_t at = 0; at < n;) {
                const int64_t len = std::min(size(rng), n - at);
                Value out =
                    node->processBlock({{"audio", audio.withTensor(x.narrow(-1, at, len))}}).at("audio");
                CHECK(out.sample_rate == c.sr);
                pieces.push_back(out.tensor);
                at += len;
                // Exactly the samples j with j * 44100 / sr + latency <= samples received.
                int64_t produced = 0;
                for (const auto& p : pieces)
                    produced += p.size(-1);
                const int64_t due =
                    at >= latency ? static_cast<int64_t>(std::floor((at - latency) * (c.sr / 44100.0))) + 1
                                  : 0;
                REQUIRE(produced == due);
            }
            auto streamed = torch::cat(pieces, -1);
            auto expected = offline.narrow(-1, 0, streamed.size(-1));
            CHECK(torch::allclose(streamed, expected, 0.0, 1e-5 * expected.abs().max().item<double>()));
        }
    }
    auto node = test::makeNode("signal.resample", {{"sr", 16000}});
    node->prepareStream({44100.0, 2, 4096});
    node->processBlock({{"audio", audio.withTensor(x.narrow(-1, 0, 100))}});
    CHECK_THROWS_WITH(node->processBlock({{"audio", audio.withTensor(x.narrow(0, 0, 1).narrow(-1, 0, 100))}}),
                      Catch::Contains("does not continue the stream"));
}

TEST_CASE("signal.resample says what is wrong with its parameters and inputs", "[nodes][signal][resample]") {
    CHECK_THROWS_WITH(test::makeNode("signal.resample", json::object(), "rs"),
                      Catch::Contains("missing parameter 'sr'"));
    CHECK_THROWS_WITH(test::makeNode("signal.resample", {{"sr", 0}}), Catch::Contains("parameter 'sr'"));
    CHECK_THROWS_WITH(test::makeNode("signal.resample", {{"sr", 16000}, {"quality", "soxr_hq"}}),
                      Catch::Contains("parameter 'quality'") && Catch::Contains("very_high"));
    auto node = test::makeNode("signal.resample", {{"sr", 16000}}, "rs");
    try {
        node->process({{"audio", test::audioValue(torch::zeros({1, 1, 100}), 0.0)}});
        FAIL("audio without a sample rate was resampled");
    } catch (const Error& e) {
        CHECK(e.where().node == "rs");
        CHECK_THAT(e.what(), Catch::Contains("(signal.resample)") && Catch::Contains("no sample rate"));
    }
    CHECK_THROWS_WITH(node->process({{"audio", test::audioValue(torch::zeros({1, 100}), 8000.0)}}),
                      Catch::Contains("[batch, channel, sample]"));
}
