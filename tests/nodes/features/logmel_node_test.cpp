#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

#include <torch/torch.h>

using namespace avgraph;
using nlohmann::json;

namespace {

struct LogMelGolden {
    int n_mels;
    bool htk;
    bool top80;

    std::string melName() const { return "mel" + std::to_string(n_mels) + (htk ? "_htk-nonorm" : "_slaney"); }
    std::string name() const { return "log" + melName() + (top80 ? "_top80" : "_topNone"); }
    json dbParams() const {
        return {{"ref", 1.0}, {"amin", 1e-10}, {"top_db", top80 ? json(80.0) : json(nullptr)}};
    }
    json melParams() const { return {{"n_mels", n_mels}, {"htk", htk}, {"norm", htk ? "none" : "slaney"}}; }
};

std::vector<LogMelGolden> logMelGoldens() {
    std::vector<LogMelGolden> all;
    for (int n : {64, 128})
        for (bool htk : {false, true})
            for (bool top80 : {true, false})
                all.push_back({n, htk, top80});
    return all;
}

// README section 5: 0.01 dB; without top_db, 0.5 dB where the reference is more than 80 dB below its
// maximum "(or mask it)". In float32 the FFT's rounding noise sits about 150 dB below each frame's peak,
// which the unnormalised HTK bands of the sine and the 44.1 kHz flute show above the -100 dB floor
// (up to 5 dB off there), so float32 results are checked within 80 dB of the maximum only
// (`far_region`: false) and float64 ones everywhere.
void checkDb(const std::string& what, const torch::Tensor& ours, const torch::Tensor& ref, bool far_region) {
    auto near = ref >= ref.max() - 80.0;
    auto d = test::deviation(ours, ref, 0.01, 0.0, near);
    test::reportDeviation(what, d);
    CHECK(d.within());
    if (!near.all().item<bool>()) {
        auto far = test::deviation(ours, ref, 0.5, 0.0, near.logical_not());
        test::reportDeviation(what + " (>80 dB down)", far);
        if (far_region)
            CHECK(far.within());
    }
}

Value run(Node& node, const std::string& port, const Value& in, const std::string& out) {
    return node.process({{port, in}}).at(out);
}

} // namespace

TEST_CASE("features.power_to_db reproduces librosa.power_to_db on the golden mel spectra",
          "[nodes][features][golden]") {
    for (const auto& clip : test::goldenClips())
        for (int sr : test::goldenRates()) {
            const int64_t frames = 1 + test::goldenAudio(clip, sr).tensor.size(-1) / 512;
            for (const auto& g : logMelGoldens()) {
                INFO(clip << " " << sr << " " << g.name());
                auto mel = test::goldenArray(clip, sr, g.melName());
                // A trimmed mel (README section 3.3) may lack the clip's maximum that top_db clipped against.
                if (g.top80 && mel.size(1) < frames)
                    continue;
                Value power;
                power.tensor = mel.view({1, 1, mel.size(0), mel.size(1)});
                power.kind = Kind::Spectrum;
                auto node = test::makeNode("features.power_to_db", g.dbParams());
                Value db = run(*node, "power", power, "db");
                CHECK(db.kind == Kind::Spectrum);
                auto ref = test::goldenArray(clip, sr, g.name());
                checkDb("power_to_db " + clip + "_sr" + std::to_string(sr) + "_" + g.name(), db.tensor[0][0],
                        ref, true);
            }
        }
}

TEST_CASE("features.logmel reproduces librosa's log-mel goldens from audio", "[nodes][features][golden]") {
    for (const auto& clip : test::goldenClips())
        for (int sr : test::goldenRates()) {
            Value audio = test::goldenAudio(clip, sr);
            // float32 as the host decodes it, and float64 as librosa computed the goldens.
            for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
                Value typed = audio.withTensor(audio.tensor.to(dtype));
                const std::string precision = dtype == torch::kFloat32 ? " f32" : " f64";
                for (const auto& g : logMelGoldens()) {
                    INFO(clip << " " << sr << " " << g.name() << precision);
                    json params = {{"n_fft", 1024},
                                   {"hop_length", 512},
                                   {"center", true},
                                   {"pad_mode", "constant"},
                                   {"power", 2.0}};
                    params.update(g.melParams());
                    params.update(g.dbParams());
                    auto node = test::makeNode("features.logmel", params);
                    Value out = run(*node, "audio", typed, "logmel");
                    CHECK(out.kind == Kind::Spectrum);
                    CHECK(out.hop == 512);
                    CHECK(out.sample_rate == sr);
                    CHECK(out.tensor.scalar_type() == dtype);
                    REQUIRE(out.tensor.sizes() ==
                            torch::IntArrayRef({1, 1, g.n_mels, 1 + audio.tensor.size(-1) / 512}));
                    auto ref = test::goldenArray(clip, sr, g.name());
                    checkDb(clip + "_sr" + std::to_string(sr) + "_" + g.name() + precision,
                            out.tensor[0][0].slice(1, 0, ref.size(1)), ref, dtype == torch::kFloat64);
                }
            }
        }
}

TEST_CASE("features.logmel equals the stft -> mel -> power_to_db chain", "[nodes][features]") {
    torch::manual_seed(6);
    auto audio =
        test::audioValue(torch::randn({2, 2, 20000}) * torch::tensor({1.0f, 0.01f}).view({2, 1, 1}), 22050.0);
    json stft = {{"n_fft", 2048}, {"hop_length", 256}, {"win_length", 1500}, {"pad_mode", "reflect"}};
    json mel = {{"n_mels", 96}, {"fmin", 20.0}, {"fmax", 11000.0}, {"htk", true}, {"norm", "none"}};
    json db = {{"ref", 2.0}, {"amin", 1e-8}, {"top_db", 60.0}};
    json all = stft;
    all.update(mel);
    all.update(db);
    auto one = run(*test::makeNode("features.logmel", all), "audio", audio, "logmel").tensor;
    auto spectrum = run(*test::makeNode("features.stft", stft), "audio", audio, "spectrum");
    auto chain = run(*test::makeNode("features.power_to_db", db), "power",
                     run(*test::makeNode("features.mel", mel), "spectrum", spectrum, "mel"), "db")
                     .tensor;
    CHECK(torch::allclose(one, chain, 0.0, 1e-4));
}

TEST_CASE("top_db clips each clip against the maximum over all its channels", "[nodes][features]") {
    torch::manual_seed(7);
    // A 1 kHz tone over faint noise: more than 40 dB between its loudest and quietest mel bands.
    auto t = torch::arange(16000, torch::kFloat32) / 16000.0f;
    auto loud =
        (torch::sin(2 * 3.14159265f * 1000.0f * t) + 1e-5f * torch::randn({16000})).view({1, 1, 16000});
    // Clip 0: a loud and a quiet channel; clip 1: the quiet channel twice.
    auto quiet = loud * 1e-3f;
    auto batch = torch::cat({torch::cat({loud, quiet}, 1), torch::cat({quiet, quiet}, 1)}, 0);
    auto node = test::makeNode("features.logmel", {{"n_mels", 64}, {"n_fft", 1024}, {"top_db", 40.0}});
    auto db = run(*node, "audio", test::audioValue(batch, 16000.0), "logmel").tensor;
    const double max0 = db[0].max().item<double>();
    const double max1 = db[1].max().item<double>();
    CHECK(max0 - max1 == Approx(60.0).margin(0.01)); // each clip keeps its own level,
    CHECK(db[0][1].max().item<double>() == Approx(max0 - 40.0).margin(1e-3)); // its quiet channel is clipped
    CHECK(db[1].min().item<double>() == Approx(max1 - 40.0).margin(1e-3));    // against the clip's maximum
    auto alone = run(*node, "audio", test::audioValue(batch.slice(0, 1, 2), 16000.0), "logmel").tensor;
    CHECK(torch::allclose(db[1], alone[0], 0.0, 1e-4));
}

TEST_CASE("features.logmel and power_to_db refuse to stream with top_db, and say what to do",
          "[nodes][features][stream]") {
    auto logmel = test::makeNode("features.logmel", json::object(), "feat");
    try {
        logmel->prepareStream({16000.0, 1, 4096});
        FAIL("a log-mel with top_db = 80 (the default) prepared to stream");
    } catch (const Error& e) {
        CHECK(e.where().node == "feat");
        CHECK_THAT(e.message(), Catch::StartsWith("cannot stream with top_db = 80") &&
                                    Catch::Contains("\"top_db\": null"));
    }
    auto db = test::makeNode("features.power_to_db", {{"top_db", 60}}, "db");
    CHECK_THROWS_WITH(db->prepareStream({16000.0, 1, 4096}),
                      Catch::Contains("cannot stream with top_db = 60"));
    CHECK_NOTHROW(
        test::makeNode("features.logmel", {{"top_db", nullptr}})->prepareStream({16000.0, 1, 4096}));
    CHECK_THROWS_WITH(test::makeNode("features.logmel", {{"top_db", -1}}),
                      Catch::Contains("parameter 'top_db'"));
}
