// features.gammatone against the gammatone package's goldens (README sections 2.1, 3.1 and 5) and its
// filter-level references, and streaming against offline.
#include "nodes/features/gammatone.h"
#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <fstream>
#include <random>

using namespace avgraph;
using nlohmann::json;
namespace fs = std::filesystem;
using avgraph::test::q;

namespace {

Value gammatone(Node& node, const Value& audio) { return node.process({{"audio", audio}}).at("gammatone"); }

json sidecar(const fs::path& npy) {
    auto path = npy;
    path.replace_extension(".json");
    std::ifstream in(path);
    return json::parse(in);
}

fs::path goldenPath(const std::string& clip, int sr, const std::string& feature) {
    return test::goldenDir() / clip / (clip + "_sr" + std::to_string(sr) + "_" + feature + ".npy");
}

/** Compares ours [bands, frames] with the golden's stored columns; per-row atol scales with each row's max.
 */
void checkGolden(const std::string& clip, int sr, const std::string& feature, const json& params,
                 int64_t frame_length, bool per_row) {
    INFO(clip << " " << sr << " " << feature);
    auto node = test::makeNode("features.gammatone", params);
    Value audio = test::goldenAudio(clip, sr);
    Value out = gammatone(*node, audio);
    CHECK(out.kind == Kind::Spectrum);
    CHECK(out.sample_rate == sr);
    CHECK(out.hop == 512);
    const int64_t n = audio.tensor.size(-1);
    const int64_t frames = 1 + (n - frame_length) / 512; // README 3.1: T_gt, T_fgt
    REQUIRE(out.tensor.sizes() == torch::IntArrayRef({1, 1, 64, frames}));

    auto ref = test::goldenArray(clip, sr, feature);
    const json meta = sidecar(goldenPath(clip, sr, feature));
    REQUIRE(ref.size(0) == 64);
    if (meta.contains("trimmed") && meta["trimmed"].is_object()) {
        CHECK(meta["trimmed"]["n_frames_full"].get<int64_t>() == frames);
        REQUIRE(ref.size(1) <= frames); // 44.1 kHz goldens keep the first 256 frames
    } else {
        REQUIRE(ref.size(1) == frames);
    }
    auto ours = out.tensor[0][0].slice(1, 0, ref.size(1)).to(torch::kFloat64);
    auto r = ref.to(torch::kFloat64);
    // |x - ref| <= 1e-5 m + 1e-4 |ref|  <=>  |x/m - ref/m| <= 1e-5 + 1e-4 |ref/m|
    auto scale = per_row ? r.abs().amax(1, true) : r.abs().max();
    auto d = test::deviation(ours / scale, r / scale, 1e-5, 1e-4);
    auto plain = test::deviation(ours, r, 0.0, 1e-4);
    const std::string what = clip + "_sr" + std::to_string(sr) + "_" + feature;
    test::reportDeviation(what + (per_row ? " (/row max)" : ""), d);
    INFO("max|d| " << plain.max_abs << ", max|d|/" << (per_row ? "row max " : "max ") << d.max_abs
                   << ", budget used " << d.budget_used);
    CHECK(d.within());
}

/** The centre frequencies a golden sidecar lists, low to high. */
std::vector<double> sidecarCentreFreqs(const json& meta) {
    const json& cf = meta.contains("centre_freqs_hz_low_to_high")
                         ? meta["centre_freqs_hz_low_to_high"]
                         : meta["params"]["centre_freqs_hz_low_to_high"];
    return cf.get<std::vector<double>>();
}

} // namespace

TEST_CASE("features.gammatone 'iir' reproduces the package's gtgram goldens", "[nodes][features][golden]") {
    for (const auto& clip : test::goldenClips())
        for (int sr : test::goldenRates())
            checkGolden(clip, sr, "gtgram", json::object(), 1024, /*per_row=*/true);
}

TEST_CASE("features.gammatone 'fft' reproduces the package's fft_gtgram goldens",
          "[nodes][features][golden]") {
    for (const auto& clip : test::goldenClips())
        for (int sr : test::goldenRates())
            checkGolden(clip, sr, "fft_gtgram", {{"method", "fft"}}, 2048, /*per_row=*/false);
}

TEST_CASE("gammatone ERB coefficients and FFT weights match the package's", "[nodes][features][golden]") {
    for (int sr : test::goldenRates()) {
        INFO(sr);
        nodes::GammatoneSettings s;
        const auto cf = nodes::gammatoneCentreFreqs(sr, s);
        const std::string coefs_name = "gammatone_erbcoefs_sr" + std::to_string(sr) + "_64ch_fmin50.npy";
        const auto expected_cf = sidecarCentreFreqs(sidecar(test::goldenDir() / "filters" / coefs_name));
        REQUIRE(cf.size() == expected_cf.size());
        double cf_err = 0.0;
        for (size_t i = 0; i < cf.size(); ++i)
            cf_err = std::max(cf_err, std::abs(cf[i] - expected_cf[i]) / expected_cf[i]);
        INFO("centre frequencies: max relative error " << cf_err);
        CHECK(cf_err < 1e-12);

        // Stored in float32: ours must round to within half a float32 ulp (+ a little) of each value.
        auto coefs = nodes::erbFilterCoefficients(sr, cf);
        auto ref = test::goldenFilter(coefs_name);
        REQUIRE(ref.sizes() == torch::IntArrayRef({64, 10}));
        auto d = test::deviation(coefs, ref, 1e-30, 1.2e-7);
        test::reportDeviation(coefs_name, d);
        INFO("ERB coefficients: max|d| " << d.max_abs << ", budget used " << d.budget_used);
        CHECK(d.within());

        const std::string weights_name =
            "gammatone_fftweights_sr" + std::to_string(sr) + "_nfft2048_64ch_fmin50.npy";
        auto weights = nodes::gammatoneFftWeights(sr, s);
        ref = test::goldenFilter(weights_name);
        REQUIRE(ref.sizes() == torch::IntArrayRef({64, 1025}));
        d = test::deviation(weights, ref, 1e-30, 1.2e-7);
        test::reportDeviation(weights_name, d);
        INFO("FFT weights: max|d| " << d.max_abs << ", budget used " << d.budget_used);
        CHECK(d.within());
    }
}

TEST_CASE("features.gammatone streams the offline frames after its latency", "[nodes][features][stream]") {
    struct Case {
        json params;
        int64_t latency;
    };
    const std::vector<Case> cases{
        {json::object(), 1024},
        {{{"method", "fft"}}, 2048},
        {{{"win_length", 256}, {"hop_length", 700}, {"n_bands", 20}}, 256}, // samples between frames
        {{{"method", "fft"}, {"win_length", 300}, {"hop_length", 128}, {"n_fft", 512}}, 512},
        {{{"method", "fft"}, {"win_length", 300}, {"hop_length", 128}}, 1024}, // n_fft: 2^ceil(log2(600))
        {{{"win_length", 1000}, {"hop_length", 300}, {"power", 2.0}}, 1000},   // frames overlap 4 deep
    };
    Value audio = test::goldenAudio("clip1_flute", 16000);
    // A batch of two clips with two channels each.
    audio = audio.withTensor(
        torch::cat({audio.tensor, audio.tensor.flip(-1) * 0.1f}, 1).narrow(-1, 0, 40000).repeat({2, 1, 1}));
    uint32_t seed = 7;
    for (const auto& c : cases) {
        INFO(c.params.dump());
        auto node = test::makeNode("features.gammatone", c.params);
        auto offline = gammatone(*node, audio).tensor;
        node->prepareStream({16000.0, 2, 4096});
        CHECK(node->latencySamples() == c.latency);
        const int64_t hop = c.params.value("hop_length", 512);
        for (int round = 0; round < 2; ++round) { // after a reset the stream starts over
            auto streamed = test::streamInBlocks(audio, test::single(*node, "audio", "gammatone"), seed++);
            const int64_t n = audio.tensor.size(-1);
            REQUIRE(streamed.size(-1) == 1 + (n - c.latency) / hop);
            REQUIRE(streamed.sizes() == offline.sizes());
            const double peak = offline.abs().max().item<double>();
            const double err = (streamed - offline).abs().max().item<double>();
            INFO("max|streamed - offline| / max " << err / peak);
            // Both methods compute each frame with the same operations in the same order, whatever the
            // blocks: the IIR filters sample by sample, the FFT method with one FFTW plan per size and the
            // banded weights summed in a fixed order (a BLAS matmul's order depends on the CPU and on the
            // number of frames; it missed 1e-6 of the maximum on an AMD EPYC).
            CHECK(torch::equal(streamed, offline));
            node->resetStream();
        }
    }
    // Single samples, and a block that does not continue the stream.
    auto node =
        test::makeNode("features.gammatone", {{"win_length", 64}, {"hop_length", 16}, {"n_bands", 8}});
    auto small = audio.withTensor(audio.tensor.narrow(-1, 10000, 600));
    auto offline = gammatone(*node, small).tensor;
    node->prepareStream({16000.0, 2, 1});
    auto streamed = test::streamInBlocks(small, test::single(*node, "audio", "gammatone"), 3, 1);
    CHECK(torch::allclose(streamed, offline, 0.0, 1e-6 * offline.abs().max().item<double>()));
    CHECK_THROWS_WITH(node->processBlock({{"audio", test::audioValue(torch::zeros({1, 2, 10}), 16000.0)}}),
                      Catch::Contains("does not continue the stream"));
}

TEST_CASE("features.gammatone runs in the audio's dtype and analyses channels on their own",
          "[nodes][features]") {
    torch::manual_seed(5);
    auto x = torch::randn({2, 3, 5000});
    for (const std::string method : {"iir", "fft"}) {
        INFO(method);
        auto node = test::makeNode("features.gammatone", {{"method", method}, {"n_bands", 32}});
        auto all = gammatone(*node, test::audioValue(x, 16000.0)).tensor;
        CHECK(all.scalar_type() == torch::kFloat32);
        auto f64 = gammatone(*node, test::audioValue(x.to(torch::kFloat64), 16000.0)).tensor;
        CHECK(f64.scalar_type() == torch::kFloat64);
        CHECK(torch::allclose(all.to(torch::kFloat64), f64, 1e-4, 1e-6));
        auto one = gammatone(*node, test::audioValue(x.slice(0, 1, 2).slice(1, 2, 3), 16000.0)).tensor;
        CHECK(torch::allclose(all[1][2], one[0][0], 1e-5, 1e-7));
    }
}

TEST_CASE("features.gammatone says what is wrong with its parameters and inputs", "[nodes][features]") {
    try {
        test::makeNode("features.gammatone", {{"method", "fft"}, {"win_length", 4096}, {"n_fft", 2048}},
                       "gt");
        FAIL("win_length > n_fft was accepted");
    } catch (const Error& e) {
        CHECK(e.where().pointer == "/nodes/gt/params/win_length");
        CHECK_THAT(e.what(), Catch::Contains("expected at most n_fft = 2048"));
    }
    CHECK_NOTHROW(
        test::makeNode("features.gammatone", {{"win_length", 4096}, {"n_fft", 2048}})); // 'iir' has no FFT
    CHECK_THROWS_WITH(test::makeNode("features.gammatone", {{"power", 0}}), Catch::Contains("power"));
    CHECK_THROWS_WITH(test::makeNode("features.gammatone", {{"hop_length", 0}}),
                      Catch::Contains("hop_length"));
    CHECK_THROWS_WITH(test::makeNode("features.gammatone", {{"n_bands", 0}}), Catch::Contains("n_bands"));
    CHECK_THROWS_WITH(test::makeNode("features.gammatone", {{"fmin", 8000}, {"fmax", 4000}}),
                      Catch::Contains("fmin"));
    CHECK_THROWS_WITH(test::makeNode("features.gammatone", {{"method", "gammatone"}}),
                      Catch::Contains("method") && Catch::Contains("\"fft\""));

    auto node = test::makeNode("features.gammatone", {{"fmax", 10000.0}}, "gt");
    try {
        gammatone(*node, test::audioValue(torch::zeros({1, 1, 4000}), 16000.0));
        FAIL("fmax above Nyquist was accepted");
    } catch (const Error& e) {
        CHECK(e.where().node == "gt");
        CHECK_THAT(e.what(), Catch::Contains("(features.gammatone)") && Catch::Contains("Nyquist"));
    }
    for (const std::string method : {"iir", "fft"}) {
        auto n = test::makeNode("features.gammatone", {{"method", method}});
        CHECK_THROWS_WITH(gammatone(*n, test::audioValue(torch::zeros({1, 1, 1000}), 16000.0)),
                          Catch::Contains("shorter than"));
        CHECK_THROWS_WITH(gammatone(*n, test::audioValue(torch::zeros({1, 4000}), 16000.0)),
                          Catch::Contains("must be audio [batch, channel, sample]"));
    }
}

TEST_CASE("features.gammatone power raises the package's values to an exponent", "[nodes][features]") {
    Value audio = test::goldenAudio("clip1_flute", 16000);
    audio = audio.withTensor(audio.tensor.narrow(-1, 0, 30000).to(torch::kFloat64));
    for (const std::string method : {"iir", "fft"}) {
        INFO(method);
        auto amplitude = gammatone(*test::makeNode("features.gammatone", {{"method", method}}), audio).tensor;
        auto power =
            gammatone(*test::makeNode("features.gammatone", {{"method", method}, {"power", 2.0}}), audio)
                .tensor;
        auto cube =
            gammatone(*test::makeNode("features.gammatone", {{"method", method}, {"power", 3.0}}), audio)
                .tensor;
        CHECK(torch::allclose(power, amplitude.square(), 1e-12, 0.0));
        CHECK(torch::allclose(cube, amplitude.pow(3), 1e-12, 0.0));
    }
}

TEST_CASE("avgraph run with the gammatone presets reproduces the package's goldens",
          "[nodes][features][golden][cli]") {
    const fs::path preset = test::sourceDir() / "presets/features/gammatone.json";
    struct Run {
        std::string set, feature;
    };
    for (const auto& run : {Run{"", "gtgram"}, Run{" --set gammatone.method=fft", "fft_gtgram"}}) {
        for (int sr : test::goldenRates()) {
            INFO(run.feature << " " << sr);
            test::ScratchDir out;
            auto r = test::runAvgraph(
                "run " + q(preset) + run.set + " --input " +
                q(test::goldenDir() / "audio" / ("clip1_flute_" + std::to_string(sr) + ".wav")) +
                " --output " + q(out.path()));
            INFO(r.output);
            REQUIRE(r.exit_code == 0);
            auto ours = host::readNpy(out / "gammatone.npy").to(torch::kFloat64);
            auto ref = test::goldenArray("clip1_flute", sr, run.feature).to(torch::kFloat64);
            REQUIRE(ours.dim() == 2);
            REQUIRE(ours.size(0) == 64);
            REQUIRE(ours.size(1) >= ref.size(1));
            ours = ours.slice(1, 0, ref.size(1));
            // README section 5: 1e-5 of the row max (gtgram) or of the max (fft_gtgram), + 1e-4 relative.
            auto scale = run.feature == "gtgram" ? ref.abs().amax(1, true) : ref.abs().max();
            CHECK(test::deviation(ours / scale, ref / scale, 1e-5, 1e-4).within());
        }
    }

    SECTION("table1-gammatone: 16 kHz, 64 bands, in dB clipped 80 dB below the clip's maximum") {
        test::ScratchDir out;
        auto r = test::runAvgraph("run " + q(test::sourceDir() / "presets/features/table1-gammatone.json") +
                                  " --input " + q(test::goldenDir() / "audio/clip1_flute_16000.wav") +
                                  " --output " + q(out.path()));
        INFO(r.output);
        REQUIRE(r.exit_code == 0);
        auto ours = host::readNpy(out / "features.npy").to(torch::kFloat64);
        // 10 log10(gtgram^2) = 20 log10(gtgram), then top_db 80 against the whole clip's maximum.
        auto db = 20.0 * test::goldenArray("clip1_flute", 16000, "gtgram").to(torch::kFloat64).log10();
        db = torch::maximum(db, db.max() - 80.0);
        REQUIRE(ours.sizes() == db.sizes());
        const double err = (ours - db).abs().max().item<double>();
        INFO("max |dB difference| " << err);
        CHECK(err <= 0.01); // the log-mel budget; the amplitudes agree to float32 rounding
    }
}
