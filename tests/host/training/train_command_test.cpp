// avgraph train on real ESC-10 clips: a short training that learns, the evaluation it ends with
// (checked against `avgraph eval` of the weights it wrote), a resumed run after a kill that ends
// with the same weights as an uninterrupted one, and the errors a user meets.
#include "host/metrics/training_log.h"
#include "tests/host/training/esc10_lists.h"
#include "tests/test_support.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <torch/torch.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <thread>

using namespace avgraph;
using test::runAvgraph;
using test::writeTwoClassList;
namespace fs = std::filesystem;
using avgraph::test::q;

namespace {
fs::path tinyPreset() { return test::sourceDir() / "tests/data/presets/train-cnn9-tiny.json"; }

/** Every tensor of a LibTorch archive written by saveWeights, by name. */
std::map<std::string, torch::Tensor> readArchive(const fs::path& file) {
    torch::serialize::InputArchive archive;
    archive.load_from(file.string());
    std::map<std::string, torch::Tensor> out;
    std::function<void(torch::serialize::InputArchive&, const std::string&)> walk =
        [&](torch::serialize::InputArchive& a, const std::string& prefix) {
            for (const auto& key : a.keys()) {
                torch::Tensor t;
                if (a.try_read(key, t) || a.try_read(key, t, true)) {
                    out[prefix + key] = t;
                    continue;
                }
                torch::serialize::InputArchive sub;
                if (a.try_read(key, sub))
                    walk(sub, prefix + key + ".");
            }
        };
    walk(archive, "");
    return out;
}

double maxDifference(const fs::path& a, const fs::path& b) {
    auto x = readArchive(a), y = readArchive(b);
    REQUIRE(x.size() == y.size());
    REQUIRE(!x.empty());
    double worst = 0.0;
    for (const auto& [name, t] : x) {
        REQUIRE(y.count(name));
        worst = std::max(worst,
                         (t.to(torch::kDouble) - y.at(name).to(torch::kDouble)).abs().max().item<double>());
    }
    return worst;
}

size_t lineCount(const fs::path& file) {
    std::ifstream in(file);
    size_t n = 0;
    std::string line;
    while (std::getline(in, line))
        n += !line.empty();
    return n;
}
} // namespace

TEST_CASE("avgraph train learns dog barks from rain on real clips and scores the test fold",
          "[cli][training]") {
    test::ScratchDir dir;
    fs::path list = writeTwoClassList(dir.path());
    fs::path run = dir / "run";
    auto r = runAvgraph("train " + q(tinyPreset()) + " --data " + q(list) + " --fold 5 --out " + q(run) +
                        " --threads 2 --no-plots");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("trained 8 epochs") &&
                             Catch::Contains("wrote " + (run / "weights.pt").string()));

    auto log = metrics::readTrainingLog(run / "log.jsonl");
    REQUIRE(log.size() == 8);
    for (size_t i = 0; i < log.size(); ++i)
        CHECK(log[i].epoch == static_cast<int>(i) + 1);
    // Learning: the last epoch's loss is well below the first's (mixup keeps it above zero).
    CHECK(*log.back().train_loss < 0.8 * *log.front().train_loss);

    // The evaluation it ends with: 16 test clips of fold 5, far better than chance on two classes.
    nlohmann::json metrics;
    std::ifstream(run / "eval/metrics.json") >> metrics;
    CHECK(metrics["overall"]["clips"] == 16);
    const double accuracy = metrics["overall"]["accuracy"]["overall"];
    CHECK(accuracy >= 0.8);

    // `avgraph eval` with the written weights scores the same clips the same way.
    fs::path eval = dir / "eval";
    auto e = runAvgraph("eval " + q(tinyPreset()) + " --data " + q(list) + " --fold 5 --weights " +
                        q(run / "weights.pt") + " --out " + q(eval) + " --no-plots");
    INFO(e.output);
    REQUIRE(e.exit_code == 0);
    nlohmann::json again;
    std::ifstream(eval / "metrics.json") >> again;
    CHECK(again["overall"]["accuracy"] == metrics["overall"]["accuracy"]);
    CHECK(double(again["overall"]["log_loss"]["overall"]) ==
          Approx(double(metrics["overall"]["log_loss"]["overall"])).epsilon(1e-6));

    // A finished run is not overwritten by a second one.
    auto twice = runAvgraph("train " + q(tinyPreset()) + " --data " + q(list) + " --fold 5 --out " + q(run));
    CHECK(twice.exit_code == 1);
    CHECK_THAT(twice.output, Catch::Contains("already holds a training run") && Catch::Contains("--resume"));
}

TEST_CASE("avgraph train --resume after a kill ends with the weights of an uninterrupted run",
          "[cli][training]") {
    // In float32 and in bf16 (emulated where the CPU has no bf16: the same arithmetic, slower).
    const std::string precision = GENERATE("fp32", "bf16");
    INFO("precision " << precision);
    test::ScratchDir dir;
    fs::path list = writeTwoClassList(dir.path());
    const std::string common = "train " + q(tinyPreset()) + " --data " + q(list) +
                               " --fold 5 --epochs 10 --threads 2 --no-eval --precision " + precision;
    fs::path whole = dir / "whole", killed = dir / "killed";
    auto r = runAvgraph(common + " --out " + q(whole));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);

    // Start the second run, and SIGKILL it once two epochs are checkpointed.
    auto started = test::runShell(test::shellQuote(test::avgraphExe().string()) + " " + common + " --out " +
                                  q(killed) + " > /dev/null 2>&1 & echo $!");
    const pid_t pid = std::stoi(started.output);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (lineCount(killed / "log.jsonl") < 2 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ::kill(pid, SIGKILL);
    test::runShell("while kill -0 " + std::to_string(pid) + " 2>/dev/null; do sleep 0.01; done");
    const size_t epochs_before_kill = lineCount(killed / "log.jsonl");
    INFO("epochs logged before the kill: " << epochs_before_kill);
    REQUIRE(epochs_before_kill >= 2);
    REQUIRE(epochs_before_kill < 10); // killed mid-run, else this test proves nothing
    CHECK_FALSE(fs::exists(killed / "weights.pt"));

    auto resumed = runAvgraph(common + " --out " + q(killed) + " --resume");
    INFO(resumed.output);
    REQUIRE(resumed.exit_code == 0);
    CHECK_THAT(resumed.output, Catch::Contains("resuming"));
    CHECK(lineCount(killed / "log.jsonl") == 10);
    // The same arithmetic in the same order: equal to the last bit.
    CHECK(maxDifference(whole / "weights.pt", killed / "weights.pt") == 0.0);
    for (const auto& record : metrics::readLogRecords(killed / "log.jsonl", metrics::MalformedLines::fail))
        CHECK(record.json.at("precision") == precision);
}

TEST_CASE("avgraph train --precision: the log says what ran and why; wrong words and fp16 on the CPU are "
          "refused; a run resumes only in its own precision",
          "[cli][training][precision]") {
    test::ScratchDir dir;
    fs::path list = writeTwoClassList(dir.path());
    const std::string common =
        "train " + q(tinyPreset()) + " --data " + q(list) + " --fold 5 --epochs 1 --threads 2 --no-eval";
    const auto cpuinfo = [](const std::string& name) {
        return "AVGRAPH_CPUINFO=" + q(test::sourceDir() / "tests/data/cpuinfo" / (name + ".txt")) + " ";
    };

    // auto on a CPU without native bf16 (this description of an AMD EPYC Zen 3) trains in float32.
    auto zen3 = test::runShell(cpuinfo("amd-epyc-zen3") + q(test::avgraphExe()) + " " + common +
                               " --precision auto --out " + q(dir / "zen3") + " 2>&1");
    INFO(zen3.output);
    REQUIRE(zen3.exit_code == 0);
    CHECK_THAT(zen3.output, Catch::Contains("precision fp32 (auto: AMD EPYC has no native bf16"));
    CHECK_THAT(zen3.output, !Catch::Contains("warning"));
    auto zen3_log = metrics::readLogRecords(dir / "zen3/log.jsonl", metrics::MalformedLines::fail);
    REQUIRE(zen3_log.size() == 1);
    CHECK(zen3_log[0].json.at("precision") == "fp32");
    CHECK_THAT(zen3_log[0].json.at("precision_reason").get<std::string>(),
               Catch::StartsWith("auto: AMD EPYC has no native bf16 (neither avx512_bf16 nor amx_bf16 in ") &&
                   Catch::Contains("amd-epyc-zen3.txt"));

    // On a Sapphire Rapids (avx512_bf16 and AMX) it picks bf16, and says why.
    auto spr = test::runShell(cpuinfo("intel-xeon-sapphire-rapids") + q(test::avgraphExe()) + " " + common +
                              " --precision auto --out " + q(dir / "spr") + " 2>&1");
    INFO(spr.output);
    REQUIRE(spr.exit_code == 0);
    auto spr_log = metrics::readLogRecords(dir / "spr/log.jsonl", metrics::MalformedLines::fail);
    REQUIRE(spr_log.size() == 1);
    CHECK(spr_log[0].json.at("precision") == "bf16");
    CHECK(spr_log[0].json.at("precision_reason") ==
          "auto: Intel(R) Xeon(R) Platinum 8488C has avx512_bf16 and amx_bf16");

    // bf16 asked where it is emulated: it runs, after a warning.
    auto emulated = test::runShell(cpuinfo("amd-epyc-zen3") + q(test::avgraphExe()) + " " + common +
                                   " --precision bf16 --out " + q(dir / "emulated") + " 2>&1");
    INFO(emulated.output);
    REQUIRE(emulated.exit_code == 0);
    CHECK_THAT(emulated.output, Catch::Contains("avgraph: warning: AMD EPYC has no native bf16") &&
                                    Catch::Contains("precision bf16 (asked)"));

    // A faked description that is not there is an error, not a silent fall-back to this machine's.
    auto missing =
        test::runShell("AVGRAPH_CPUINFO=" + q(dir / "no-such-cpuinfo") + " " + q(test::avgraphExe()) + " " +
                       common + " --precision auto --out " + q(dir / "missing") + " 2>&1");
    CHECK(missing.exit_code == 1);
    CHECK_THAT(missing.output,
               Catch::Contains("no-such-cpuinfo") &&
                   Catch::Contains("AVGRAPH_CPUINFO names this file as the CPU's description"));

    // fp16 on the CPU, an unknown word on the command line and in the preset.
    auto fp16 = runAvgraph(common + " --precision fp16 --out " + q(dir / "fp16"));
    CHECK(fp16.exit_code == 1);
    CHECK_THAT(fp16.output,
               Catch::Contains("--precision: precision fp16 runs on CUDA only; on the CPU use bf16"));
    CHECK_FALSE(fs::exists(dir / "fp16/log.jsonl"));
    auto word = runAvgraph(common + " --precision half --out " + q(dir / "half"));
    CHECK(word.exit_code != 0);
    CHECK_THAT(word.output, Catch::Contains("--precision: half not in {fp32,bf16,fp16,auto}"));
    const fs::path preset = dir / "half.json";
    std::ofstream(preset) << R"({"avgraph": 1, "extends": ")" + tinyPreset().string() +
                                 R"(", "train": {"precision": "half"}})";
    auto in_preset = runAvgraph("train " + q(preset) + " --data " + q(list) + " --out " + q(dir / "half2"));
    CHECK(in_preset.exit_code == 1);
    CHECK_THAT(in_preset.output, Catch::Contains("half.json") &&
                                     Catch::Contains("train setting /train/precision must be one of fp32, "
                                                     "bf16, fp16, auto, got \"half\""));

    // A float32 run is not resumed in bf16, nor the other way round.
    auto to_bf16 = runAvgraph(common + " --precision bf16 --resume --out " + q(dir / "zen3"));
    CHECK(to_bf16.exit_code == 1);
    CHECK_THAT(to_bf16.output, Catch::Contains("same preset, data and settings"));
    auto to_fp32 = runAvgraph(common + " --resume --out " + q(dir / "emulated"));
    CHECK(to_fp32.exit_code == 1);
    CHECK_THAT(to_fp32.output, Catch::Contains("same preset, data and settings"));
}

TEST_CASE("two avgraph train processes on 127.0.0.1 train to the weights of one process",
          "[cli][training][distributed]") {
    test::ScratchDir dir;
    fs::path list = writeTwoClassList(dir.path());
    // float64 and no dropout: data-parallel training is then the same arithmetic as one process up to
    // the order of sums (in float32, rounding differences grow chaotically over many steps; dropout masks
    // are drawn per process).
    const std::string common = "train " + q(tinyPreset()) +
                               " --set cnn9.dtype=float64 --set cnn9.dropout=0 --data " + q(list) +
                               " --fold 5 --epochs 2 --threads 1 --no-eval";
    fs::path one = dir / "one", two = dir / "two";
    auto r = runAvgraph(common + " --out " + q(one));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);

    const int port = test::freePort();
    REQUIRE(port > 0);
    std::string launch;
    for (int rank = 0; rank < 2; ++rank)
        launch += "RANK=" + std::to_string(rank) +
                  " WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) +
                  " AVGRAPH_DIST_TIMEOUT=60 " + q(test::avgraphExe()) + " " + common + " --out " + q(two) +
                  " > " + q(dir / ("rank" + std::to_string(rank) + ".log")) + " 2>&1 & p" +
                  std::to_string(rank) + "=$!; ";
    auto both = test::runShell(launch + "wait $p0; a=$?; wait $p1; b=$?; echo exit $a $b; cat " +
                               q(dir / "rank0.log") + " " + q(dir / "rank1.log"));
    INFO(both.output);
    REQUIRE_THAT(both.output, Catch::Contains("exit 0 0"));
    CHECK_THAT(both.output, Catch::Contains("trained 2 epochs"));
    const double difference = maxDifference(one / "weights.pt", two / "weights.pt");
    INFO("largest difference of a weight: " << difference);
    CHECK(difference < 1e-9);
    CHECK(lineCount(two / "log.jsonl") == 2);
}

TEST_CASE("avgraph train refuses what it cannot train, naming the problem", "[cli][training]") {
    test::ScratchDir dir;
    fs::path list = writeTwoClassList(dir.path());
    auto noTrainable = runAvgraph("train " + q(test::sourceDir() / "presets/features/logmel.json") +
                                  " --data " + q(list) + " --out " + q(dir / "a"));
    CHECK(noTrainable.exit_code == 1);
    CHECK_THAT(noTrainable.output, Catch::Contains("needs a trainable node"));

    auto wrongClasses = runAvgraph("train " + q(tinyPreset()) + " --set cnn9.n_classes=3 --data " + q(list) +
                                   " --fold 5 --epochs 1 --out " + q(dir / "b"));
    CHECK(wrongClasses.exit_code == 1);
    CHECK_THAT(wrongClasses.output,
               Catch::Contains("cnn9") && Catch::Contains("gives 3 classes, the dataset has 2"));

    auto badFold =
        runAvgraph("train " + q(tinyPreset()) + " --data " + q(list) + " --fold x --out " + q(dir / "c"));
    CHECK(badFold.exit_code == 1);
    CHECK_THAT(badFold.output, Catch::Contains("--fold takes a fold number or \"all\""));

    auto noResume = runAvgraph("train " + q(tinyPreset()) + " --data " + q(list) +
                               " --fold 5 --epochs 1 --out " + q(dir / "d") + " --no-eval");
    REQUIRE(noResume.exit_code == 0);
    auto changed = runAvgraph("train " + q(tinyPreset()) + " --data " + q(list) +
                              " --fold 5 --epochs 2 --out " + q(dir / "d") + " --no-eval --resume");
    CHECK(changed.exit_code == 1);
    CHECK_THAT(changed.output,
               Catch::Contains("checkpoint.pt") && Catch::Contains("same preset, data and settings"));
}
