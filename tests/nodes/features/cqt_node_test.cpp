#include "nodes/features/constant_q.h"
#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <random>

using namespace avgraph;
using nlohmann::json;

namespace {

/** The clips and rates the CQT goldens exist for (README section 2.1). */
const std::vector<int> kCqtRates{16000, 22050};

torch::Tensor cqtOf(const Value& audio, const json& params) {
    auto node = test::makeNode("features.cqt", params);
    Value out = node->process({{"audio", audio}}).at("cqt");
    CHECK(out.kind == Kind::Spectrum);
    CHECK(out.hop == params.value("hop_length", 512));
    CHECK(out.sample_rate == audio.sample_rate);
    return out.tensor;
}

/** README section 5: atol as a multiple of max|ref|, plus rtol. */
test::Deviation compare(const std::string& what, const torch::Tensor& ours, const torch::Tensor& ref,
                        double atol_of_max, double rtol, const torch::Tensor& mask = {}) {
    REQUIRE(ours.sizes() == ref.sizes());
    const double peak = ref.abs().max().item<double>();
    auto d = test::deviation(ours, ref, atol_of_max * peak, rtol, mask);
    test::reportDeviation(what, d);
    return d;
}

struct Golden {
    std::string feature;
    json params;
};

const std::vector<Golden>& exactGoldens() {
    static const std::vector<Golden> all{
        {"cqt_mag_resfft_sparsity0", {{"method", "full"}, {"sparsity", 0.0}, {"res_type", "fft"}}},
        {"pseudo_cqt_mag", {{"method", "pseudo"}}},
    };
    return all;
}

} // namespace

TEST_CASE("features.cqt reproduces librosa's soxr-free CQT goldens (fft resampling, pseudo-CQT)",
          "[nodes][features][golden][cqt]") {
    for (const auto& clip : test::goldenClips())
        for (int sr : kCqtRates) {
            Value audio = test::goldenAudio(clip, sr);
            for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
                Value typed = audio.withTensor(audio.tensor.to(dtype));
                for (const auto& g : exactGoldens()) {
                    const std::string name = clip + "_sr" + std::to_string(sr) + "_" + g.feature +
                                             (dtype == torch::kFloat32 ? " f32" : " f64");
                    INFO(name);
                    auto ours = cqtOf(typed, g.params);
                    CHECK(ours.scalar_type() == dtype);
                    REQUIRE(ours.size(2) == 84);
                    CHECK(ours.size(3) == 1 + audio.tensor.size(-1) / 512);
                    // README section 5: 1e-4 of the maximum + 1e-3 relative.
                    CHECK(compare(name, ours[0][0], test::goldenArray(clip, sr, g.feature), 1e-4, 1e-3)
                              .within());
                }
            }
        }
}

TEST_CASE("features.cqt with libsoxr HQ decimation reproduces librosa's default CQT and hybrid CQT",
          "[nodes][features][golden][cqt]") {
    // librosa's default res_type='soxr_hq', decimating with libsoxr at HQ as python-soxr calls it. README
    // section 5: 1e-4 of the maximum when decimating with libsoxr HQ as librosa does.
    for (const auto& clip : test::goldenClips())
        for (int sr : kCqtRates) {
            Value audio = test::goldenAudio(clip, sr).withTensor(
                test::goldenAudio(clip, sr).tensor.to(torch::kFloat64));
            for (const auto& [feature, method] :
                 {std::pair<std::string, std::string>{"cqt_mag", "full"}, {"hybrid_cqt_mag", "hybrid"}}) {
                const std::string name = clip + "_sr" + std::to_string(sr) + "_" + feature;
                INFO(name);
                auto ours = cqtOf(audio, {{"method", method}});
                auto ref = test::goldenArray(clip, sr, feature);
                CHECK(compare(name, ours[0][0], ref, 1e-4, 0.0).within());
                // The top octave never passes through the resampler (no early downsampling at these rates).
                auto top = torch::zeros_like(ref, torch::kBool);
                top.narrow(0, 72, 12).fill_(true);
                CHECK(compare(name + " top octave", ours[0][0], ref, 1e-4, 0.0, top).within());
            }
        }
}

TEST_CASE("the fft decimator is scipy.signal.resample: a band-limited periodic signal comes out exact",
          "[nodes][features][cqt]") {
    // 2000 samples holding 3 and 50 whole cycles: both below the new Nyquist frequency (500 cycles), so
    // halving the rate keeps them exactly, scaled by sqrt(2) as librosa's scale=True does.
    const int64_t n = 2000;
    auto t = torch::arange(n, torch::kFloat64) / static_cast<double>(n);
    auto x = torch::sin(2 * M_PI * 3 * t) + 0.5 * torch::cos(2 * M_PI * 50 * t + 0.3);
    auto half = nodes::decimate(x.view({1, n}), 2, nodes::CqtResampler::Fft);
    auto t2 = torch::arange(n / 2, torch::kFloat64) / static_cast<double>(n / 2);
    auto want = std::sqrt(2.0) * (torch::sin(2 * M_PI * 3 * t2) + 0.5 * torch::cos(2 * M_PI * 50 * t2 + 0.3));
    CHECK(torch::allclose(half[0], want, 0.0, 1e-12));
    // An odd length gives ceil(n / 2) samples, with either resampler.
    CHECK(nodes::decimate(torch::randn({2, 1001}), 2, nodes::CqtResampler::Fft).size(-1) == 501);
    CHECK(nodes::decimate(torch::randn({2, 1001}), 2, nodes::CqtResampler::SoxrHq).size(-1) == 501);
    CHECK(nodes::decimate(torch::randn({1, 1001}), 4, nodes::CqtResampler::SoxrHq).size(-1) == 251);
}

TEST_CASE("libsoxr HQ decimation keeps a tone in the pass band", "[nodes][features][cqt]") {
    // A 1 kHz tone at 16 kHz halved to 8 kHz: same tone, amplitude sqrt(2) (scale=True), away from the ends.
    const int64_t n = 16000;
    auto t = torch::arange(n, torch::kFloat64) / 16000.0;
    auto half =
        nodes::decimate(torch::sin(2 * M_PI * 1000 * t).view({1, n}), 2, nodes::CqtResampler::SoxrHq)[0];
    auto t2 = torch::arange(n / 2, torch::kFloat64) / 8000.0;
    auto want = std::sqrt(2.0) * torch::sin(2 * M_PI * 1000 * t2);
    auto middle = [](const torch::Tensor& v) { return v.narrow(0, 1000, 6000); };
    CHECK((middle(half) - middle(want)).abs().max().item<double>() < 1e-4);
}

TEST_CASE("features.cqt analyses every channel of every clip on its own", "[nodes][features][cqt]") {
    torch::manual_seed(3);
    auto batch = torch::randn({2, 2, 12000});
    for (const std::string method : {"full", "pseudo", "hybrid"}) {
        INFO(method);
        json params = {{"method", method}, {"n_bins", 72}, {"hop_length", 256}};
        auto all = cqtOf(test::audioValue(batch, 16000.0), params);
        REQUIRE(all.sizes() == torch::IntArrayRef({2, 2, 72, 1 + 12000 / 256}));
        auto one = cqtOf(test::audioValue(batch.slice(0, 1, 2).slice(1, 1, 2), 16000.0), params);
        CHECK(torch::allclose(all[1][1], one[0][0], 1e-5, 1e-6));
    }
}

TEST_CASE("features.cqt power 2 is the squared magnitude, and other settings run", "[nodes][features][cqt]") {
    auto audio = test::goldenAudio("sine440_1000", 22050);
    auto mag = cqtOf(audio, {{"n_bins", 48}, {"fmin", 110.0}});
    auto power = cqtOf(audio, {{"n_bins", 48}, {"fmin", 110.0}, {"power", 2}});
    CHECK(torch::allclose(power, mag.square(), 1e-5, 1e-8));
    // The 440 Hz tone lands in bin 24 (A4 = 110 Hz * 2^(24/12)), and 1 kHz between bins 38 and 39.
    auto profile = mag[0][0].mean(1);
    CHECK(profile.argmax().item<int64_t>() == 24);
    for (const json& p : {json{{"window", "hamming"}, {"norm", nullptr}, {"scale", false}},
                          json{{"pad_mode", "reflect"}, {"filter_scale", 0.5}, {"tuning", 0.3}},
                          json{{"bins_per_octave", 24}, {"n_bins", 160}, {"hop_length", 300}},
                          json{{"method", "hybrid"}, {"window", "blackman"}, {"res_type", "fft"}}}) {
        INFO(p.dump());
        auto out = cqtOf(audio, p);
        CHECK(bool(torch::isfinite(out).all().item<bool>()));
        CHECK(out.max().item<double>() > 0.0);
    }
}

TEST_CASE("features.cqt says what is wrong with its parameters and inputs", "[nodes][features][cqt]") {
    CHECK_THROWS_WITH(test::makeNode("features.cqt", {{"sparsity", 1.5}}),
                      Catch::Contains("parameter 'sparsity'"));
    CHECK_THROWS_WITH(test::makeNode("features.cqt", {{"method", "vqt"}}),
                      Catch::Contains("parameter 'method'"));
    CHECK_THROWS_WITH(test::makeNode("features.cqt", {{"fmin", 0}}), Catch::Contains("parameter 'fmin'"));
    CHECK_THROWS_WITH(test::makeNode("features.cqt", {{"n_bins", 0}}), Catch::Contains("parameter 'n_bins'"));
    // 84 bins from C1 reach 4.1 kHz: too high for 8 kHz audio.
    auto node = test::makeNode("features.cqt", json::object(), "cqt");
    try {
        node->process({{"audio", test::audioValue(torch::zeros({1, 1, 8000}), 8000.0)}});
        FAIL("84 bins from C1 ran on 8 kHz audio");
    } catch (const Error& e) {
        CHECK(e.where().node == "cqt");
        CHECK_THAT(e.message(), Catch::Contains("Nyquist") && Catch::Contains("n_bins"));
    }
    CHECK_THROWS_WITH(node->process({{"audio", test::audioValue(torch::zeros({1, 1, 8000}), 0.0)}}),
                      Catch::Contains("sample rate"));
    CHECK_THROWS_WITH(node->process({{"audio", test::audioValue(torch::zeros({1, 1, 0}), 16000.0)}}),
                      Catch::Contains("empty"));
}

TEST_CASE("the pseudo-CQT streams the offline frames; the full and hybrid CQT refuse with the reason",
          "[nodes][features][cqt][stream]") {
    for (const std::string method : {"full", "hybrid"}) {
        auto node = test::makeNode("features.cqt", {{"method", method}}, "cqt");
        try {
            node->prepareStream({16000.0, 1, 4096});
            FAIL("the " << method << " CQT prepared to stream");
        } catch (const Error& e) {
            CHECK(e.where().node == "cqt");
            CHECK_THAT(e.message(), Catch::Contains("cannot stream method '" + method + "'") &&
                                        Catch::Contains("per octave") && Catch::Contains("'pseudo'"));
        }
    }
    Value audio = test::goldenAudio("clip1_flute", 16000);
    audio = audio.withTensor(torch::cat({audio.tensor, audio.tensor.flip(-1) * 0.1f}, 1));
    auto node = test::makeNode("features.cqt", {{"method", "pseudo"}});
    auto offline = node->process({{"audio", audio}}).at("cqt").tensor;
    node->prepareStream({16000.0, 2, 4096});
    // The lowest filter (C1 at 16 kHz) is 8470 samples long: n_fft 16384, a centred frame needs 8192 more.
    const int64_t latency = node->latencySamples();
    CHECK(latency == 8192);
    std::mt19937 rng(42);
    std::uniform_int_distribution<int64_t> size(1, 4096);
    std::vector<torch::Tensor> pieces;
    const int64_t n = audio.tensor.size(-1);
    for (int64_t at = 0; at < n;) {
        const int64_t len = std::min(size(rng), n - at);
        pieces.push_back(node->processBlock({{"audio", audio.withTensor(audio.tensor.narrow(-1, at, len))}})
                             .at("cqt")
                             .tensor);
        at += len;
    }
    auto streamed = torch::cat(pieces, -1);
    REQUIRE(streamed.size(-1) == 1 + (n - latency) / 512);
    auto expected = offline.narrow(-1, 0, streamed.size(-1));
    CHECK(torch::allclose(streamed, expected, 0.0, 1e-5 * expected.abs().max().item<double>()));
}

TEST_CASE("avgraph run presets/features/cqt.json reproduces librosa's default CQT",
          "[nodes][features][cqt][cli]") {
    test::ScratchDir out;
    auto r = test::runAvgraph(
        "run " + test::shellQuote((test::sourceDir() / "presets/features/cqt.json").string()) + " --input " +
        test::shellQuote((test::goldenDir() / "audio/clip1_flute_22050.wav").string()) + " --output " +
        test::shellQuote(out.path().string()));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    auto ours = host::readNpy(out / "cqt.npy");
    auto ref = test::goldenArray("clip1_flute", 22050, "cqt_mag");
    REQUIRE(ours.sizes() == ref.sizes());
    CHECK(compare("cli clip1_flute_sr22050_cqt_mag", ours, ref, 1e-4, 0.0).within());
}

TEST_CASE("the Table 1 CQT preset gives 64 rows in dB at 16 kHz", "[nodes][features][cqt][cli]") {
    test::ScratchDir out;
    auto r = test::runAvgraph(
        "run " + test::shellQuote((test::sourceDir() / "presets/features/table1-cqt.json").string()) +
        " --input " + test::shellQuote(test::esc10Clip().string()) + " --output " +
        test::shellQuote(out.path().string()));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    auto db = host::readNpy(out / "features.npy");
    // 5 s resampled to 16 kHz: 80000 samples, 1 + 80000 / 512 = 157 frames of 64 bins.
    REQUIRE(db.sizes() == torch::IntArrayRef({64, 157}));
    CHECK(db.max().item<double>() - db.min().item<double>() <= 80.0 + 1e-3);
}
