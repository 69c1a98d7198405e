// The IVF method's staged recipe on real data, at a test's size: the VQ-VAE on the real videos'
// frames and photographs, the transformation network with its WGAN-GP critic on frames paired with
// their audio, the classifier on real ESC-10 clips; stages reused by later runs; the imagined image;
// and the errors of a broken staged train section.
#include "io/media/media_file.h"
#include "tests/host/training/esc10_lists.h"
#include "tests/test_support.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <vector>

using namespace avgraph;
using test::runAvgraph;
namespace fs = std::filesystem;
using avgraph::test::q;

namespace {

fs::path presetDir() { return test::sourceDir() / "tests/data/presets"; }

std::vector<nlohmann::json> readLog(const fs::path& file) {
    std::vector<nlohmann::json> out;
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty())
            out.push_back(nlohmann::json::parse(line));
    return out;
}

} // namespace

TEST_CASE("avgraph train runs the IVF stages on real videos, photographs and ESC-10 clips",
          "[cli][training][ivf]") {
    test::ScratchDir dir;
    const fs::path list = test::writeTwoClassList(dir.path());
    const fs::path run = dir / "run";
    const std::string data = " --av-data " + q(test::sharedDir() / "data/av") + " --images " +
                             q(test::sharedDir() / "data/photos");
    auto r = runAvgraph("train " + q(presetDir() / "ivf-tiny.json") + " --data " + q(list) +
                        " --fold 5 --out " + q(run) + data + " --threads 2 --no-plots");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);

    // Stage 1: the held-out reconstruction error falls from where it started, and codebook usage is
    // recorded (a perplexity between one code and all 16).
    auto vq = readLog(run / "stage1-vqvae/log.jsonl");
    REQUIRE(vq.size() == 16); // epoch 0 (before training) and 15 epochs
    CHECK(vq.front()["epoch"] == 0);
    const double before = vq.front()["val_recon_mse"], after = vq.back()["val_recon_mse"];
    CHECK(after < 0.8 * before);
    const double perplexity = vq.back()["perplexity"];
    CHECK(perplexity >= 1.0);
    CHECK(perplexity <= 16.0 + 1e-9);
    CHECK(vq.back()["dead_codes"].get<int>() >= 0);
    nlohmann::json stage1 = nlohmann::json::parse(test::readBytes(run / "stage1-vqvae/stage.json"));
    CHECK(stage1["finished"] == true);
    // 8 + 14 + 2 frames at 1 fps (the videos last 8, 14 and 1.6 s) and 16 photographs.
    CHECK(stage1["images"] == 40);
    for (const char* node : {"encoder", "vq", "decoder"})
        CHECK(fs::exists(run / "stage1-vqvae" / ("weights-" + std::string(node) + ".pt")));

    // Stage 2: WGAN-GP. Every loss is finite; the critic learns to score real above generated
    // features (a Wasserstein estimate that grows from its start and is positive) while its gradient
    // norm moves towards 1 (a falling penalty, which is a square).
    auto gan = readLog(run / "stage2-transformation/log.jsonl");
    REQUIRE(gan.size() == 3);
    for (const auto& e : gan)
        for (const char* key : {"critic_loss", "wasserstein", "gradient_penalty", "generator_loss",
                                "adversarial", "regression", "image_loss"}) {
            INFO(key);
            REQUIRE(e[key].is_number());
            CHECK(std::isfinite(e[key].get<double>()));
        }
    CHECK(gan.back()["gradient_penalty"].get<double>() >= 0.0);
    CHECK(gan.back()["gradient_penalty"].get<double>() < gan.front()["gradient_penalty"].get<double>());
    CHECK(gan.back()["wasserstein"].get<double>() > 0.0);
    CHECK(gan.back()["wasserstein"].get<double>() > gan.front()["wasserstein"].get<double>());
    CHECK(gan.back()["val_index_accuracy"].is_number());
    CHECK(fs::exists(run / "stage2-transformation/weights-G.pt"));

    // Stage 3: the classifier on the imagined features, scored on fold 5's 16 clips.
    CHECK(readLog(run / "log.jsonl").size() == 4);
    nlohmann::json metrics = nlohmann::json::parse(test::readBytes(run / "eval/metrics.json"));
    CHECK(metrics["overall"]["clips"] == 16);

    // The seed fixes the stages: a run into a fresh folder with the same threads repeats both logs,
    // epoch for epoch, to the bit (the networks' initial weights included: they are drawn when the
    // stage's graphs load). Other thread counts split LibTorch's sums differently, in the last bits.
    auto withoutTimes = [](std::vector<nlohmann::json> log) {
        for (auto& e : log)
            e.erase("seconds");
        return log;
    };
    const fs::path rerun = dir / "rerun";
    auto same = runAvgraph("train " + q(presetDir() / "ivf-tiny.json") + " --data " + q(list) +
                           " --fold 5 --out " + q(rerun) + data + " --threads 2 --no-plots --no-eval");
    INFO(same.output);
    REQUIRE(same.exit_code == 0);
    CHECK(withoutTimes(readLog(rerun / "stage1-vqvae/log.jsonl")) == withoutTimes(vq));
    CHECK(withoutTimes(readLog(rerun / "stage2-transformation/log.jsonl")) == withoutTimes(gan));

    // A second run on another fold reuses the finished stages (their logs are not touched).
    const std::string stage1_log = test::readBytes(run / "stage1-vqvae/log.jsonl");
    const fs::path run2 = dir / "run2";
    auto again =
        runAvgraph("train " + q(presetDir() / "ivf-tiny.json") + " --data " + q(list) + " --fold 4 --out " +
                   q(run2) + " --stage-dir " + q(run) + data + " --threads 2 --no-plots --no-eval");
    INFO(again.output);
    REQUIRE(again.exit_code == 0);
    CHECK_THAT(again.output, Catch::Contains("stage vqvae: finished in") &&
                                 Catch::Contains("stage transformation: finished in"));
    CHECK(test::readBytes(run / "stage1-vqvae/log.jsonl") == stage1_log);
    CHECK_FALSE(fs::exists(run2 / "stage1-vqvae"));

    // The imagined image of a clip: the decoder's picture of the codes G chose, as a PNG.
    const fs::path out = dir / "imagined";
    auto img = runAvgraph("run " + q(presetDir() / "ivf-tiny-imagine.json") + " --input " +
                          q(test::esc10Clip()) + " --output " + q(out) +
                          " --set G.weights=" + q(run / "stage2-transformation/weights-G.pt") +
                          " --set lookup.weights=" + q(run / "stage1-vqvae/weights-vq.pt") +
                          " --set decoder.weights=" + q(run / "stage1-vqvae/weights-decoder.pt") +
                          " --set classifier.weights=" + q(run / "weights.pt"));
    INFO(img.output);
    REQUIRE(img.exit_code == 0);
    REQUIRE(fs::exists(out / "imagined.png"));
    auto picture = host::readImage(out / "imagined.png");
    CHECK(picture.sizes() == torch::IntArrayRef({3, 64, 64}));
    CHECK(picture.to(torch::kFloat).std().item<double>() > 0.0);
}

TEST_CASE("a broken staged train section is refused with the key at fault", "[cli][training][ivf]") {
    test::ScratchDir dir;
    auto write = [&](const std::string& name, const std::string& train) {
        fs::path file = dir / name;
        std::ofstream(file) << R"({"avgraph": 1, "extends": ")" << (presetDir() / "ivf-tiny.json").string()
                            << R"(", "train": )" << train << "}";
        return file;
    };
    const fs::path list = test::writeTwoClassList(dir.path());
    auto check = [&](const fs::path& preset, const std::string& expected) {
        auto r = runAvgraph("train " + q(preset) + " --data " + q(list) + " --out " + q(dir / "run") +
                            " --av-data " + q(test::sharedDir() / "data/av"));
        INFO(r.output);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.output, Catch::Contains(expected));
    };
    check(
        write("last.json", R"({"stages": [{"kind": "classifier"}, {"kind": "vqvae", "preset": "x.json"}]})"),
        "/train/stages/1/kind: train setting /train/stages/1/kind: the last stage trains the classifier");
    check(write("order.json", R"({"stages": [{"kind": "classifier", "name": "a", "trainable": ["classifier"]},
                                             {"kind": "vqvae", "preset": "x.json"}, {"kind": "classifier"}]})"),
          "/train/stages/1/kind: after a classifier stage only classifier stages follow");
    check(write("end.json", R"({"stages": [{"kind": "vqvae", "preset": "v.json"}]})"),
          "/train/stages/0/kind: the last stage trains the classifier");
    check(write("preset.json", R"({"stages": [{"kind": "vqvae"}, {"kind": "classifier"}]})"),
          "/train/stages/0/preset must name the VQ-VAE preset");
    check(write("unknown.json", R"({"stages": [{"kind": "vqvae", "preset": "v.json", "fps": 1, "gama": 1},
                                                {"kind": "classifier"}]})"),
          "/train/stages/0/gama is not a training setting");
    check(write("order.json", R"({"stages": [{"kind": "transformation", "critic": "c.json"},
                                              {"kind": "classifier"}]})"),
          "/train/stages/0/vqvae the transformation stage needs an earlier vqvae stage");
    check(write("size.json", R"({"stages": [{"kind": "vqvae", "preset": "v.json", "image_size": 100},
                                             {"kind": "classifier"}]})"),
          "/train/stages/0/image_size must be a multiple of 8");

    // --av-data belongs to staged recipes only.
    auto plain = runAvgraph("train " + q(presetDir() / "train-cnn9-tiny.json") + " --data " + q(list) +
                            " --out " + q(dir / "plain") + " --av-data " + q(test::sharedDir() / "data/av"));
    INFO(plain.output);
    CHECK(plain.exit_code == 1);
    CHECK_THAT(plain.output, Catch::Contains("--av-data and --images feed the stages of a staged recipe"));
}
