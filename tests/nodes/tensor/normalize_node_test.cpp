#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <fstream>

using namespace avgraph;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

Value spectrum(torch::Tensor t) {
    Value v;
    v.tensor = std::move(t);
    v.kind = Kind::Spectrum;
    v.hop = 512;
    v.sample_rate = 16000.0;
    v.axes = {"batch", "channel", "bin", "frame"};
    return v;
}

torch::Tensor normalize(const torch::Tensor& x, const json& params, const std::string& id = "norm") {
    return test::makeNode("tensor.normalize", params, id)->process({{"in", spectrum(x)}}).at("out").tensor;
}

/** A 2-channel clip pair whose bins have very different levels and spreads, in float64. */
torch::Tensor features() {
    torch::manual_seed(11);
    auto scale = torch::linspace(0.1, 10.0, 5, torch::kFloat64).view({1, 1, 5, 1});
    auto offset = torch::linspace(-80.0, 0.0, 5, torch::kFloat64).view({1, 1, 5, 1});
    return torch::randn({2, 2, 5, 40}, torch::kFloat64) * scale + offset;
}

/** Writes np.save-style float64 data: the .npy format of NumPy 1.x, version 1.0. */
void writeNpy(const fs::path& file, const torch::Tensor& t) {
    std::string shape = "(";
    for (int64_t d = 0; d < t.dim(); ++d)
        shape += std::to_string(t.size(d)) + (t.dim() == 1 ? ",)" : d + 1 < t.dim() ? ", " : ")");
    std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': " + shape + ", }";
    header.append(64 - (10 + header.size() + 1) % 64, ' ');
    header += '\n';
    std::ofstream out(file, std::ios::binary);
    out.write("\x93NUMPY\x01\x00", 8);
    const uint16_t len = static_cast<uint16_t>(header.size());
    out.put(static_cast<char>(len & 0xff));
    out.put(static_cast<char>(len >> 8));
    out << header;
    auto c = t.to(torch::kFloat64).contiguous();
    out.write(static_cast<const char*>(c.data_ptr()), c.numel() * 8);
}

} // namespace

TEST_CASE("tensor.normalize standardises each clip, channel and bin over its frames", "[nodes][tensor]") {
    auto x = features();
    auto out = normalize(x, json::object()); // mode instance, per bin
    // np.mean / np.std (ddof 0) of each row, written out.
    auto n = static_cast<double>(x.size(-1));
    auto mean = x.sum(-1, true) / n;
    auto std = ((x - mean) * (x - mean)).sum(-1, true).div(n).sqrt();
    CHECK(torch::allclose(out, (x - mean) / std, 0.0, 1e-12));
    CHECK(out.mean(-1).abs().max().item<double>() < 1e-12);
    CHECK(torch::allclose(out.square().mean(-1), torch::ones({2, 2, 5}, torch::kFloat64), 0.0, 1e-12));

    auto global = normalize(x, {{"per", "global"}});
    for (int64_t b = 0; b < 2; ++b)
        for (int64_t c = 0; c < 2; ++c) {
            auto item = x[b][c];
            auto m = item.mean().item<double>();
            auto s = (item - m).square().mean().sqrt().item<double>();
            CHECK(torch::allclose(global[b][c], (item - m) / s, 0.0, 1e-12));
        }
    // A constant bin gives zeros, not NaN.
    auto flat = torch::full({1, 1, 2, 10}, -100.0);
    CHECK(torch::equal(normalize(flat, json::object()), torch::zeros({1, 1, 2, 10})));
}

TEST_CASE("tensor.normalize minmax scales each bin, or the whole clip, to [0, 1]", "[nodes][tensor]") {
    auto x = features();
    auto out = normalize(x, {{"mode", "minmax"}});
    CHECK(torch::allclose(std::get<0>(out.min(-1)), torch::zeros({2, 2, 5}, torch::kFloat64)));
    CHECK(torch::allclose(std::get<0>(out.max(-1)), torch::ones({2, 2, 5}, torch::kFloat64)));
    auto lo = std::get<0>(x.min(-1, true));
    auto hi = std::get<0>(x.max(-1, true));
    CHECK(torch::allclose(out, (x - lo) / (hi - lo), 0.0, 1e-12));
    auto global = normalize(x, {{"mode", "minmax"}, {"per", "global"}});
    auto g = x[1][0];
    CHECK(torch::allclose(global[1][0], (g - g.min()) / (g.max() - g.min()), 0.0, 1e-12));
}

TEST_CASE("tensor.normalize applies stored statistics from .json and .npy files", "[nodes][tensor]") {
    test::ScratchDir dir;
    auto x = features();
    auto mean = torch::tensor({-80.0, -60.0, -40.0, -20.0, 0.0}, torch::kFloat64);
    auto std = torch::tensor({0.1, 2.0, 4.0, 8.0, 10.0}, torch::kFloat64);
    auto expected = (x - mean.view({5, 1})) / std.view({5, 1});

    std::ofstream(dir / "stats.json")
        << json{{"mean", {-80.0, -60.0, -40.0, -20.0, 0.0}}, {"std", {0.1, 2.0, 4.0, 8.0, 10.0}}}.dump();
    CHECK(torch::allclose(normalize(x, {{"mode", "stats"}, {"stats", (dir / "stats.json").string()}}),
                          expected, 0.0, 1e-12));
    writeNpy(dir / "stats.npy", torch::stack({mean, std}));
    CHECK(torch::allclose(normalize(x, {{"mode", "stats"}, {"stats", (dir / "stats.npy").string()}}),
                          expected, 0.0, 1e-12));
    // One value for everything, and per channel and bin.
    std::ofstream(dir / "scalar.json") << R"({"mean": -40, "std": 20})";
    CHECK(torch::allclose(normalize(x, {{"mode", "stats"}, {"stats", (dir / "scalar.json").string()}}),
                          (x + 40) / 20, 0.0, 1e-12));
    auto per_channel = torch::stack({torch::stack({mean, mean + 1}), torch::stack({std, std * 2})});
    writeNpy(dir / "channels.npy", per_channel);
    auto want = (x - per_channel[0].unsqueeze(-1)) / per_channel[1].unsqueeze(-1);
    CHECK(torch::allclose(normalize(x, {{"mode", "stats"}, {"stats", (dir / "channels.npy").string()}}), want,
                          0.0, 1e-12));

    // Frame by frame, so it streams.
    auto node =
        test::makeNode("tensor.normalize", {{"mode", "stats"}, {"stats", (dir / "stats.json").string()}});
    node->prepareStream({16000.0, 1, 512});
    CHECK(node->latencySamples() == 0);
    auto first = node->processBlock({{"in", spectrum(x.narrow(-1, 0, 15))}}).at("out").tensor;
    auto rest = node->processBlock({{"in", spectrum(x.narrow(-1, 15, 25))}}).at("out").tensor;
    CHECK(torch::allclose(torch::cat({first, rest}, -1), expected, 0.0, 1e-12));
}

TEST_CASE("tensor.normalize says what is wrong with its statistics and modes", "[nodes][tensor]") {
    test::ScratchDir dir;
    auto x = features();
    CHECK_THROWS_WITH(test::makeNode("tensor.normalize", {{"mode", "stats"}}),
                      Catch::Contains("parameter 'stats'") && Catch::Contains("needs a statistics file"));
    std::ofstream(dir / "s.json") << R"({"mean": [0, 0, 0], "std": [1, 1, 1]})";
    CHECK_THROWS_WITH(test::makeNode("tensor.normalize", {{"stats", (dir / "s.json").string()}}),
                      Catch::Contains("only read with mode 'stats'"));
    CHECK_THROWS_WITH(
        test::makeNode("tensor.normalize", {{"mode", "stats"}, {"stats", (dir / "absent.json").string()}}),
        Catch::Contains("file not found"));
    auto wrong_shape =
        test::makeNode("tensor.normalize", {{"mode", "stats"}, {"stats", (dir / "s.json").string()}}, "n");
    CHECK_THROWS_WITH(wrong_shape->process({{"in", spectrum(x)}}),
                      Catch::Contains("(tensor.normalize)") && Catch::Contains("statistics have shape [3]") &&
                          Catch::Contains("a frame of the input is [2, 5]"));
    std::ofstream(dir / "zero.json") << R"({"mean": 0, "std": 0})";
    CHECK_THROWS_WITH(
        test::makeNode("tensor.normalize", {{"mode", "stats"}, {"stats", (dir / "zero.json").string()}}),
        Catch::Contains("parameter 'stats'") && Catch::Contains("not positive"));
    std::ofstream(dir / "ragged.json") << R"({"mean": [[0, 1], [2]], "std": 1})";
    CHECK_THROWS_WITH(
        test::makeNode("tensor.normalize", {{"mode", "stats"}, {"stats", (dir / "ragged.json").string()}}),
        Catch::Contains("not a rectangular array"));
    writeNpy(dir / "one.npy", torch::ones({3}));
    CHECK_THROWS_WITH(
        test::makeNode("tensor.normalize", {{"mode", "stats"}, {"stats", (dir / "one.npy").string()}}),
        Catch::Contains("expected an array of shape [2, ...]"));
    for (const auto* mode : {"instance", "minmax"}) {
        auto node = test::makeNode("tensor.normalize", {{"mode", mode}});
        CHECK_THROWS_WITH(node->prepareStream({16000.0, 1, 512}),
                          Catch::Contains(std::string("cannot stream with mode '") + mode + "'"));
    }
}

TEST_CASE("tensor.normalize reads statistics relative to the preset through the CLI",
          "[nodes][tensor][cli]") {
    // log-mel (librosa's golden settings) standardised with per-band statistics stored beside the preset.
    test::ScratchDir dir;
    fs::create_directories(dir / "presets/stats");
    std::vector<double> mean(64), std(64);
    for (int i = 0; i < 64; ++i) {
        mean[static_cast<size_t>(i)] = -60.0 + i * 0.5;
        std[static_cast<size_t>(i)] = 5.0 + i * 0.25;
    }
    std::ofstream(dir / "presets/stats/logmel64.json") << json{{"mean", mean}, {"std", std}}.dump();
    std::ofstream(dir / "presets/standardised.json") << R"({
      "avgraph": 1,
      "nodes": {
        "logmel": {"type": "features.logmel", "params": {"n_fft": 1024, "hop_length": 512, "n_mels": 64}},
        "norm": {"type": "tensor.normalize", "params": {"mode": "stats", "stats": "stats/logmel64.json"}}
      },
      "edges": [["audio", "logmel"], ["logmel", "norm"]],
      "outputs": {"features": "norm"}
    })";
    auto r = test::runAvgraph("run " + test::shellQuote((dir / "presets/standardised.json").string()) +
                              " --input " +
                              test::shellQuote((test::goldenDir() / "audio/clip1_flute_16000.wav").string()) +
                              " --output " + test::shellQuote((dir / "out").string()));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    auto ours = host::readNpy(dir / "out/features.npy").to(torch::kFloat64);
    auto golden = test::goldenArray("clip1_flute", 16000, "logmel64_slaney_top80").to(torch::kFloat64);
    auto m = torch::tensor(mean, torch::kFloat64).view({64, 1});
    auto s = torch::tensor(std, torch::kFloat64).view({64, 1});
    REQUIRE(ours.sizes() == golden.sizes());
    // The log-mel golden's 0.01 dB, divided by each band's std.
    CHECK(((ours - (golden - m) / s).abs() * s).max().item<double>() <= 0.01);
}
