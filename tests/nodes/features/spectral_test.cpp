#include "nodes/features/spectral.h"

#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

#include <torch/torch.h>

using namespace avgraph;
using namespace avgraph::nodes;

TEST_CASE("the periodic Hann window equals scipy's", "[nodes][features][golden]") {
    auto ref = test::goldenFilter("hann_window_1024_periodic.npy");
    auto window = hannWindow(1024);
    REQUIRE(window.sizes() == ref.sizes());
    CHECK(window.scalar_type() == torch::kFloat64);
    auto d = test::deviation(window, ref, 1e-7, 0.0); // float32 storage of the reference
    test::reportDeviation("hann_window_1024_periodic", d);
    CHECK(d.within());
    CHECK(hannWindow(1).item<double>() == 1.0); // scipy's length guard
}

TEST_CASE("a shorter window is zero-padded to n_fft and centred", "[nodes][features]") {
    StftSettings s;
    s.n_fft = 16;
    s.win_length = 10;
    auto w = stftWindow(s, torch::kFloat64);
    REQUIRE(w.size(0) == 16);
    CHECK(w.slice(0, 0, 3).abs().sum().item<double>() == 0.0);
    CHECK(w.slice(0, 13).abs().sum().item<double>() == 0.0);
    CHECK(torch::equal(w.slice(0, 3, 13), hannWindow(10)));
}

TEST_CASE("mel filterbanks equal librosa.filters.mel in float64", "[nodes][features][golden]") {
    for (int sr : test::goldenRates())
        for (int n_mels : {64, 128})
            for (bool htk : {false, true}) {
                const std::string name = "melfb_sr" + std::to_string(sr) + "_nfft1024_n" +
                                         std::to_string(n_mels) + (htk ? "_htk-nonorm" : "_slaney") + ".npy";
                INFO(name);
                MelSettings s;
                s.n_mels = n_mels;
                s.htk = htk;
                s.slaney_norm = !htk;
                auto ref = test::goldenFilter(name);
                auto fb = melFilterbank(sr, 1024, s, torch::kFloat64);
                REQUIRE(fb.sizes() == ref.sizes());
                auto d = test::deviation(fb, ref, 1e-6, 1e-5); // README section 5
                test::reportDeviation(name, d);
                CHECK(d.within());
                // The float32 matrix melspectrogram uses is the float64 one rounded (librosa's default
                // dtype).
                auto fb32 = melFilterbank(sr, 1024, s, torch::kFloat32);
                CHECK(fb32.scalar_type() == torch::kFloat32);
                CHECK(torch::allclose(fb32.to(torch::kFloat64), fb, 0.0, 2e-7 * fb.max().item<double>()));
            }
}

TEST_CASE("an HTK band narrower than an FFT bin stays empty, as in librosa", "[nodes][features][golden]") {
    MelSettings s;
    s.n_mels = 128;
    s.htk = true;
    s.slaney_norm = false;
    auto fb = melFilterbank(44100, 1024, s, torch::kFloat64);
    CHECK(fb[0].abs().sum().item<double>() == 0.0); // README section 3.4
    CHECK((fb.slice(0, 1).amax(1) > 0).all().item<bool>());
}

TEST_CASE("mel scales follow librosa's formulas", "[nodes][features]") {
    CHECK(hzToMel(1000.0, false) == Approx(15.0));        // Slaney: linear up to 1 kHz, 3 bands per 200 Hz
    CHECK(hzToMel(6400.0, false) == Approx(15.0 + 27.0)); // then 27 mels per factor 6.4
    CHECK(hzToMel(700.0, true) == Approx(2595.0 * std::log10(2.0)));
    for (bool htk : {false, true})
        for (double hz : {0.0, 50.0, 999.0, 1000.0, 4321.0, 22050.0})
            CHECK(melToHz(hzToMel(hz, htk), htk) == Approx(hz).margin(1e-9));
}

TEST_CASE("reflect padding follows np.pad, also beyond the signal's length", "[nodes][features]") {
    auto x = torch::arange(5, torch::kFloat32).view({1, 5});
    // np.pad(np.arange(5.), (12, 12), mode="reflect")
    static constexpr float expected[] = {4, 3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1, 0, 1, 2,
                                         3, 4, 3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1, 0};
    auto padded = padSignal(x, 12, 12, PadMode::Reflect);
    CHECK(torch::equal(padded, torch::from_blob(const_cast<float*>(expected), {1, 29}).clone()));
    // np.pad([7.], (3, 2), mode="reflect") repeats the only sample; np.pad([0., 1.], 3, "reflect")
    // alternates.
    CHECK(torch::equal(padSignal(torch::full({1}, 7.0f), 3, 2, PadMode::Reflect), torch::full({6}, 7.0f)));
    CHECK(torch::equal(padSignal(torch::arange(2, torch::kFloat32), 3, 3, PadMode::Reflect),
                       torch::tensor({1.f, 0.f, 1.f, 0.f, 1.f, 0.f, 1.f, 0.f})));
    CHECK(torch::equal(padSignal(x, 2, 1, PadMode::Constant),
                       torch::tensor({0.f, 0.f, 0.f, 1.f, 2.f, 3.f, 4.f, 0.f}).view({1, 8})));
}

TEST_CASE("frame counts follow librosa", "[nodes][features]") {
    StftSettings s;
    s.n_fft = 1024;
    s.hop_length = 512;
    CHECK(stftFrameCount(96000, s) == 188); // README section 3.1
    CHECK(stftFrameCount(264600, s) == 517);
    CHECK(stftFrameCount(1, s) == 1);
    CHECK(stftFrameCount(0, s) == 0);
    s.center = false;
    CHECK(stftFrameCount(1023, s) == 0);
    CHECK(stftFrameCount(1024, s) == 1);
    CHECK(stftFrameCount(2048, s) == 3);
}

TEST_CASE("power_to_db follows librosa and clips each clip against its own maximum", "[nodes][features]") {
    DbSettings s;
    s.top_db.reset();
    auto db = powerToDb(torch::tensor({1.0f, 0.1f, 1e-12f, 0.0f}).view({1, 4}), s);
    CHECK(torch::allclose(db, torch::tensor({0.0f, -10.0f, -100.0f, -100.0f}).view({1, 4}), 0.0, 1e-4));
    s.ref = 10.0;
    CHECK(powerToDb(torch::ones({1, 1}), s).item<float>() == Approx(-10.0f));

    s.ref = 1.0;
    s.top_db = 20.0;
    auto loud = torch::tensor({100.0f, 1.0f, 0.01f, 1e-4f}).view({1, 1, 1, 4});
    auto batch = torch::cat({loud, loud * 1e-3f}, 0);
    auto both = powerToDb(batch, s);
    CHECK(torch::allclose(both[0], powerToDb(loud, s)[0]));
    CHECK(torch::allclose(both[1], powerToDb(loud * 1e-3f, s)[0]));
    CHECK(both[1].max().item<float>() == Approx(-10.0f)); // its own maximum, not the batch's
    CHECK(both[1].min().item<float>() == Approx(-30.0f));
}
