// features.scalogram has no golden: pure tones whose STFT is known in closed form give its values.
#include "nodes/features/scalogram.h"
#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <cmath>
#include <random>

using namespace avgraph;
using nlohmann::json;

namespace {

/** The wavelet centres and widths written out from the definition (docs/features.md), in double. */
struct Wavelets {
    std::vector<double> centre, sigma;
    Wavelets(int64_t n_bins, double fmin, double fmax, double gamma) {
        const double r = std::pow(fmax / fmin, 1.0 / static_cast<double>(n_bins + 1));
        for (int64_t k = 0; k < n_bins; ++k) {
            centre.push_back(fmin * std::pow(r, static_cast<double>(k + 1)));
            const double fwhm = centre.back() * (r - 1.0) + gamma;
            sigma.push_back(fwhm / (2.0 * std::sqrt(2.0 * std::log(2.0))));
        }
    }
    double gain(size_t k, double f) const {
        return std::exp(-0.5 * std::pow((f - centre[k]) / sigma[k], 2.0));
    }
};

} // namespace

TEST_CASE("features.scalogram of a bin-centred tone has its closed-form value at every scale",
          "[nodes][features][scalogram]") {
    // A tone of amplitude A with exactly b0 periods in the n_fft-sample window: the periodic Hann window's
    // DFT is n_fft/2 at bin 0 and -n_fft/4 at bins +-1, so |X| is A n_fft/4 at b0, A n_fft/8 at b0 +- 1 and 0
    // elsewhere, and S_k = (A n_fft / 4)^p (g_k(f_b0)^p + 2^-p (g_k(f_b0-1)^p + g_k(f_b0+1)^p)).
    const double sr = 16000.0;
    const int64_t n_fft = 8192;
    const double bin_hz = sr / n_fft;
    const Wavelets w(290, 32.703195662574764, sr / 2, bin_hz); // the defaults
    const double A = 0.25;
    for (int64_t b0 : {40, 64, 512, 2048, 3500})
        for (double p : {1.0, 2.0})
            for (auto dtype : {torch::kFloat64, torch::kFloat32}) {
                INFO("bin " << b0 << " (" << b0 * bin_hz << " Hz), power " << p
                            << (dtype == torch::kFloat32 ? " f32" : " f64"));
                auto t = torch::arange(3 * n_fft, torch::kFloat64);
                auto x = (A * torch::cos(2 * M_PI * static_cast<double>(b0) * t / n_fft + 0.3)).to(dtype);
                auto node = test::makeNode("features.scalogram", {{"power", p}});
                Value out =
                    node->process({{"audio", test::audioValue(x.view({1, 1, -1}), sr)}}).at("scalogram");
                CHECK(out.kind == Kind::Spectrum);
                CHECK(out.hop == 2736);
                REQUIRE(out.tensor.sizes() == torch::IntArrayRef({1, 1, 290, 1 + 3 * n_fft / 2736}));
                // Frame 3 is centred on sample 8208: its window lies wholly inside the tone.
                auto frame = out.tensor[0][0].select(1, 3).to(torch::kFloat64);
                std::vector<double> expected;
                for (size_t k = 0; k < 290; ++k)
                    expected.push_back(std::pow(A * n_fft / 4, p) *
                                       (std::pow(w.gain(k, b0 * bin_hz), p) +
                                        std::pow(0.5, p) * (std::pow(w.gain(k, (b0 - 1) * bin_hz), p) +
                                                            std::pow(w.gain(k, (b0 + 1) * bin_hz), p))));
                auto want = torch::tensor(expected, torch::kFloat64);
                const double peak = want.max().item<double>();
                const double err = (frame - want).abs().max().item<double>() / peak;
                CHECK(err <= (dtype == torch::kFloat64 ? 1e-9 : 1e-5));
                // The peak is at the scale whose centre is nearest the tone: within one step of r.
                const int64_t best = frame.argmax().item<int64_t>();
                CHECK(best == want.argmax().item<int64_t>());
                CHECK(std::abs(std::log(w.centre[static_cast<size_t>(best)] / (b0 * bin_hz))) <=
                      std::log(w.centre[1] / w.centre[0]));
            }
}

TEST_CASE("features.scalogram places its wavelets as documented", "[nodes][features][scalogram]") {
    nodes::WaveletSettings s;
    auto f = nodes::waveletFrequencies(16000.0, s);
    REQUIRE(f.size(0) == 290);
    const double r = std::pow(8000.0 / s.fmin, 1.0 / 291.0);
    CHECK(f[0].item<double>() == Approx(s.fmin * r).epsilon(1e-12));
    CHECK(f[289].item<double>() == Approx(8000.0 / r).epsilon(1e-12));
    CHECK((f.slice(0, 1) / f.slice(0, 0, -1) - r).abs().max().item<double>() < 1e-12);
    // With gamma 0 and an FFT fine enough, every wavelet is 1/2 at f_k (1 +- (r - 1) / 2) (constant Q).
    s.gamma = 0.0;
    s.n_bins = 12;
    s.fmin = 1000.0;
    s.fmax = 2000.0;
    const double sr = 8192.0, n_fft = 8192.0 * 64; // 1/64 Hz bins
    auto g = nodes::waveletFilterbank(sr, static_cast<int64_t>(n_fft), s);
    const double r12 = std::pow(2.0, 1.0 / 13.0);
    for (int64_t k = 0; k < 12; ++k) {
        const double fk = 1000.0 * std::pow(r12, static_cast<double>(k + 1));
        const double half = fk * (r12 - 1.0) / 2.0;
        const auto at = [&](double hz) {
            return g[k][static_cast<int64_t>(std::llround(hz * n_fft / sr))].item<double>();
        };
        CHECK(at(fk) == Approx(1.0).margin(1e-4));
        CHECK(at(fk - half) == Approx(0.5).margin(2e-3));
        CHECK(at(fk + half) == Approx(0.5).margin(2e-3));
    }
}

TEST_CASE("features.scalogram streams the offline frames after the STFT latency",
          "[nodes][features][scalogram][stream]") {
    Value audio = test::goldenAudio("clip1_flute", 16000);
    audio = audio.withTensor(torch::cat({audio.tensor, audio.tensor.flip(-1)}, 1));
    auto node = test::makeNode("features.scalogram",
                               {{"n_fft", 4096}, {"hop_length", 1000}, {"n_bins", 96}, {"fmin", 50.0}});
    auto offline = node->process({{"audio", audio}}).at("scalogram").tensor;
    node->prepareStream({16000.0, 2, 4096});
    REQUIRE(node->latencySamples() == 2048);
    std::mt19937 rng(17);
    std::uniform_int_distribution<int64_t> size(1, 4096);
    std::vector<torch::Tensor> parts;
    const int64_t n = audio.tensor.size(-1);
    for (int64_t at = 0; at < n;) {
        const int64_t len = std::min(size(rng), n - at);
        parts.push_back(node->processBlock({{"audio", audio.withTensor(audio.tensor.narrow(-1, at, len))}})
                            .at("scalogram")
                            .tensor);
        at += len;
    }
    auto streamed = torch::cat(parts, -1);
    REQUIRE(streamed.size(-1) == 1 + (n - 2048) / 1000);
    auto expected = offline.narrow(-1, 0, streamed.size(-1));
    CHECK(torch::allclose(streamed, expected, 0.0, 1e-5 * expected.abs().max().item<double>()));
}

TEST_CASE("features.scalogram checks its frequency range", "[nodes][features][scalogram]") {
    CHECK_THROWS_WITH(test::makeNode("features.scalogram", {{"fmin", 500.0}, {"fmax", 400.0}}),
                      Catch::Contains("parameter 'fmin'") && Catch::Contains("below fmax = 400"));
    auto node = test::makeNode("features.scalogram", {{"fmax", 11025.0}}, "scal");
    try {
        node->process({{"audio", test::audioValue(torch::zeros({1, 1, 16000}), 16000.0)}});
        FAIL("fmax above Nyquist was accepted");
    } catch (const Error& e) {
        CHECK(e.where().node == "scal");
        CHECK_THAT(e.what(), Catch::Contains("fmax = 11025 Hz is above the Nyquist frequency 8000 Hz"));
    }
    CHECK_THROWS_WITH(test::makeNode("features.scalogram", {{"gamma", -1.0}}),
                      Catch::Contains("parameter 'gamma'"));
}

TEST_CASE("the scalogram preset gives Chen et al.'s 2 x 290 long-term scalogram through the CLI",
          "[nodes][features][scalogram][cli]") {
    // signal.resample -> signal.channels (average, difference) -> features.scalogram -> tensor.concat -> dB.
    const test::fs::path tau = test::sharedDir() /
                         "data/formats/tau2019uas/TAU-urban-acoustic-scenes-2019-development/"
                         "audio/airport-barcelona-0-0-a.wav";
    test::ScratchDir out;
    auto r = test::runAvgraph(
        "run " + test::shellQuote((test::sourceDir() / "presets/features/scalogram.json").string()) +
        " --input " + test::shellQuote(tau.string()) + " --output " + test::shellQuote(out.path().string()));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    auto ours = host::readNpy(out / "scalogram.npy");
    // 1 s at 48 kHz -> 16000 samples at 16 kHz -> 1 + 16000 / 2736 frames.
    REQUIRE(ours.sizes() == torch::IntArrayRef({2, 290, 6}));

    // The same graph built node by node.
    auto decoded = host::readAudio(tau);
    Value audio = test::audioValue(decoded.samples.unsqueeze(0), decoded.sample_rate);
    audio = test::makeNode("signal.resample", {{"sr", 16000}})->process({{"audio", audio}}).at("audio");
    std::vector<torch::Tensor> channels;
    for (const auto* mode : {"average", "difference"}) {
        Value one =
            test::makeNode("signal.channels", {{"mode", mode}})->process({{"audio", audio}}).at("audio");
        channels.push_back(
            test::makeNode("features.scalogram")->process({{"audio", one}}).at("scalogram").tensor);
    }
    auto want = (10.0 * torch::log10(torch::cat(channels, 1).clamp_min(1e-10)))[0];
    CHECK((ours - want).abs().max().item<double>() <= 0.01);
}
