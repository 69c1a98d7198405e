// The checkpoint format and the run folder: a save/load round trip of networks, optimizer and
// counters; refused settings; the stages' old format; atomic saves that leave the last good file (and no
// partial one) when a write fails; and the run folder's refuse / resume / start-over life cycle.
#include "graph/error.h"
#include "host/training/checkpoint.h"
#include "host/training/run_folder.h"
#include "io/atomic_file.h"
#include "tests/test_support.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <fstream>
#include <stdexcept>

#include <sys/resource.h>

using namespace avgraph;
using namespace avgraph::host::training;
namespace fs = std::filesystem;
using avgraph::test::filesIn;

namespace {

/** A small network with weights 0, 1, 2, ... (its bias after them), and an SGD optimizer with momentum. */
struct Net {
    torch::nn::Linear linear{torch::nn::LinearOptions(3, 2)};
    std::unique_ptr<torch::optim::SGD> sgd;
    Net() {
        torch::NoGradGuard no_grad;
        linear->weight.copy_(torch::arange(6, torch::kFloat).reshape({2, 3}));
        linear->bias.copy_(torch::tensor({6.0f, 7.0f}));
        sgd = std::make_unique<torch::optim::SGD>(linear->parameters(),
                                                  torch::optim::SGDOptions(0.1).momentum(0.5));
    }
    /** One step on the loss sum(W x + b) for x = (1, 1, 1): every weight's gradient is 1. */
    void step() {
        sgd->zero_grad();
        linear->forward(torch::ones({1, 3})).sum().backward();
        sgd->step();
    }
    Checkpoint checkpoint(Checkpoint::Owner owner = Checkpoint::Owner::run) {
        Checkpoint c(owner);
        c.addModule("net", *linear);
        c.addOptimizer("", *sgd);
        return c;
    }
};

const nlohmann::json kSettings = {{"train", {{"epochs", 4}}}, {"description", "test"}};

} // namespace

TEST_CASE("a checkpoint gives back the networks, the optimizer and the counters it saved",
          "[training][checkpoint]") {
    test::ScratchDir dir;
    const fs::path file = dir / "checkpoint.pt";
    Net saved;
    saved.step(); // weights w - 0.1; momentum buffer 1
    TrainingState state;
    state.epoch = 3;
    state.stopping = {2, 0.25, 1, false};
    saved.checkpoint().save(file, kSettings, state);
    CHECK(filesIn(dir.path()) == std::vector<std::string>{"checkpoint.pt"});

    Net loaded; // fresh weights 0..7, no momentum yet
    const TrainingState back = loaded.checkpoint().load(file, kSettings);
    CHECK(back.epoch == 3);
    CHECK(back.stopping.best_epoch == 2);
    CHECK(back.stopping.best_value == 0.25);
    CHECK(back.stopping.bad_epochs == 1);
    CHECK_FALSE(back.stopping.stopped);
    CHECK(torch::allclose(loaded.linear->weight, torch::arange(6, torch::kFloat).reshape({2, 3}) - 0.1f));
    CHECK(torch::allclose(loaded.linear->bias, torch::tensor({5.9f, 6.9f})));

    // The optimizer's momentum came back too: the next step moves by 0.1 * (0.5 * 1 + 1) = 0.15, where a
    // fresh optimizer would move by 0.1.
    loaded.step();
    CHECK(torch::allclose(loaded.linear->bias, torch::tensor({5.75f, 6.75f})));
}

TEST_CASE("a checkpoint made with other settings, or no checkpoint at all, is refused naming the file",
          "[training][checkpoint]") {
    test::ScratchDir dir;
    const fs::path file = dir / "checkpoint.pt";
    Net net;
    net.checkpoint().save(file, kSettings, {});
    nlohmann::json other = kSettings;
    other["train"]["epochs"] = 5;
    CHECK_THROWS_WITH(net.checkpoint().load(file, other),
                      Catch::Contains(file.string()) && Catch::Contains("same preset, data and settings") &&
                          Catch::Contains("\"epochs\":4") && Catch::Contains("\"epochs\":5"));
    CHECK_THROWS_WITH(net.checkpoint(Checkpoint::Owner::stage).load(file, other),
                      Catch::Contains(file.string()) && Catch::Contains("continues a stage") &&
                          Catch::Contains("train into another folder"));

    torch::serialize::OutputArchive foreign;
    foreign.write("format", c10::IValue(std::string("something else")));
    foreign.write("settings", c10::IValue(kSettings.dump()));
    foreign.save_to((dir / "foreign.pt").string());
    CHECK_THROWS_WITH(net.checkpoint().load(dir / "foreign.pt", kSettings),
                      Catch::Contains("not an avgraph training checkpoint"));
}

TEST_CASE("a stage checkpoint of the former format loads, without early-stopping counters",
          "[training][checkpoint]") {
    test::ScratchDir dir;
    Net old;
    old.step();
    // The layout the stages wrote before the formats were one: no counters, optimizers by name.
    torch::serialize::OutputArchive archive;
    archive.write("format", c10::IValue(std::string("avgraph-stage-checkpoint-1")));
    archive.write("settings", c10::IValue(kSettings.dump()));
    archive.write("epoch", c10::IValue(int64_t{7}));
    torch::serialize::OutputArchive module, optimizer;
    old.linear->save(module);
    old.sgd->save(optimizer);
    archive.write("module.net", module);
    archive.write("optimizer.critic", optimizer);
    archive.save_to((dir / "checkpoint.pt").string());

    Net loaded;
    Checkpoint checkpoint(Checkpoint::Owner::stage);
    checkpoint.addModule("net", *loaded.linear);
    checkpoint.addOptimizer("critic", *loaded.sgd);
    const auto state = checkpoint.load(dir / "checkpoint.pt", kSettings);
    CHECK(state.epoch == 7);
    CHECK(state.stopping.best_epoch == 0);
    CHECK(std::isnan(state.stopping.best_value));
    CHECK(torch::allclose(loaded.linear->bias, torch::tensor({5.9f, 6.9f})));
}

TEST_CASE("a checkpoint that cannot be written leaves the previous one and no temporary file",
          "[training][checkpoint]") {
    test::ScratchDir dir;
    host::writeFileAtomically(dir / "stage.json", "first\n");

    // A checkpoint too large for the file size limit: the write itself fails (EFBIG).
    const fs::path checkpoint = dir / "checkpoint.pt";
    Net net;
    net.checkpoint().save(checkpoint, kSettings, {});
    const std::string good = test::readBytes(checkpoint);
    torch::nn::Linear big(torch::nn::LinearOptions(200, 200)); // 160 kB of weights
    Checkpoint large;
    large.addModule("net", *big);
    rlimit before{};
    REQUIRE(getrlimit(RLIMIT_FSIZE, &before) == 0);
    auto* old_handler = std::signal(SIGXFSZ, SIG_IGN); // a write past the limit fails instead of killing us
    rlimit small = before;
    small.rlim_cur = good.size() + 4096;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
    std::string error;
    try {
        large.save(checkpoint, kSettings, {});
    } catch (const Error& e) {
        error = e.what();
    }
    setrlimit(RLIMIT_FSIZE, &before);
    std::signal(SIGXFSZ, old_handler);
    CHECK_THAT(error, Catch::Contains(checkpoint.string()) && Catch::Contains("cannot write"));
    CHECK(test::readBytes(checkpoint) == good);
    CHECK(filesIn(dir.path()) == std::vector<std::string>{"checkpoint.pt", "stage.json"});
}

TEST_CASE("a run folder refuses to overwrite a run, resumes from its checkpoint, or starts over",
          "[training][checkpoint]") {
    test::ScratchDir dir;
    const RunFolder folder(dir / "run", Checkpoint::Owner::run);
    folder.open(false); // a new folder
    REQUIRE(fs::is_directory(dir / "run"));
    Net net;
    Checkpoint checkpoint = net.checkpoint();
    CHECK_FALSE(folder.start(false, checkpoint, kSettings, true));

    // Three epochs: a log line and a checkpoint each.
    for (int epoch = 1; epoch <= 3; ++epoch)
        folder.endEpoch({{"epoch", epoch}, {"seconds", 0.5}}, checkpoint, kSettings, {epoch, {}});
    CHECK_THROWS_WITH(folder.open(false),
                      Catch::Contains("already holds a training run") && Catch::Contains("--resume"));
    CHECK_THROWS_WITH(RunFolder(dir / "run", Checkpoint::Owner::stage).open(false),
                      Catch::Contains("stage folder already holds an unfinished run"));
    CHECK_NOTHROW(folder.open(true));

    // A run killed after logging epoch 4 but before its checkpoint: resuming drops that line.
    std::ofstream(folder.log(), std::ios::app) << "{\"epoch\": 4, \"seconds\": 0.5}\n{\"epoch\": 5, \"sec";
    const auto resumed = folder.start(true, checkpoint, kSettings, true);
    REQUIRE(resumed);
    CHECK(resumed->epoch == 3);
    CHECK(test::readBytes(folder.log()) == "{\"epoch\":1,\"seconds\":0.5}\n{\"epoch\":2,\"seconds\":0.5}\n"
                                           "{\"epoch\":3,\"seconds\":0.5}\n");

    // --resume in a folder whose run stopped before its first checkpoint starts over, without its log.
    const RunFolder early(dir / "early", Checkpoint::Owner::run);
    early.open(true);
    std::ofstream(early.log()) << "{\"epoch\": 1}\n";
    CHECK_FALSE(early.start(true, checkpoint, kSettings, true));
    CHECK_FALSE(fs::exists(early.log()));
}
