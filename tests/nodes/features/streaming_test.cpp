// Streaming equals offline: a signal fed in random blocks of 1 to 4096 samples (fixed seeds) gives,
// after each node's latency, the offline frames within 1e-5 of the array's maximum.
#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <functional>
#include <random>

using namespace avgraph;
using nlohmann::json;
using test::Pipeline;
using test::single;
using test::streamInBlocks;

namespace {

/** Frames a stream has produced after n samples: those with t*hop + latency <= n. */
int64_t framesAfter(int64_t n, int64_t latency, int64_t hop) {
    return n >= latency ? 1 + (n - latency) / hop : 0;
}

void checkEqualsOffline(const torch::Tensor& streamed, const torch::Tensor& offline, int64_t n_samples,
                        int64_t latency, int64_t hop) {
    const int64_t frames = framesAfter(n_samples, latency, hop);
    REQUIRE(streamed.size(-1) == std::min(frames, offline.size(-1)));
    REQUIRE(streamed.sizes().slice(0, 3) == offline.sizes().slice(0, 3));
    auto expected = offline.narrow(-1, 0, streamed.size(-1));
    const double peak = expected.abs().max().item<double>();
    CHECK(torch::allclose(streamed, expected, 0.0, 1e-5 * peak));
}

Value flute16k() { return test::goldenAudio("clip1_flute", 16000); }

} // namespace

TEST_CASE("features.stft streams the offline frames after its latency", "[nodes][features][stream]") {
    struct Case {
        json params;
        int64_t latency;
    };
    const std::vector<Case> cases{
        {{{"n_fft", 1024}, {"hop_length", 512}}, 512},
        {{{"n_fft", 1024}, {"hop_length", 256}, {"pad_mode", "reflect"}},
         513}, // mirrors sample 512 into the head
        {{{"n_fft", 1001}, {"hop_length", 300}, {"win_length", 800}, {"pad_mode", "reflect"}}, 501},
        {{{"n_fft", 512}, {"hop_length", 700}, {"center", false}}, 512}, // hop > n_fft: samples are skipped
        {{{"n_fft", 256}, {"hop_length", 1}, {"power", 1.0}}, 128},
    };
    Value audio = flute16k();
    audio = audio.withTensor(audio.tensor.narrow(-1, 0, 40000));
    uint32_t seed = 1;
    for (const auto& c : cases) {
        INFO(c.params.dump());
        auto node = test::makeNode("features.stft", c.params);
        auto offline = node->process({{"audio", audio}}).at("spectrum").tensor;
        node->prepareStream({16000.0, 1, 4096});
        CHECK(node->latencySamples() == c.latency);
        auto streamed = streamInBlocks(audio, single(*node, "audio", "spectrum"), seed++);
        checkEqualsOffline(streamed, offline, audio.tensor.size(-1), c.latency,
                           c.params["hop_length"].get<int64_t>());
        // After a reset the stream starts over.
        node->resetStream();
        auto again = streamInBlocks(audio, single(*node, "audio", "spectrum"), seed++);
        CHECK(torch::allclose(again, streamed, 0.0, 1e-5 * streamed.abs().max().item<double>()));
    }
}

TEST_CASE("features.stft streams single samples and refuses a block of another shape",
          "[nodes][features][stream]") {
    torch::manual_seed(8);
    auto audio = test::audioValue(torch::randn({2, 3, 3000}), 8000.0);
    auto node = test::makeNode("features.stft", {{"n_fft", 64}, {"hop_length", 16}, {"pad_mode", "reflect"}});
    auto offline = node->process({{"audio", audio}}).at("spectrum").tensor;
    node->prepareStream({8000.0, 3, 1});
    auto streamed = streamInBlocks(audio, single(*node, "audio", "spectrum"), 11, /*max_block=*/1);
    checkEqualsOffline(streamed, offline, 3000, node->latencySamples(), 16);
    CHECK_THROWS_WITH(node->processBlock({{"audio", test::audioValue(torch::zeros({1, 3, 10}), 8000.0)}}),
                      Catch::Contains("does not continue the stream"));
}

TEST_CASE("features.logmel without top_db streams the offline log-mel", "[nodes][features][stream]") {
    for (int sr : test::goldenRates()) {
        INFO(sr);
        Value audio = test::goldenAudio("clip1_flute", sr);
        // A batch of two clips with two channels each.
        audio =
            audio.withTensor(torch::cat({audio.tensor, audio.tensor.flip(-1) * 0.1f}, 1).repeat({2, 1, 1}));
        auto node = test::makeNode(
            "features.logmel", {{"n_fft", 1024}, {"hop_length", 512}, {"n_mels", 64}, {"top_db", nullptr}});
        auto offline = node->process({{"audio", audio}}).at("logmel").tensor;
        node->prepareStream({static_cast<double>(sr), 2, 4096});
        CHECK(node->latencySamples() == 512);
        auto streamed = streamInBlocks(audio, single(*node, "audio", "logmel"), 100 + sr);
        checkEqualsOffline(streamed, offline, audio.tensor.size(-1), 512, 512);
    }
}

TEST_CASE("the stft -> mel -> power_to_db chain streams the offline result", "[nodes][features][stream]") {
    Value audio = flute16k();
    auto stft =
        test::makeNode("features.stft", {{"n_fft", 2048}, {"hop_length", 256}, {"pad_mode", "reflect"}});
    auto mel = test::makeNode("features.mel", {{"n_mels", 128}, {"htk", true}});
    auto db = test::makeNode("features.power_to_db", {{"top_db", nullptr}});
    Value spectrum = stft->process({{"audio", audio}}).at("spectrum");
    Value power = mel->process({{"spectrum", spectrum}}).at("mel");
    auto offline = db->process({{"power", power}}).at("db").tensor;
    for (auto* node : {stft.get(), mel.get(), db.get()})
        node->prepareStream({16000.0, 1, 4096});
    CHECK(mel->latencySamples() == 0);
    CHECK(db->latencySamples() == 0);
    Pipeline chain = [&](const Value& block) {
        Value s = stft->processBlock({{"audio", block}}).at("spectrum");
        Value m = mel->processBlock({{"spectrum", s}}).at("mel");
        return db->processBlock({{"power", m}}).at("db");
    };
    auto streamed = streamInBlocks(audio, chain, 21);
    checkEqualsOffline(streamed, offline, audio.tensor.size(-1), stft->latencySamples(), 256);
}

TEST_CASE("tensor.concat streams branches of different latencies frame by frame", "[nodes][tensor][stream]") {
    Value audio = flute16k();
    auto coarse = test::makeNode("features.logmel",
                                 {{"n_fft", 2048}, {"hop_length", 512}, {"n_mels", 64}, {"top_db", nullptr}});
    auto fine = test::makeNode("features.logmel",
                               {{"n_fft", 512}, {"hop_length", 512}, {"n_mels", 32}, {"top_db", nullptr}});
    auto concat = test::makeNode("tensor.concat", {{"axis", "bin"}});
    auto offline = concat
                       ->process({{"in0", coarse->process({{"audio", audio}}).at("logmel")},
                                  {"in1", fine->process({{"audio", audio}}).at("logmel")}})
                       .at("out")
                       .tensor;
    for (auto* node : {coarse.get(), fine.get(), concat.get()})
        node->prepareStream({16000.0, 1, 4096});
    CHECK(coarse->latencySamples() == 1024);
    CHECK(fine->latencySamples() == 256);
    Pipeline graph = [&](const Value& block) {
        return concat
            ->processBlock({{"in0", coarse->processBlock({{"audio", block}}).at("logmel")},
                            {"in1", fine->processBlock({{"audio", block}}).at("logmel")}})
            .at("out");
    };
    auto streamed = streamInBlocks(audio, graph, 31);
    REQUIRE(streamed.size(2) == 96);
    checkEqualsOffline(streamed, offline, audio.tensor.size(-1), 1024,
                       512); // the slower branch sets the pace
}

namespace {

/**
 * `input` in random blocks of 1..max_block through `node` (seeded), then finishStream with an empty last
 * block: the whole stream, joined along the frames (or the patches, which tensor.patch stacks after the
 * batch).
 */
torch::Tensor streamToEnd(Node& node, const std::string& in, const std::string& out, const Value& input,
                          uint32_t seed, int64_t max_block = 4096) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int64_t> size(1, max_block);
    std::vector<torch::Tensor> pieces;
    int64_t axis = -1;
    const int64_t n = input.tensor.size(-1);
    for (int64_t at = 0; at <= n;) {
        const int64_t len = at < n ? std::min(size(rng), n - at) : 0;
        auto block = input.withTensor(input.tensor.narrow(-1, at, len));
        const Value v =
            at < n ? node.processBlock({{in, block}}).at(out) : node.finishStream({{in, block}}).at(out);
        if (v.axis("patch") > 0)
            axis = v.axis("patch");
        pieces.push_back(v.tensor);
        at += at < n ? len : 1;
    }
    return torch::cat(pieces, axis);
}

} // namespace

TEST_CASE("a stream finished with finishStream equals the offline result, end frames included",
          "[nodes][features][stream]") {
    struct Case {
        std::string type;
        json params;
        std::string out;
    };
    const std::vector<Case> cases{
        {"features.stft", {{"n_fft", 1024}, {"hop_length", 512}}, "spectrum"},
        {"features.stft", {{"n_fft", 1024}, {"hop_length", 256}, {"pad_mode", "reflect"}}, "spectrum"},
        {"features.stft",
         {{"n_fft", 1001}, {"hop_length", 300}, {"win_length", 800}, {"pad_mode", "reflect"}},
         "spectrum"},
        {"features.stft", {{"n_fft", 512}, {"hop_length", 700}, {"center", false}}, "spectrum"},
        {"features.stft", {{"n_fft", 512}, {"hop_length", 700}, {"pad_mode", "reflect"}}, "spectrum"},
        {"features.logmel",
         {{"n_fft", 1024}, {"hop_length", 320}, {"n_mels", 64}, {"top_db", nullptr}},
         "logmel"},
        {"features.mfcc", {{"n_fft", 512}, {"hop_length", 160}, {"n_mfcc", 20}, {"top_db", nullptr}}, "mfcc"},
        {"features.gammatone", {{"method", "fft"}, {"win_length", 300}, {"hop_length", 128}}, "gammatone"},
        {"features.scalogram", json::object(), "scalogram"},
        {"features.cqt", {{"method", "pseudo"}, {"n_bins", 48}}, "cqt"},
        {"signal.resample", {{"sr", 11025}}, "audio"},
        {"signal.resample", {{"sr", 44100}}, "audio"},
    };
    Value flute = flute16k();
    // Lengths that end mid-hop, on a multiple of every hop (librosa's tail mirror wraps there), and a
    // signal shorter than half an FFT (mirrored back and forth).
    const std::vector<int64_t> lengths{40000, 38400, 300};
    uint32_t seed = 40;
    for (const auto& c : cases) {
        for (int64_t n : lengths) {
            INFO(c.type << " " << c.params.dump() << ", " << n << " samples");
            if (c.params.value("center", true) == false && n < 512)
                continue; // no frame at all, offline too
            auto audio = flute.withTensor(flute.tensor.narrow(-1, 0, n));
            auto node = test::makeNode(c.type, c.params);
            const std::string in = c.type == "features.mfcc" ? "input" : "audio";
            torch::Tensor offline;
            try {
                offline = node->process({{in, audio}}).at(c.out).tensor;
            } catch (const Error&) {
                continue; // too short for this node offline as well (the scalogram's and CQT's lowest bands)
            }
            node->prepareStream({16000.0, 1, 4096});
            auto streamed = streamToEnd(*node, in, c.out, audio, seed++);
            REQUIRE(streamed.sizes() == offline.sizes());
            const double peak = offline.abs().max().item<double>();
            CHECK((streamed - offline).abs().max().item<double>() <= 1e-5 * peak);
        }
    }
}

TEST_CASE("a top_db node streams its decibels unclipped when its consumer clips them at the end",
          "[nodes][features][stream]") {
    Value audio = flute16k();
    for (const std::string type : {"features.logmel", "features.power_to_db"}) {
        INFO(type);
        auto node = type == "features.logmel"
                        ? test::makeNode(type, {{"n_fft", 1024}, {"hop_length", 512}, {"top_db", 40.0}})
                        : test::makeNode(type, {{"top_db", 40.0}});
        const std::string in = type == "features.logmel" ? "audio" : "power";
        const std::string out = type == "features.logmel" ? "logmel" : "db";
        Value input = audio;
        if (in == "power") // a power spectrogram to stream frame by frame
            input = test::makeNode("features.stft", {{"n_fft", 1024}, {"hop_length", 512}})
                        ->process({{"audio", audio}})
                        .at("spectrum");
        auto offline = node->process({{in, input}}).at(out).tensor;
        StreamSpec spec{16000.0, 1, 4096};
        CHECK_THROWS_WITH(node->prepareStream(spec), Catch::Contains("cannot stream with top_db = 40"));
        spec.defer_top_db = true;
        node->prepareStream(spec);
        const int64_t n = input.tensor.size(-1);
        auto first = node->processBlock({{in, input.withTensor(input.tensor.narrow(-1, 0, n / 2))}}).at(out);
        REQUIRE(first.pending_top_db);
        CHECK(*first.pending_top_db == 40.0);
        auto last =
            node->finishStream({{in, input.withTensor(input.tensor.narrow(-1, n / 2, n - n / 2))}}).at(out);
        auto whole = torch::cat({first.tensor, last.tensor}, -1);
        whole = torch::max(whole, whole.max() - 40.0); // what the consumer does at the end
        REQUIRE(whole.sizes() == offline.sizes());
        CHECK(torch::allclose(whole, offline, 0.0, 1e-5 * offline.abs().max().item<double>()));
    }
}

TEST_CASE("features.delta and tensor.patch end their streams like the offline run",
          "[nodes][features][stream]") {
    torch::manual_seed(3);
    Value frames;
    frames.tensor = torch::randn({2, 1, 5, 203});
    frames.kind = Kind::Spectrum;
    frames.sample_rate = 16000.0;
    frames.hop = 256;
    frames.axes = {"batch", "channel", "bin", "frame"};
    uint32_t seed = 90;
    for (const json& params : {json{{"mode", "interp"}}, json{{"mode", "nearest"}, {"width", 5}},
                               json{{"order", 2}, {"width", 7}}}) {
        INFO("delta " << params.dump());
        auto node = test::makeNode("features.delta", params);
        auto offline = node->process({{"frames", frames}}).at("delta").tensor;
        node->prepareStream({16000.0, 1, 64});
        auto streamed = streamToEnd(*node, "frames", "delta", frames, seed++, 17);
        REQUIRE(streamed.sizes() == offline.sizes());
        CHECK(torch::allclose(streamed, offline, 0.0, 1e-5 * offline.abs().max().item<double>()));
    }
    for (const json& params : {json{{"length", 32}, {"hop", 16}, {"padding", "pad"}},
                               json{{"length", 10}, {"hop", 30}, {"padding", "pad"}, {"pad_value", -3.0}},
                               json{{"length", 32}, {"hop", 16}}}) {
        INFO("patch " << params.dump());
        auto node = test::makeNode("tensor.patch", params);
        auto offline = node->process({{"in", frames}}).at("out").tensor;
        node->prepareStream({16000.0, 1, 64});
        auto streamed = streamToEnd(*node, "in", "out", frames, seed++, 23);
        REQUIRE(streamed.sizes() == offline.sizes());
        CHECK(torch::equal(streamed, offline));
    }
}
