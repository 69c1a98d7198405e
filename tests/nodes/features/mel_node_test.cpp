#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

#include <torch/torch.h>

using namespace avgraph;
using nlohmann::json;

namespace {

Value powerSpectrum(const Value& audio) {
    auto stft = test::makeNode("features.stft", {{"n_fft", 1024}, {"hop_length", 512}});
    return stft->process({{"audio", audio}}).at("spectrum");
}

Value mel(Node& node, const Value& spectrum) {
    return node.process({{"spectrum", spectrum}}).at("mel");
}

} // namespace

TEST_CASE("features.stft -> features.mel reproduces librosa's melspectrogram goldens",
          "[nodes][features][golden]") {
    for (const auto& clip : test::goldenClips())
        for (int sr : test::goldenRates()) {
            Value spectrum = powerSpectrum(test::goldenAudio(clip, sr));
            for (int n_mels : {64, 128})
                for (bool htk : {false, true}) {
                    const std::string feature =
                        "mel" + std::to_string(n_mels) + (htk ? "_htk-nonorm" : "_slaney");
                    INFO(clip << " " << sr << " " << feature);
                    auto node =
                        test::makeNode("features.mel",
                                       {{"n_mels", n_mels}, {"htk", htk}, {"norm", htk ? "none" : "slaney"}});
                    Value out = mel(*node, spectrum);
                    CHECK(out.kind == Kind::Spectrum);
                    CHECK(out.sample_rate == sr);
                    CHECK(out.hop == 512);
                    REQUIRE(out.tensor.sizes() ==
                            torch::IntArrayRef({1, 1, n_mels, spectrum.tensor.size(-1)}));
                    auto ref = test::goldenArray(clip, sr, feature);
                    REQUIRE(ref.size(0) == n_mels);
                    auto ours = out.tensor[0][0].slice(1, 0, ref.size(1));
                    const double peak = ref.abs().max().item<double>();
                    auto d = test::deviation(ours, ref, 2e-5 * peak, 1e-3); // README section 5
                    test::reportDeviation(clip + "_sr" + std::to_string(sr) + "_" + feature, d);
                    CHECK(d.within());
                }
        }
}

TEST_CASE("features.mel handles batches and channels, fmin and fmax", "[nodes][features]") {
    torch::manual_seed(5);
    auto stft = test::makeNode("features.stft", {{"n_fft", 512}, {"hop_length", 256}});
    Value spectrum =
        stft->process({{"audio", test::audioValue(torch::randn({2, 2, 8000}), 16000.0)}}).at("spectrum");
    auto node = test::makeNode("features.mel", {{"n_mels", 40}, {"fmin", 300.0}, {"fmax", 7000.0}});
    auto all = mel(*node, spectrum).tensor;
    REQUIRE(all.sizes() == torch::IntArrayRef({2, 2, 40, spectrum.tensor.size(-1)}));
    auto one = mel(*node, spectrum.withTensor(spectrum.tensor.slice(0, 1, 2).slice(1, 1, 2))).tensor;
    CHECK(torch::allclose(all[1][1], one[0][0], 1e-5, 1e-4));
    // The bands lie between fmin and fmax: bins below 300 Hz (bin 9 = 281 Hz) carry no weight.
    auto low_only = torch::zeros_like(spectrum.tensor);
    low_only.slice(2, 0, 10).fill_(1.0);
    CHECK(mel(*node, spectrum.withTensor(low_only)).tensor.abs().max().item<double>() == 0.0);
}

TEST_CASE("features.mel says what is wrong with its parameters and inputs", "[nodes][features]") {
    try {
        test::makeNode("features.mel", {{"fmin", 4000.0}, {"fmax", 2000.0}}, "mel");
        FAIL("fmin >= fmax was accepted");
    } catch (const Error& e) {
        CHECK(e.where().pointer == "/nodes/mel/params/fmin");
        CHECK_THAT(e.what(), Catch::Contains("expected below fmax = 2000 Hz") && Catch::Contains("got 4000"));
    }
    CHECK_THROWS_WITH(test::makeNode("features.mel", {{"fmin", -5.0}}), Catch::Contains("parameter 'fmin'"));
    CHECK_THROWS_WITH(test::makeNode("features.mel", {{"norm", "l2"}}),
                      Catch::Contains("\"slaney\", \"none\""));

    Value spectrum = powerSpectrum(test::audioValue(torch::zeros({1, 1, 4096}), 16000.0));
    auto too_high = test::makeNode("features.mel", {{"fmax", 9000.0}}, "mel");
    try {
        mel(*too_high, spectrum);
        FAIL("fmax above Nyquist was accepted");
    } catch (const Error& e) {
        CHECK(e.where().node == "mel");
        CHECK_THAT(e.what(), Catch::Contains("(features.mel)") &&
                                 Catch::Contains("fmax = 9000 Hz is above the Nyquist frequency 8000 Hz"));
    }
    auto high_fmin = test::makeNode("features.mel", {{"fmin", 8000.0}});
    CHECK_THROWS_WITH(mel(*high_fmin, spectrum),
                      Catch::Contains("fmin = 8000 Hz must be below fmax = 8000 Hz"));

    auto plain = test::makeNode("features.mel");
    Value no_rate = spectrum;
    no_rate.sample_rate = 0.0;
    CHECK_THROWS_WITH(mel(*plain, no_rate), Catch::Contains("carries no sample rate"));
    CHECK_THROWS_WITH(mel(*plain, spectrum.withTensor(torch::zeros({1, 513, 9}))),
                      Catch::Contains("must be a spectrum [batch, channel, bin, frame]"));
}
