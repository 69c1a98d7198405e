// Segmented streaming (graph/segments.h): every window of a long input through the offline part of a
// graph, against the offline run on each segment cut out of the input.
#include "graph/segments.h"
#include "io/audio_input.h"
#include "io/runtime.h"
#include "nodes/builtin_nodes.h"

#include "tests/graph/graph_test_support.h"
#include "tests/test_support.h"

#include <catch2/catch.hpp>

#include <random>

using namespace avgraph;
namespace fs = std::filesystem;

namespace {

/** Three real ESC-10 clips end to end at 16 kHz, mono: 15 s of audio [1, 1, samples]. */
Value joinedClips() {
    PresetInput input{"audio", Kind::Audio, 16000.0};
    std::vector<torch::Tensor> parts;
    for (const char* clip :
         {"001 - Dog bark/1-100032-A.ogg", "002 - Rain/1-17367-A.ogg", "003 - Sea waves/1-28135-A.ogg"}) {
        auto v = host::loadAudioFor(test::sharedDir() / "data/esc10" / clip, input);
        parts.push_back(v.tensor.mean(1, /*keepdim=*/true));
    }
    return host::audioValue(torch::cat(parts, -1).squeeze(0), 16000.0);
}

/** All segments of `audio` fed in random blocks (seeded), their outputs joined along the segment axis. */
SegmentBatch segmentAll(SegmentedStream& segments, const Value& audio, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int64_t> size(1, 20000);
    SegmentBatch all;
    auto add = [&](const SegmentBatch& b) {
        all.segments.insert(all.segments.end(), b.segments.begin(), b.segments.end());
        for (const auto& [name, v] : b.outputs)
            all.outputs[name] =
                all.outputs.count(name)
                    ? all.outputs[name].withTensor(torch::cat({all.outputs[name].tensor, v.tensor}, 0))
                    : v;
    };
    const int64_t n = audio.tensor.size(-1);
    int64_t at = 0;
    while (at < n) {
        const int64_t len = std::min(size(rng), n - at);
        add(segments.push(audio.withTensor(audio.tensor.narrow(-1, at, len))));
        at += len;
    }
    add(segments.finish(audio.withTensor(audio.tensor.narrow(-1, n, 0))));
    return all;
}

} // namespace

TEST_CASE("segments cut at the log-mel: each window is the stream's frames, the cut-out's inside",
          "[graph][segments]") {
    host::configureThreads(0);
    auto registry = test::builtinRegistry();
    // The CNN9 preset (untrained weights), with its log-mel as a second output to see the windows.
    Preset preset = Preset::load(test::sourceDir() / "presets/models/cnn9-logmel.json");
    auto document = preset.document();
    document["outputs"]["logmel"] = "logmel";
    Preset p = Preset::parse(document.dump(), preset.file());
    Graph g = Graph::build(p, *registry);
    Executor ex(g, Plan::make(g, "cpu"));
    const Value audio = joinedClips();
    const double sr = 16000.0;

    SegmentSpec spec;
    spec.length = 5.0;
    spec.hop = 1.5; // 93.75 frames of 256 samples: starts are rounded to the nearest frame
    spec.batch = 3;
    SegmentedStream segments(ex, spec, {sr, 1, 20000});
    CHECK_THAT(segments.describe(), Catch::Contains("streams up to logmel") && Catch::Contains("cnn9"));
    CHECK(segments.probabilitiesOutput() == "probabilities");
    const double seconds = static_cast<double>(audio.tensor.size(-1)) / sr;
    const int64_t expected = segments.segmentsIn(seconds);
    CHECK(expected == static_cast<int64_t>(std::floor((seconds - 5.0) / 1.5)) + 1);

    auto all = segmentAll(segments, audio, 5);
    REQUIRE(static_cast<int64_t>(all.segments.size()) == expected);
    const auto& windows = all.outputs.at("logmel").tensor;       // [segment, 1, 64, frames]
    const auto& probabilities = all.outputs.at("probabilities"); // [segment, 10]
    REQUIRE(windows.size(0) == expected);
    REQUIRE(probabilities.tensor.sizes() == torch::IntArrayRef({expected, 10}));

    for (int64_t k = 0; k < expected; ++k) {
        const auto& seg = all.segments[static_cast<size_t>(k)];
        INFO("segment " << k << " at " << seg.start << " s");
        CHECK(seg.index == k);
        // The start is the frame nearest to k * hop.
        const int64_t frame = std::llround(k * 1.5 * sr / 256.0);
        CHECK(seg.start == Approx(frame * 256.0 / sr).margin(1e-9));
        CHECK(seg.end == Approx(seg.start + 5.0).margin(1e-9));
        const int64_t first = frame * 256;
        if (first + 80000 > audio.tensor.size(-1))
            continue;
        auto cut = audio.withTensor(audio.tensor.narrow(-1, first, 80000));
        auto offline = ex.run({{"audio", cut}});
        const auto& expected_logmel = offline.at("logmel").tensor; // [1, 1, 64, 313]
        REQUIRE(windows[k].sizes() == expected_logmel[0].sizes());
        // Frames 0-1 and the last two reach past the segment (n_fft/2 = 512 samples = 2 hops): there the
        // cut-out sees its zero padding and the stream the audio around it. All others are the same
        // samples through the same FFT: equal, clipped top_db below the window's own maximum as the cut-out.
        const int64_t frames = expected_logmel.size(-1);
        auto inner = windows[k].narrow(-1, 2, frames - 4);
        auto inner_expected = expected_logmel[0].narrow(-1, 2, frames - 4);
        CHECK((inner - inner_expected).abs().max().item<double>() <= 1e-4);
        // The network ran on exactly these windows.
        auto again = ex.runPart(
            {}, {{"logmel", {{"logmel", offline.at("logmel").withTensor(windows.narrow(0, k, 1))}}}},
            {"softmax"});
        CHECK(torch::allclose(again.at("softmax").at("probabilities").tensor,
                              probabilities.tensor.narrow(0, k, 1), 1e-5, 1e-6));
    }
}

TEST_CASE("segments cut at the input when nothing streams: each is the cut-out's answer",
          "[graph][segments]") {
    host::configureThreads(0);
    auto registry = test::builtinRegistry();
    // The full CQT does not stream, so the windows are audio: exactly the cut-out segments.
    Preset p = Preset::parse(R"({"avgraph": 1,
        "nodes": {"cqt": {"type": "features.cqt", "params": {"n_bins": 48, "hop_length": 512}},
                  "cnn9": {"type": "models.cnn9", "params": {"in_channels": 1, "widths": "8,8,8,8", "n_classes": 4}},
                  "softmax": {"type": "models.softmax"}},
        "edges": [["audio", "cqt"], ["cqt", "cnn9"], ["cnn9", "softmax"]],
        "outputs": {"p": "softmax"}})",
                             "inline.json");
    Graph g = Graph::build(p, *registry);
    torch::manual_seed(1);
    Executor ex(g, Plan::make(g, "cpu"));
    const Value audio = joinedClips();
    SegmentSpec spec;
    spec.length = 2.0;
    spec.hop = 3.3;
    spec.batch = 2;
    SegmentedStream segments(ex, spec, {16000.0, 1, 20000});
    CHECK_THAT(segments.describe(), Catch::Contains("streams up to audio"));
    auto all = segmentAll(segments, audio, 9);
    REQUIRE(all.segments.size() == 4); // starts 0, 3.3, 6.6, 9.9 (+2 s <= 15 s); 13.2 + 2 > 15
    for (size_t k = 0; k < all.segments.size(); ++k) {
        INFO("segment " << k);
        const int64_t first = std::llround(static_cast<double>(k) * 3.3 * 16000.0);
        CHECK(all.segments[k].start == Approx(first / 16000.0).margin(1e-12));
        auto offline =
            ex.run({{"audio", audio.withTensor(audio.tensor.narrow(-1, first, 32000))}}).at("p").tensor;
        CHECK(torch::allclose(all.outputs.at("p").tensor.narrow(0, static_cast<int64_t>(k), 1), offline, 1e-5,
                              1e-6));
    }
}

TEST_CASE("segments: the count in an input, and what is refused", "[graph][segments]") {
    auto registry = test::builtinRegistry();
    Graph g = Graph::build(Preset::load(test::sourceDir() / "presets/models/cnn9-logmel.json"), *registry);
    Executor ex(g, Plan::make(g, "cpu"));
    SegmentSpec spec;
    spec.length = 5.0;
    spec.hop = 1.0;
    SegmentedStream segments(ex, spec, {48000.0, 2, 4096});
    CHECK(segments.segmentsIn(3600.0) == 3596); // an hour: starts 0 .. 3595 s
    CHECK(segments.segmentsIn(5.0) == 1);
    CHECK(segments.segmentsIn(4.99) == 0);
    CHECK_THAT(segments.describe(),
               Catch::Contains("streams up to logmel and cnn9's trunk") &&
                   Catch::Contains("runs cnn9's head, softmax on each segment's window"));
    spec.share_trunk = false;
    CHECK_THAT(SegmentedStream(ex, spec, {48000.0, 2, 4096}).describe(),
               Catch::Contains("streams up to logmel (313 frames a segment") &&
                   Catch::Contains("runs cnn9, softmax on each segment's window"));
    spec.share_trunk = true;

    spec.hop = 0.0;
    CHECK_THROWS_WITH(SegmentedStream(ex, spec, {48000.0, 2, 4096}), Catch::Contains("more than 0 s apart"));
    spec.hop = 1.0;
    spec.length = -1.0;
    CHECK_THROWS_WITH(SegmentedStream(ex, spec, {48000.0, 2, 4096}), Catch::Contains("more than 0 s"));

    Graph features =
        Graph::build(Preset::load(test::sourceDir() / "presets/features/logmel.json"), *registry);
    Executor fx(features, Plan::make(features, "cpu"));
    spec.length = 5.0;
    CHECK_THROWS_WITH(SegmentedStream(fx, spec, {48000.0, 2, 4096}),
                      Catch::Contains("every output of this preset streams"));
}

TEST_CASE("a shared CNN9 trunk: each segment is the head on the whole stream's trunk frames of its stretch",
          "[graph][segments]") {
    host::configureThreads(0);
    auto registry = test::builtinRegistry();
    // Without top_db, so the stream's log-mel is the offline one (the trunk clips against the running
    // maximum, which the whole-clip offline log-mel cannot reproduce).
    Graph g = Graph::build(
        Preset::load(test::sourceDir() / "presets/scene/esc10-logmel-cnn.json", {"logmel.top_db=null"}),
        *registry);
    Executor ex(g, Plan::make(g, "cpu"));
    const Value audio = joinedClips();
    SegmentSpec spec;
    spec.length = 5.0;
    spec.hop = 1.0;
    spec.batch = 4;
    spec.trunk_chunk = 40; // many chunks, each with its margins, whatever the blocks
    SegmentedStream segments(ex, spec, {16000.0, 1, 20000});
    CHECK_THAT(segments.describe(), Catch::Contains("cnn9's trunk, once over the stream") &&
                                        Catch::Contains("runs cnn9's head, softmax"));
    auto all = segmentAll(segments, audio, 21);
    REQUIRE(all.segments.size() == 11);

    // The trunk of the whole log-mel at once, and the head on each segment's 39 trunk frames.
    auto logmel = ex.runPart({{"audio", audio}}, {}, {"logmel"}).at("logmel").at("logmel");
    auto* cnn9 = dynamic_cast<SegmentTrunk*>(g.vertex(g.find("cnn9")).node.get());
    REQUIRE(cnn9);
    torch::NoGradGuard no_grad;
    auto trunk = cnn9->trunk(logmel); // [1, 256, frames / 8]
    for (size_t k = 0; k < all.segments.size(); ++k) {
        INFO("segment " << k);
        const int64_t u = std::llround(static_cast<double>(k) * 62.5 / 8.0);
        CHECK(all.segments[k].start == Approx(u * 8 * 256 / 16000.0).margin(1e-9));
        auto logits = cnn9->head(trunk.narrow(-1, u, 39), logmel).at("logits").tensor;
        auto expected = torch::softmax(logits, -1);
        CHECK(torch::allclose(all.outputs.at("probabilities").tensor.narrow(0, static_cast<int64_t>(k), 1),
                              expected, 1e-5, 1e-6));
    }
}
