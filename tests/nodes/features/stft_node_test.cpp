#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

#include <torch/torch.h>

using namespace avgraph;
using nlohmann::json;

namespace {

Value stft(Node& node, const Value& audio) {
    return node.process({{"audio", audio}}).at("spectrum");
}

// 0.1 * [1, -2, 3, -4, ..., -10] in float32: short enough that reflect padding wraps around it.
Value shortSignal() {
    auto x = torch::arange(1, 11, torch::kFloat32) * 0.1f * torch::tensor({1.f, -1.f}).repeat({5});
    return test::audioValue(x.view({1, 1, 10}), 16000.0);
}

} // namespace

TEST_CASE("features.stft reproduces librosa's power STFT goldens", "[nodes][features][golden]") {
    for (const std::string pad : {"constant", "reflect"})
        for (const auto& clip : test::goldenClips())
            for (int sr : test::goldenRates()) {
                const std::string feature = "stft_power_pad-" + pad;
                INFO(clip << " " << sr << " " << feature);
                auto node = test::makeNode("features.stft",
                                           {{"n_fft", 1024}, {"hop_length", 512}, {"pad_mode", pad}});
                Value audio = test::goldenAudio(clip, sr);
                Value out = stft(*node, audio);
                CHECK(out.kind == Kind::Spectrum);
                CHECK(out.sample_rate == sr);
                CHECK(out.hop == 512);
                CHECK(out.axes == std::vector<std::string>{"batch", "channel", "bin", "frame"});
                const int64_t n = audio.tensor.size(-1);
                REQUIRE(out.tensor.sizes() == torch::IntArrayRef({1, 1, 513, 1 + n / 512}));
                auto ref = test::goldenArray(clip, sr, feature);
                REQUIRE(ref.size(0) == 513);
                REQUIRE(ref.size(1) <= out.tensor.size(-1)); // 44.1 kHz goldens keep the first 256 frames
                auto ours = out.tensor[0][0].slice(1, 0, ref.size(1));
                const double peak = ref.abs().max().item<double>();
                auto d = test::deviation(ours, ref, 1e-6 * peak, 1e-4); // README section 5
                test::reportDeviation(clip + "_sr" + std::to_string(sr) + "_" + feature, d);
                CHECK(d.within());
            }
}

TEST_CASE("features.stft pads short signals like np.pad and honours win_length", "[nodes][features]") {
    // From numpy: np.abs(np.fft.rfft(frames * window))**2 of np.pad(y, 16, mode=...), periodic Hann.
    static constexpr float reflect_n32[2][17] = {
        {0.00812719764f, 0.00177486726f, 0.000201619987f, 0.00677541841f, 0.00782194669f, 0.000356154154f,
         0.00347565513f, 0.0238365932f, 0.00641741677f, 0.00161130748f, 0.0658441327f, 0.121855645f,
         0.000824583111f, 0.968357008f, 8.23830521f, 6.10572189f, 71.9898457f},
        {0.00816135833f, 0.00177949061f, 0.000211438252f, 0.00669977506f, 0.0079280723f, 0.000334785923f,
         0.00361805586f, 0.0234385722f, 0.00687445897f, 0.00151736993f, 0.0664310122f, 0.119838485f,
         0.00344585706f, 0.975380124f, 8.21774594f, 39.0700448f, 82.7337239f}};
    static constexpr float constant_n32_win20[2][17] = {
        {0.00059403548f, 0.000659801466f, 0.000601704062f, 0.000740139168f, 0.00101838339f, 0.000759407121f,
         0.00149758278f, 0.00243879465f, 0.00137896749f, 0.0059667624f, 0.0123763094f, 0.00385528148f,
         0.100213782f, 0.663548644f, 1.9317624f, 3.42840813f, 4.11446162f},
        {0.249901192f, 0.252975368f, 0.260382413f, 0.273727654f, 0.295427452f, 0.323900806f, 0.366968287f,
         0.42987922f, 0.512823034f, 0.654872129f, 0.883711662f, 1.22473945f, 2.20134137f, 5.13247665f,
         10.7309836f, 16.9724317f, 19.7768293f}};
    auto expected = [](const float(&rows)[2][17]) {
        return torch::from_blob(const_cast<float*>(&rows[0][0]), {2, 17}).t().clone();
    };

    auto reflect =
        test::makeNode("features.stft", {{"n_fft", 32}, {"hop_length", 8}, {"pad_mode", "reflect"}});
    auto got = stft(*reflect, shortSignal()).tensor[0][0];
    CHECK(torch::allclose(got, expected(reflect_n32), 1e-4, 1e-6));

    auto windowed = test::makeNode("features.stft", {{"n_fft", 32}, {"hop_length", 8}, {"win_length", 20}});
    got = stft(*windowed, shortSignal()).tensor[0][0];
    CHECK(torch::allclose(got, expected(constant_n32_win20), 1e-4, 1e-6));
}

TEST_CASE("features.stft mirrors the tail as librosa does when hop = n_fft/2", "[nodes][features]") {
    // librosa 0.10 reflects the tail from the stretch its last frames cover (here the last 16 samples),
    // not from the whole signal, which changes the last padded sample. Last frame of
    // np.abs(librosa.stft(y, n_fft=32, hop_length=16, pad_mode="reflect"))**2, y[i] = sin(0.3 i) + 0.01 i,
    // from librosa 0.10.2's head/tail padding code run in numpy.
    static constexpr float last_frame[17] = {
        0.0524529413f, 0.284483894f, 6.47162379f,   14.5270657f,   1.98147228f,   0.655525152f,
        0.303343164f,  0.167903098f, 0.103486084f,  0.071683908f,  0.0515788472f, 0.0412140217f,
        0.0330175612f, 0.029377062f, 0.0256818133f, 0.0249952796f, 0.0236756928f};
    auto i = torch::arange(64, torch::kFloat64);
    auto y = (torch::sin(0.3 * i) + 0.01 * i).to(torch::kFloat32).view({1, 1, 64});
    auto node = test::makeNode("features.stft", {{"n_fft", 32}, {"hop_length", 16}, {"pad_mode", "reflect"}});
    auto got = stft(*node, test::audioValue(y, 16000.0)).tensor[0][0];
    REQUIRE(got.size(-1) == 5);
    auto expected = torch::from_blob(const_cast<float*>(last_frame), {17}).clone();
    CHECK(torch::allclose(got.select(1, 4), expected, 1e-4, 1e-6));
}

TEST_CASE("features.stft analyses every channel of every clip on its own", "[nodes][features]") {
    torch::manual_seed(3);
    auto x = torch::randn({2, 3, 5000});
    auto node =
        test::makeNode("features.stft", {{"n_fft", 512}, {"hop_length", 128}, {"pad_mode", "reflect"}});
    auto all = stft(*node, test::audioValue(x, 16000.0)).tensor;
    REQUIRE(all.sizes() == torch::IntArrayRef({2, 3, 257, 1 + 5000 / 128}));
    for (int64_t b = 0; b < 2; ++b)
        for (int64_t c = 0; c < 3; ++c) {
            auto one = stft(*node, test::audioValue(x.slice(0, b, b + 1).slice(1, c, c + 1), 16000.0)).tensor;
            CHECK(torch::allclose(all[b][c], one[0][0], 1e-5, 1e-6));
        }
}

TEST_CASE("features.stft power 1 gives the magnitude", "[nodes][features]") {
    torch::manual_seed(4);
    auto audio = test::audioValue(torch::randn({1, 1, 4000}), 8000.0);
    auto power = stft(*test::makeNode("features.stft", {{"n_fft", 256}, {"hop_length", 64}}), audio).tensor;
    auto magnitude =
        stft(*test::makeNode("features.stft", {{"n_fft", 256}, {"hop_length", 64}, {"power", 1.0}}), audio)
            .tensor;
    CHECK(torch::allclose(magnitude.square(), power, 1e-4, 1e-5));
}

TEST_CASE("features.stft says what is wrong with its parameters and inputs", "[nodes][features]") {
    // Across parameters: checked when the graph is built, at the parameter.
    try {
        test::makeNode("features.stft", {{"n_fft", 512}, {"win_length", 1024}}, "spec");
        FAIL("win_length > n_fft was accepted");
    } catch (const Error& e) {
        CHECK(e.where().pointer == "/nodes/spec/params/win_length");
        CHECK_THAT(e.what(), Catch::Contains("expected at most n_fft = 512") && Catch::Contains("got 1024"));
    }
    CHECK_THROWS_WITH(test::makeNode("features.stft", {{"pad_mode", "wrap"}}),
                      Catch::Contains("pad_mode") && Catch::Contains("\"reflect\""));
    CHECK_THROWS_WITH(test::makeNode("features.stft", {{"hop_length", 0}}), Catch::Contains("hop_length"));

    // Against the signal: checked when running, naming the node.
    auto uncentred = test::makeNode("features.stft", {{"n_fft", 1024}, {"center", false}}, "spec");
    try {
        stft(*uncentred, test::audioValue(torch::zeros({1, 1, 1000}), 16000.0));
        FAIL("a signal shorter than n_fft was accepted without centring");
    } catch (const Error& e) {
        CHECK(e.where().node == "spec");
        CHECK_THAT(e.what(), Catch::Contains("(features.stft)") &&
                                 Catch::Contains("n_fft = 1024 is larger than the signal (1000 samples)"));
    }
    // Centred, a short signal gives the frames of its padded version, as librosa does.
    auto centred = test::makeNode("features.stft", {{"n_fft", 1024}, {"hop_length", 256}});
    CHECK(stft(*centred, test::audioValue(torch::ones({1, 1, 300}), 16000.0)).tensor.size(-1) == 2);
    CHECK_THROWS_WITH(stft(*centred, test::audioValue(torch::zeros({1, 1, 0}), 16000.0)),
                      Catch::Contains("the signal is empty"));
    CHECK_THROWS_WITH(stft(*centred, test::audioValue(torch::zeros({1, 300}), 16000.0)),
                      Catch::Contains("must be audio [batch, channel, sample]") &&
                          Catch::Contains("[1, 300]"));
    CHECK_THROWS_WITH(stft(*centred, test::audioValue(torch::zeros({1, 1, 300}, torch::kLong), 16000.0)),
                      Catch::Contains("floating-point"));
}
