#include "graph/executor.h"
#include "graph/graph.h"
#include "graph/plan.h"
#include "graph/preset.h"
#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <random>

using namespace avgraph;
using nlohmann::json;

namespace {

/** One delta golden: `delta<order>_<input>_w<width>[_nearest]` (README section 2.1). */
struct DeltaGolden {
    int order;
    std::string input; ///< "logmel64-slaney-top80" or "mfcc20"
    int width;
    bool nearest;

    std::string name() const {
        return "delta" + std::to_string(order) + "_" + input + "_w" + std::to_string(width) +
               (nearest ? "_nearest" : "");
    }
    /** The golden array the delta was computed from. */
    std::string inputGolden() const { return input == "mfcc20" ? "mfcc20" : "logmel64_slaney_top80"; }
    json params() const {
        return {{"width", width}, {"order", order}, {"mode", nearest ? "nearest" : "interp"}};
    }
    /** README section 5, end to end from audio. */
    double endToEndTolerance() const { return order == 1 ? 2e-3 : 5e-3; }
};

const std::vector<DeltaGolden>& deltaGoldens() {
    static const std::vector<DeltaGolden> all{
        {1, "logmel64-slaney-top80", 9, false},
        {2, "logmel64-slaney-top80", 9, false},
        {1, "logmel64-slaney-top80", 5, true},
        {1, "mfcc20", 9, false},
        {2, "mfcc20", 9, false},
    };
    return all;
}

/** A [bin, frame] matrix or a whole spectrum tensor as a spectrum value (hop 512 unless given). */
Value deltaInput(const torch::Tensor& t, int64_t hop = 512) {
    return test::spectrumValue(t.dim() == 2 ? t.view({1, 1, t.size(0), t.size(1)}) : t, 0.0, hop);
}

/** The goldens' log-mel (64 or 128 Slaney bands, top_db 80) and, for mfcc20, its MFCC. */
Value goldenInputFromAudio(const Value& audio, const DeltaGolden& g) {
    const bool mfcc = g.input == "mfcc20";
    json logmel = {{"n_fft", 1024}, {"hop_length", 512}, {"n_mels", mfcc ? 128 : 64}, {"top_db", 80.0}};
    Value db = test::makeNode("features.logmel", logmel)->process({{"audio", audio}}).at("logmel");
    if (!mfcc)
        return db;
    return test::makeNode("features.mfcc", {{"n_mfcc", 20}})->process({{"input", db}}).at("mfcc");
}

Value runDelta(const json& params, const Value& in) {
    return test::makeNode("features.delta", params)->process({{"frames", in}}).at("delta");
}

} // namespace

TEST_CASE("features.delta reproduces librosa.feature.delta on the golden inputs",
          "[nodes][features][golden]") {
    for (const auto& clip : test::goldenClips())
        for (int sr : test::goldenRates())
            for (const auto& g : deltaGoldens()) {
                INFO(clip << " " << sr << " " << g.name());
                auto input = test::goldenArray(clip, sr, g.inputGolden());
                Value out = runDelta(g.params(), deltaInput(input));
                CHECK(out.kind == Kind::Spectrum);
                REQUIRE(out.tensor.sizes() == torch::IntArrayRef({1, 1, input.size(0), input.size(1)}));
                auto ref = test::goldenArray(clip, sr, g.name());
                // A trimmed 44.1 kHz input (README section 3.3) ends in the middle of the clip: its last
                // width/2 frames are edge frames here but interior frames of the golden.
                const int64_t full = 1 + test::goldenAudio(clip, sr).tensor.size(-1) / 512;
                const int64_t frames = input.size(1) < full ? input.size(1) - g.width / 2 : input.size(1);
                auto d =
                    test::deviation(out.tensor[0][0].slice(1, 0, frames), ref.slice(1, 0, frames), 1e-4, 0.0);
                test::reportDeviation(clip + "_sr" + std::to_string(sr) + "_" + g.name() + " (from golden)",
                                      d);
                CHECK(d.within());
            }
}

TEST_CASE("features.delta reproduces the delta goldens from audio", "[nodes][features][golden]") {
    for (const auto& clip : test::goldenClips())
        for (int sr : test::goldenRates()) {
            Value audio = test::goldenAudio(clip, sr);
            for (const auto& g : deltaGoldens()) {
                INFO(clip << " " << sr << " " << g.name());
                Value out = runDelta(g.params(), goldenInputFromAudio(audio, g));
                REQUIRE(out.tensor.size(-1) == 1 + audio.tensor.size(-1) / 512);
                auto ref = test::goldenArray(clip, sr, g.name());
                auto d = test::deviation(out.tensor[0][0].slice(1, 0, ref.size(1)), ref,
                                         g.endToEndTolerance(), 0.0);
                test::reportDeviation(clip + "_sr" + std::to_string(sr) + "_" + g.name() + " (from audio)",
                                      d);
                CHECK(d.within());
            }
        }
}

TEST_CASE("features.delta of a linear ramp is its slope, at the edges too in mode interp",
          "[nodes][features]") {
    // x[b, c, r, t] = slope[r] * t + offset: a different slope per row, batched.
    const int64_t frames = 30;
    auto slope = torch::tensor({0.5, -2.0, 3.25}, torch::kFloat64).view({1, 1, 3, 1});
    auto t = torch::arange(frames, torch::kFloat64).view({1, 1, 1, frames});
    auto ramp = (slope * t + 7.0).expand({2, 2, 3, frames}).contiguous();
    const auto expected = slope.expand_as(ramp);
    for (int width : {3, 5, 9}) {
        INFO("width " << width);
        const int64_t h = width / 2;
        auto interp = runDelta({{"width", width}}, deltaInput(ramp)).tensor;
        CHECK(torch::allclose(interp, expected, 0.0, 1e-9));
        auto second = runDelta({{"width", width}, {"order", 2}}, deltaInput(ramp)).tensor;
        CHECK(second.abs().max().item<double>() < 1e-9);
        auto nearest = runDelta({{"width", width}, {"mode", "nearest"}}, deltaInput(ramp)).tensor;
        CHECK(
            torch::allclose(nearest.slice(-1, h, frames - h), expected.slice(-1, h, frames - h), 0.0, 1e-9));
        // Repeated edge frames flatten the ramp there: the first frame sees only half a slope's worth.
        CHECK(nearest.select(-1, 0).abs().lt(slope.abs().squeeze(-1)).all().item<bool>());
    }
    // A quadratic 0.5 t^2 has second derivative 1 everywhere in mode interp.
    auto quadratic = (0.5 * t * t).expand({1, 1, 3, frames}).contiguous();
    auto second = runDelta({{"width", 7}, {"order", 2}}, deltaInput(quadratic)).tensor;
    CHECK(torch::allclose(second, torch::ones_like(second), 0.0, 1e-9));
}

TEST_CASE("features.delta nearest order 1 is torchaudio's ComputeDeltas", "[nodes][features]") {
    torch::manual_seed(12);
    auto x = torch::randn({2, 1, 4, 20}, torch::kFloat64);
    auto ours = runDelta({{"width", 5}, {"mode", "nearest"}}, deltaInput(x)).tensor;
    // d_t = sum_{n=-2..2} n c_{t+n} / 10, edges replicated.
    auto padded = torch::cat(
        {x.narrow(-1, 0, 1).expand({2, 1, 4, 2}), x, x.narrow(-1, 19, 1).expand({2, 1, 4, 2})}, -1);
    auto expected = torch::zeros_like(x);
    for (int n = -2; n <= 2; ++n)
        expected += n * padded.narrow(-1, 2 + n, 20) / 10.0;
    CHECK(torch::allclose(ours, expected, 0.0, 1e-12));
}

TEST_CASE("features.delta refuses too few frames in mode interp and an even width", "[nodes][features]") {
    Value short_input = deltaInput(torch::zeros({1, 1, 8, 6}));
    CHECK_THROWS_WITH(runDelta(json::object(), short_input),
                      Catch::Contains("needs at least width = 9 frames") && Catch::Contains("got 6"));
    CHECK(runDelta({{"mode", "nearest"}}, short_input).tensor.sizes() == short_input.tensor.sizes());
    CHECK(runDelta({{"width", 5}}, short_input).tensor.sizes() == short_input.tensor.sizes());
    CHECK_THROWS_WITH(test::makeNode("features.delta", {{"width", 4}}),
                      Catch::Contains("parameter 'width'") && Catch::Contains("odd"));
    CHECK_THROWS_WITH(test::makeNode("features.delta", {{"order", 3}}), Catch::Contains("parameter 'order'"));
}

TEST_CASE("features.delta streams the offline frames after width/2 frames", "[nodes][features][stream]") {
    Value audio = test::goldenAudio("clip1_flute", 16000);
    audio = audio.withTensor(torch::cat({audio.tensor, audio.tensor.flip(-1) * 0.1f}, 1).repeat({2, 1, 1}));
    auto logmel = test::makeNode("features.logmel",
                                 {{"n_fft", 1024}, {"hop_length", 512}, {"n_mels", 64}, {"top_db", nullptr}});
    Value offline_db = logmel->process({{"audio", audio}}).at("logmel");
    uint32_t seed = 50;
    for (const char* mode : {"interp", "nearest"})
        for (int order : {1, 2})
            for (int width : {3, 9}) {
                INFO(mode << " order " << order << " width " << width);
                const int64_t h = width / 2;
                auto delta =
                    test::makeNode("features.delta", {{"width", width}, {"order", order}, {"mode", mode}});
                auto offline = delta->process({{"frames", offline_db}}).at("delta").tensor;
                logmel->prepareStream({16000.0, 2, 4096});
                delta->prepareStream({16000.0, 2, 4096});
                std::mt19937 rng(seed++);
                std::uniform_int_distribution<int64_t> size(1, 4096);
                std::vector<torch::Tensor> pieces;
                const int64_t n = audio.tensor.size(-1);
                int64_t frames_in = 0;
                for (int64_t at = 0; at < n;) {
                    const int64_t len = std::min(size(rng), n - at);
                    Value db =
                        logmel->processBlock({{"audio", audio.withTensor(audio.tensor.narrow(-1, at, len))}})
                            .at("logmel");
                    frames_in += db.tensor.size(-1);
                    Value out = delta->processBlock({{"frames", db}}).at("delta");
                    CHECK(out.kind == Kind::Spectrum);
                    pieces.push_back(out.tensor);
                    // Output frame t needs input frame t + h; in mode interp the first fit needs `width`
                    // frames.
                    const bool started = std::string(mode) == "nearest" ? frames_in > 0 : frames_in >= width;
                    int64_t produced = 0;
                    for (auto& p : pieces)
                        produced += p.size(-1);
                    CHECK(produced == (started ? std::max<int64_t>(0, frames_in - h) : 0));
                    at += len;
                }
                CHECK(delta->latencySamples() == h * 512);
                auto streamed = torch::cat(pieces, -1);
                REQUIRE(streamed.size(-1) == offline.size(-1) - h - 1); // the stft's last frame needs the end
                auto expected = offline.narrow(-1, 0, streamed.size(-1));
                CHECK(torch::allclose(streamed, expected, 0.0, 1e-5 * expected.abs().max().item<double>()));
                // After a reset the stream starts over.
                delta->resetStream();
                Value again =
                    delta->processBlock({{"frames", deltaInput(offline_db.tensor.narrow(-1, 0, width))}})
                        .at("delta");
                CHECK(torch::allclose(again.tensor, offline.narrow(-1, 0, width - h), 0.0,
                                      1e-5 * expected.abs().max().item<double>()));
            }
}

TEST_CASE("presets/features/delta.json reproduces the delta goldens through the CLI",
          "[nodes][features][golden][cli]") {
    test::ScratchDir out;
    const auto preset = test::sourceDir() / "presets/features/delta.json";
    for (int sr : test::goldenRates())
        for (const auto& g : deltaGoldens()) {
            if (g.input != "logmel64-slaney-top80")
                continue;
            INFO(sr << " " << g.name());
            const auto wav = test::goldenDir() / "audio" / ("sine440_1000_" + std::to_string(sr) + ".wav");
            auto r =
                test::runAvgraph("run " + test::q(preset) + " --set delta.order=" + std::to_string(g.order) +
                                 " --set delta.width=" + std::to_string(g.width) +
                                 " --set delta.mode=" + (g.nearest ? "nearest" : "interp") + " --input " +
                                 test::q(wav) + " --output " + test::q(out.path()));
            INFO(r.output);
            REQUIRE(r.exit_code == 0);
            auto ours = host::readNpy(out / "delta.npy");
            auto ref = test::goldenArray("sine440_1000", sr, g.name());
            REQUIRE(ours.sizes() == ref.sizes()); // the sine's arrays are not trimmed
            auto d = test::deviation(ours, ref, g.endToEndTolerance(), 0.0);
            test::reportDeviation("sine440_1000_sr" + std::to_string(sr) + "_" + g.name() + " (CLI)", d);
            CHECK(d.within());
        }
}

TEST_CASE("the Table 1 log-mel presets stack log-mel, delta and delta-delta as channels",
          "[nodes][features][golden][cli]") {
    test::ScratchDir out;
    const auto wav = test::goldenDir() / "audio" / "clip1_flute_16000.wav";
    struct Row {
        const char* preset;
        std::vector<std::string> channels; ///< the golden each channel reproduces
    };
    const std::vector<Row> rows{
        {"table1-logmel.json", {"logmel64_slaney_top80"}},
        {"table1-logmel-delta.json", {"logmel64_slaney_top80", "delta1_logmel64-slaney-top80_w9"}},
        {"table1-logmel-delta-delta.json",
         {"logmel64_slaney_top80", "delta1_logmel64-slaney-top80_w9", "delta2_logmel64-slaney-top80_w9"}},
    };
    for (const auto& row : rows) {
        INFO(row.preset);
        auto r = test::runAvgraph("run " + test::q(test::sourceDir() / "presets/features" / row.preset) +
                                  " --input " + test::q(wav) + " --output " + test::q(out.path()));
        INFO(r.output);
        REQUIRE(r.exit_code == 0);
        auto ours = host::readNpy(out / "features.npy");
        if (row.channels.size() == 1)
            ours = ours.unsqueeze(0);
        REQUIRE(ours.size(0) == static_cast<int64_t>(row.channels.size()));
        for (size_t c = 0; c < row.channels.size(); ++c) {
            INFO(row.channels[c]);
            auto ref = test::goldenArray("clip1_flute", 16000, row.channels[c]);
            // README section 5: 0.01 dB for the log-mel; 2e-3 / 5e-3 for deltas computed from audio.
            const double atol = c == 0 ? 0.01 : c == 1 ? 2e-3 : 5e-3;
            REQUIRE(ours[c].sizes() == ref.sizes());
            CHECK(test::deviation(ours[c], ref, atol, 0.0).within());
        }
    }
}

TEST_CASE("the log-mel + delta + delta-delta stack streams through the executor without top_db",
          "[nodes][features][stream]") {
    const auto preset = test::sourceDir() / "presets/features/table1-logmel-delta-delta.json";
    Registry registry;
    nodes::registerFeatureNodes(registry);
    nodes::registerTensorNodes(registry);
    {
        Graph clipped = Graph::build(Preset::load(preset), registry);
        Executor ex(clipped, Plan::make(clipped, "cpu"));
        CHECK_THROWS_WITH(ex.prepareStream({16000.0, 1, 4096}),
                          Catch::Contains("logmel (features.logmel)") && Catch::Contains("top_db"));
    }
    Graph g = Graph::build(Preset::load(preset, {"logmel.top_db=null"}), registry);
    Executor ex(g, Plan::make(g, "cpu"));
    Value audio = test::goldenAudio("clip1_flute", 16000);
    auto offline = ex.run({{"audio", audio}}).at("features").tensor;
    REQUIRE(offline.sizes() == torch::IntArrayRef({1, 3, 64, 188}));
    ex.prepareStream({16000.0, 1, 4096});
    std::mt19937 rng(77);
    std::uniform_int_distribution<int64_t> size(1, 4096);
    std::vector<torch::Tensor> pieces;
    const int64_t n = audio.tensor.size(-1);
    for (int64_t at = 0; at < n;) {
        const int64_t len = std::min(size(rng), n - at);
        pieces.push_back(ex.processBlock({{"audio", audio.withTensor(audio.tensor.narrow(-1, at, len))}})
                             .at("features")
                             .tensor);
        at += len;
    }
    // stft latency 512 samples, then 4 frames of delta look-ahead (hop 512).
    CHECK(ex.latencySamples() == 512 + 4 * 512);
    auto streamed = torch::cat(pieces, -1);
    // The stft's last frame needs the end of the clip, the deltas' last 4 frames too.
    REQUIRE(streamed.size(-1) == offline.size(-1) - 1 - 4);
    auto expected = offline.narrow(-1, 0, streamed.size(-1));
    CHECK(torch::allclose(streamed, expected, 0.0, 1e-5 * expected.abs().max().item<double>()));
}
