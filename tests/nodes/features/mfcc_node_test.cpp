#include "tests/nodes/node_test_support.h"

#include "nodes/features/cepstral.h"

#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <random>

using namespace avgraph;
using nlohmann::json;

namespace {

/** The goldens' log-mel: 128 Slaney bands, top_db 80 (README section 2). */
json goldenLogMelParams(const json& top_db = 80.0) {
    return {{"n_fft", 1024}, {"hop_length", 512}, {"n_mels", 128}, {"htk", false}, {"top_db", top_db}};
}

/** The same as features.mfcc parameters, whose mel filterbank norm is mel_norm. */
json goldenMfccParams(int n_mfcc, const json& top_db = 80.0) {
    json p = goldenLogMelParams(top_db);
    p["mel_norm"] = "slaney";
    p["n_mfcc"] = n_mfcc;
    return p;
}

Value spectrumOf(const torch::Tensor& rows_by_frames) {
    Value v;
    v.tensor = rows_by_frames.view({1, 1, rows_by_frames.size(0), rows_by_frames.size(1)});
    v.kind = Kind::Spectrum;
    v.hop = 512;
    return v;
}

Value mfccOf(Node& node, const Value& in) { return node.process({{"input", in}}).at("mfcc"); }

// README section 5: mfcc* within 5e-3 absolute (coefficients cross 0, so no rtol).
constexpr double kMfccAtol = 5e-3;

} // namespace

TEST_CASE("features.mfcc reproduces librosa's MFCC goldens from audio", "[nodes][features][golden]") {
    for (const auto& clip : test::goldenClips())
        for (int sr : test::goldenRates()) {
            Value audio = test::goldenAudio(clip, sr);
            // float32 as the host decodes it, and float64 as librosa computed the goldens.
            for (auto dtype : {torch::kFloat32, torch::kFloat64})
                for (int n : {20, 40}) {
                    const std::string name = "mfcc" + std::to_string(n);
                    const std::string precision = dtype == torch::kFloat32 ? " f32" : " f64";
                    INFO(clip << " " << sr << " " << name << precision);
                    auto node = test::makeNode("features.mfcc", goldenMfccParams(n));
                    Value out = mfccOf(*node, audio.withTensor(audio.tensor.to(dtype)));
                    CHECK(out.kind == Kind::Spectrum);
                    CHECK(out.hop == 512);
                    CHECK(out.sample_rate == sr);
                    CHECK(out.tensor.scalar_type() == dtype);
                    REQUIRE(out.tensor.sizes() ==
                            torch::IntArrayRef({1, 1, n, 1 + audio.tensor.size(-1) / 512}));
                    // 44.1 kHz goldens hold the first 256 frames of the whole clip (README section 3.3).
                    auto ref = test::goldenArray(clip, sr, name);
                    auto d = test::deviation(out.tensor[0][0].slice(1, 0, ref.size(1)), ref, kMfccAtol, 0.0);
                    test::reportDeviation(
                        clip + "_sr" + std::to_string(sr) + "_" + name + " (audio" + precision + ")", d);
                    CHECK(d.within());
                }
        }
}

TEST_CASE("features.mfcc reproduces the MFCC goldens from the golden log-mel (librosa's S=)",
          "[nodes][features][golden]") {
    for (const auto& clip : test::goldenClips())
        for (int sr : test::goldenRates())
            for (int n : {20, 40}) {
                const std::string name = "mfcc" + std::to_string(n);
                INFO(clip << " " << sr << " " << name);
                // The DCT works frame by frame, so the trimmed 44.1 kHz log-mel gives the trimmed MFCC.
                Value db = spectrumOf(test::goldenArray(clip, sr, "logmel128_slaney_top80"));
                Value out = mfccOf(*test::makeNode("features.mfcc", {{"n_mfcc", n}}), db);
                CHECK(out.kind == Kind::Spectrum);
                CHECK(out.hop == 512);
                auto ref = test::goldenArray(clip, sr, name);
                auto d = test::deviation(out.tensor[0][0], ref, kMfccAtol, 0.0);
                test::reportDeviation(clip + "_sr" + std::to_string(sr) + "_" + name + " (golden log-mel)",
                                      d);
                CHECK(d.within());
            }
}

TEST_CASE("features.mfcc from audio equals features.logmel followed by features.mfcc", "[nodes][features]") {
    torch::manual_seed(5);
    auto audio = test::audioValue(torch::randn({2, 2, 12000}), 22050.0);
    json logmel = {{"n_fft", 512}, {"hop_length", 160}, {"n_mels", 40},   {"fmin", 30.0},
                   {"htk", true},  {"norm", "none"},    {"top_db", 60.0}, {"pad_mode", "reflect"}};
    json mfcc = {{"n_mfcc", 13}, {"lifter", 22.0}};
    json one = logmel;
    one.erase("norm");
    one["mel_norm"] = "none";
    one.update(mfcc);
    auto direct = mfccOf(*test::makeNode("features.mfcc", one), audio);
    Value db = test::makeNode("features.logmel", logmel)->process({{"audio", audio}}).at("logmel");
    auto chained = mfccOf(*test::makeNode("features.mfcc", mfcc), db);
    CHECK(direct.hop == 160);
    CHECK(direct.sample_rate == 22050.0);
    REQUIRE(direct.tensor.sizes() == torch::IntArrayRef({2, 2, 13, 1 + 12000 / 160}));
    CHECK(torch::allclose(direct.tensor, chained.tensor, 0.0, 1e-4));
}

TEST_CASE("features.mfcc: orthonormal DCT-II, scipy's unnormalised one and librosa's lifter",
          "[nodes][features]") {
    auto ortho = nodes::dctMatrix(16, 16, true);
    CHECK(torch::allclose(torch::matmul(ortho, ortho.t()), torch::eye(16, torch::kFloat64), 0.0, 1e-12));

    torch::manual_seed(3);
    auto x = torch::randn({2, 3, 24, 7}, torch::kFloat64) * 20.0;
    const double pi = 3.141592653589793;
    // scipy.fftpack.dct(x, type=2, norm=None)[k] = 2 sum_i x_i cos(pi k (2i + 1) / (2N)), written out.
    auto plain = torch::zeros({2, 3, 5, 7}, torch::kFloat64);
    for (int k = 0; k < 5; ++k)
        for (int i = 0; i < 24; ++i)
            plain.select(2, k) += 2.0 * std::cos(pi * k * (2 * i + 1) / 48.0) * x.select(2, i);
    Value in;
    in.tensor = x;
    in.kind = Kind::Spectrum;
    auto none = mfccOf(*test::makeNode("features.mfcc", {{"n_mfcc", 5}, {"norm", "none"}}), in);
    CHECK(torch::allclose(none.tensor, plain, 0.0, 1e-9));
    // norm="ortho" scales c0 by sqrt(1/(4N)) and the others by sqrt(1/(2N)).
    auto orthonormal = mfccOf(*test::makeNode("features.mfcc", {{"n_mfcc", 5}}), in).tensor;
    CHECK(torch::allclose(orthonormal.select(2, 0), plain.select(2, 0) * std::sqrt(1.0 / 96.0), 0.0, 1e-9));
    CHECK(torch::allclose(orthonormal.slice(2, 1), plain.slice(2, 1) * std::sqrt(1.0 / 48.0), 0.0, 1e-9));

    auto liftered = mfccOf(*test::makeNode("features.mfcc", {{"n_mfcc", 5}, {"lifter", 22}}), in).tensor;
    for (int k = 0; k < 5; ++k) {
        const double weight = 1.0 + 11.0 * std::sin(pi * (k + 1) / 22.0);
        CHECK(torch::allclose(liftered.select(2, k), orthonormal.select(2, k) * weight, 0.0, 1e-9));
    }
}

TEST_CASE("features.mfcc refuses bad parameters and inputs, naming them", "[nodes][features]") {
    Value in;
    in.tensor = torch::zeros({1, 1, 16, 4});
    in.kind = Kind::Spectrum;
    CHECK_THROWS_WITH(mfccOf(*test::makeNode("features.mfcc", {{"n_mfcc", 20}}, "cc"), in),
                      Catch::Contains("node 'cc'") &&
                          Catch::Contains("parameter 'n_mfcc' = 20 is more than the 16 mel bands"));
    auto audio = test::audioValue(torch::zeros({1, 1, 4000}), 16000.0);
    CHECK_THROWS_WITH(mfccOf(*test::makeNode("features.mfcc", {{"n_mfcc", 40}, {"n_mels", 32}}), audio),
                      Catch::Contains("parameter 'n_mfcc' = 40 is more than the 32 mel bands"));
    CHECK_THROWS_WITH(test::makeNode("features.mfcc", {{"dct_type", 3}}),
                      Catch::Contains("parameter 'dct_type'"));
    CHECK_THROWS_WITH(test::makeNode("features.mfcc", {{"norm", "slaney"}}),
                      Catch::Contains("parameter 'norm'"));
    CHECK_THROWS_WITH(test::makeNode("features.mfcc", {{"mel_norm", "ortho"}}),
                      Catch::Contains("parameter 'mel_norm'"));
    CHECK_THROWS_WITH(test::makeNode("features.mfcc", {{"lifter", -1}}),
                      Catch::Contains("parameter 'lifter'"));
    CHECK_THROWS_WITH(test::makeNode("features.mfcc", {{"fmin", 8000}, {"fmax", 4000}}),
                      Catch::Contains("parameter 'fmin'"));
    CHECK_THROWS_WITH(test::makeNode("features.mfcc", {{"win_length", 4096}}),
                      Catch::Contains("parameter 'win_length'"));
    CHECK_THROWS_WITH(mfccOf(*test::makeNode("features.mfcc", {{"fmax", 12000}}), audio),
                      Catch::Contains("fmax = 12000 Hz is above the Nyquist frequency"));
    in.tensor = torch::zeros({1, 16, 4, 2, 2});
    CHECK_THROWS_WITH(mfccOf(*test::makeNode("features.mfcc"), in),
                      Catch::Contains("[batch, channel, bin, frame]"));
}

namespace {} // namespace

TEST_CASE("features.mfcc streams the offline MFCC, from a log-mel and from audio",
          "[nodes][features][stream]") {
    Value audio = test::goldenAudio("clip1_flute", 16000);
    audio = audio.withTensor(torch::cat({audio.tensor, audio.tensor.flip(-1) * 0.1f}, 1).repeat({2, 1, 1}));
    const int64_t n = audio.tensor.size(-1);
    const int64_t frames = 1 + (n - 512) / 512; // those whose stft frame needs no padding after the end

    SECTION("from a log-mel: no latency of its own") {
        auto logmel = test::makeNode("features.logmel", goldenLogMelParams(nullptr));
        auto mfcc = test::makeNode("features.mfcc", {{"n_mfcc", 40}, {"lifter", 22}});
        auto offline = mfccOf(*mfcc, logmel->process({{"audio", audio}}).at("logmel")).tensor;
        logmel->prepareStream({16000.0, 2, 4096});
        mfcc->prepareStream({16000.0, 2, 4096});
        auto streamed = test::streamInBlocks(
            audio,
            [&](const Value& block) {
                return mfcc->processBlock({{"input", logmel->processBlock({{"audio", block}}).at("logmel")}})
                    .at("mfcc");
            },
            41);
        CHECK(mfcc->latencySamples() == 0);
        REQUIRE(streamed.size(-1) == frames);
        auto expected = offline.narrow(-1, 0, frames);
        CHECK(torch::allclose(streamed, expected, 0.0, 1e-5 * expected.abs().max().item<double>()));
    }
    SECTION("from audio with top_db null: the latency of features.stft") {
        auto mfcc = test::makeNode("features.mfcc", goldenMfccParams(20, nullptr));
        auto offline = mfccOf(*mfcc, audio).tensor;
        mfcc->prepareStream({16000.0, 2, 4096});
        uint32_t seed = 42;
        for (int pass = 0; pass < 2; ++pass) { // the second after a reset
            auto streamed = test::streamInBlocks(
                audio,
                [&](const Value& block) {
                    return mfcc->processBlock({{"input", block}}).at("mfcc");
                },
                seed++);
            CHECK(mfcc->latencySamples() == 512);
            REQUIRE(streamed.size(-1) == frames);
            auto expected = offline.narrow(-1, 0, frames);
            CHECK(torch::allclose(streamed, expected, 0.0, 1e-5 * expected.abs().max().item<double>()));
            mfcc->resetStream();
        }
    }
    SECTION("from audio with top_db: refused with the first block, saying what to do") {
        auto mfcc = test::makeNode("features.mfcc", goldenMfccParams(20), "cc");
        mfcc->prepareStream({16000.0, 2, 4096});
        try {
            mfcc->processBlock({{"input", audio.withTensor(audio.tensor.narrow(-1, 0, 100))}});
            FAIL("an MFCC with top_db = 80 streamed audio");
        } catch (const Error& e) {
            CHECK(e.where().node == "cc");
            CHECK_THAT(e.message(), Catch::Contains("cannot stream with top_db = 80") &&
                                        Catch::Contains("\"top_db\": null"));
        }
        // top_db does not apply to a log-mel input.
        mfcc->resetStream();
        Value db = spectrumOf(torch::zeros({128, 3}));
        CHECK(mfcc->processBlock({{"input", db}}).at("mfcc").tensor.size(-1) == 3);
    }
}

TEST_CASE("presets/features/mfcc.json reproduces the MFCC goldens through the CLI",
          "[nodes][features][golden][cli]") {
    test::ScratchDir out;
    const auto preset = test::sourceDir() / "presets/features/mfcc.json";
    for (int sr : test::goldenRates())
        for (int n : {20, 40}) {
            INFO(sr << " mfcc" << n);
            const auto wav = test::goldenDir() / "audio" / ("clip1_flute_" + std::to_string(sr) + ".wav");
            auto r = test::runAvgraph("run " + test::shellQuote(preset.string()) + " --set mfcc.n_mfcc=" +
                                      std::to_string(n) + " --input " + test::shellQuote(wav.string()) +
                                      " --output " + test::shellQuote(out.path().string()));
            INFO(r.output);
            REQUIRE(r.exit_code == 0);
            auto ours = host::readNpy(out / "mfcc.npy");
            auto ref = test::goldenArray("clip1_flute", sr, "mfcc" + std::to_string(n));
            REQUIRE(ours.size(0) == n);
            auto d = test::deviation(ours.slice(1, 0, ref.size(1)), ref, kMfccAtol, 0.0);
            test::reportDeviation(
                "clip1_flute_sr" + std::to_string(sr) + "_mfcc" + std::to_string(n) + " (CLI)", d);
            CHECK(d.within());
        }
}

TEST_CASE("presets/features/table1-mfcc.json keeps 64 coefficients of 16 kHz audio",
          "[nodes][features][golden][cli]") {
    test::ScratchDir out;
    const auto preset = test::sourceDir() / "presets/features/table1-mfcc.json";
    // A 44.1 kHz file: the preset resamples it to 16 kHz; the golden's 16 kHz file is sox's resampling.
    for (int sr : {16000, 44100}) {
        INFO(sr);
        const auto wav = test::goldenDir() / "audio" / ("sine440_1000_" + std::to_string(sr) + ".wav");
        auto r = test::runAvgraph("run " + test::shellQuote(preset.string()) + " --input " +
                                  test::shellQuote(wav.string()) + " --output " +
                                  test::shellQuote(out.path().string()));
        INFO(r.output);
        REQUIRE(r.exit_code == 0);
        auto ours = host::readNpy(out / "features.npy");
        REQUIRE(ours.sizes() == torch::IntArrayRef({64, 63})); // 2 s at 16 kHz, hop 512
        if (sr == 16000) {
            // The first coefficients of a longer DCT are those of a shorter one.
            auto ref = test::goldenArray("sine440_1000", 16000, "mfcc40");
            CHECK(test::deviation(ours.slice(0, 0, 40), ref, kMfccAtol, 0.0).within());
        }
    }
}
