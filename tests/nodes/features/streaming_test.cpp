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
