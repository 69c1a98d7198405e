// End to end: the avgraph executable as a user runs it, on real clips.
#include "io/npy.h"
#include "tests/test_support.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>

using namespace avgraph;
using test::runAvgraph;
using test::shellQuote;
namespace fs = std::filesystem;
using avgraph::test::q;

namespace {
fs::path preset(const std::string& rel) { return test::sourceDir() / "presets" / rel; }

/** What numpy itself reads from a .npy file: "dtype shape". */
std::string numpyDescribe(const fs::path& npy) {
    auto r = test::runShell(
        "/usr/bin/python3 -c " +
        shellQuote("import sys, numpy as np; a = np.load(sys.argv[1]); "
                   "print(a.dtype, a.shape, a.flags['C_CONTIGUOUS'], bool(np.isfinite(a).all()))") +
        " " + q(npy));
    REQUIRE(r.exit_code == 0);
    return r.output.substr(0, r.output.find('\n'));
}
} // namespace

TEST_CASE("run writes .npy files that numpy loads, for a real clip with spaces in its path", "[host][cli]") {
    test::ScratchDir out;
    auto r = runAvgraph("run " + q(preset("features/logmel.json")) + " --input " + q(test::esc10Clip()) +
                        " --output " + q(out.path()));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("logmel.npy") && Catch::Contains("[64, 431]"));
    // 5 s at 44.1 kHz, hop 512, centred frames: 1 + 220500 / 512 = 431 frames of 64 mels.
    CHECK(numpyDescribe(out / "logmel.npy") == "float32 (64, 431) True True");

    SECTION("--set changes a parameter") {
        auto r2 =
            runAvgraph("run " + q(preset("features/logmel.json")) + " --set logmel.n_mels=128 --input " +
                       q(test::esc10Clip()) + " --output " + q(out.path()));
        INFO(r2.output);
        REQUIRE(r2.exit_code == 0); // replacing avgraph's own earlier output is allowed
        CHECK(numpyDescribe(out / "logmel.npy") == "float32 (128, 431) True True");
    }
    SECTION("a file the user wrote is never overwritten") {
        test::ScratchDir mine;
        std::ofstream(mine / "logmel.npy") << "my notes";
        auto r3 = runAvgraph("run " + q(preset("features/logmel.json")) + " --input " + q(test::esc10Clip()) +
                             " --output " + q(mine.path()));
        CHECK(r3.exit_code == 1);
        CHECK_THAT(r3.output, Catch::Contains("was not written by avgraph"));
        std::ifstream in(mine / "logmel.npy");
        std::string content((std::istreambuf_iterator<char>(in)), {});
        CHECK(content == "my notes");
    }
}

TEST_CASE("run through the CLI reproduces librosa's log-mel golden", "[host][cli][golden]") {
    // librosa.power_to_db(melspectrogram(y, sr=16000, n_fft=1024, hop_length=512, n_mels=64), top_db=80)
    test::ScratchDir out;
    fs::path golden = test::sharedDir() / "golden/clip1_flute";
    auto r = runAvgraph("run " + q(preset("features/logmel.json")) + " --input " +
                        q(test::sharedDir() / "golden/audio/clip1_flute_16000.wav") + " --output " +
                        q(out.path()));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    auto ours = host::readNpy(out / "logmel.npy");
    auto want = host::readNpy(golden / "clip1_flute_sr16000_logmel64_slaney_top80.npy");
    REQUIRE(ours.sizes() == want.sizes());
    // Golden README section 5: logmel*_top80 within 0.01 dB absolute (tests/nodes checks every golden).
    double err = (ours.to(torch::kDouble) - want.to(torch::kDouble)).abs().max().item<double>();
    INFO("max abs error (dB): " << err);
    CHECK(err <= 0.01);
}

TEST_CASE("run over many inputs writes one folder per input", "[host][cli]") {
    test::ScratchDir out, lists;
    fs::path esc10 = test::sharedDir() / "data/esc10";
    std::ofstream(lists / "three.txt") << (esc10 / "001 - Dog bark/1-100032-A.ogg").string() << "\n"
                                       << (esc10 / "002 - Rain/1-17367-A.ogg").string() << "\n"
                                       << (esc10 / "010 - Fire crackling/1-17150-A.ogg").string() << "\n";
    auto r = runAvgraph("run " + q(preset("features/logmel.json")) + " --input " + q(lists / "three.txt") +
                        " --output " + q(out.path()) + " --batch 2 --profile");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("for 3 clip(s)") && Catch::Contains("x real time"));
    CHECK_THAT(r.output, Catch::Contains("features.logmel")); // the profile table
    for (const char* sub :
         {"001 - Dog bark/1-100032-A", "002 - Rain/1-17367-A", "010 - Fire crackling/1-17150-A"})
        CHECK(numpyDescribe(out / sub / "logmel.npy") == "float32 (64, 431) True True");
}

TEST_CASE("validate rejects every broken preset with a precise message and exit status 1", "[host][cli]") {
    fs::path broken = test::sourceDir() / "tests/data/presets/broken";
    auto expected = nlohmann::json::parse(std::ifstream(broken / "expected_errors.json"));
    for (const auto& [name, want] : expected.items()) {
        if (name == "//")
            continue;
        DYNAMIC_SECTION(name) {
            auto r = runAvgraph("validate " + q(broken / name));
            INFO(r.output);
            CHECK(r.exit_code == 1);
            CHECK_THAT(r.output, Catch::StartsWith("avgraph: error: "));
            CHECK_THAT(r.output, Catch::Contains(want["file"].get<std::string>()));
            if (!want["pointer"].get<std::string>().empty())
                CHECK_THAT(r.output, Catch::Contains(want["pointer"].get<std::string>() + ": "));
            if (!want["node"].get<std::string>().empty())
                CHECK_THAT(r.output, Catch::Contains("node '" + want["node"].get<std::string>() + "'"));
            for (const auto& fragment : want["message"])
                CHECK_THAT(r.output, Catch::Contains(fragment.get<std::string>()));
        }
    }
}

TEST_CASE("validate reads the train section as avgraph train does", "[host][cli]") {
    test::ScratchDir dir;
    auto write = [&](const std::string& name, const std::string& train) {
        fs::path file = dir / name;
        std::ofstream(file) << R"({"avgraph": 1, "extends": ")"
                            << preset("scene/esc10-logmel-cnn.json").string() << R"(", "train": )" << train
                            << "}";
        return file;
    };
    // Stages added under the shipped preset's plain recipe: its epochs, loss, ... stay beside them
    // (extends is a merge patch) where a staged recipe takes only seed and stages.
    auto r =
        runAvgraph("validate " +
                   q(write("stages.json", R"({"stages": [{"kind": "classifier", "trainable": ["cnn9"]}]})")));
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("esc10-logmel-cnn.json: /train/") &&
                             Catch::Contains("does not go with stages") && Catch::Contains(": null"));
    auto typo = runAvgraph("validate " + q(write("typo.json", R"({"epocs": 10})")));
    INFO(typo.output);
    CHECK(typo.exit_code == 1);
    CHECK_THAT(typo.output, Catch::Contains("/train/epocs"));
    auto range = runAvgraph("validate " + q(write("range.json", R"({"batch_size": 0})")));
    INFO(range.output);
    CHECK(range.exit_code == 1);
    CHECK_THAT(range.output, Catch::Contains("/train/batch_size"));
}

TEST_CASE("every shipped preset validates", "[host][cli][presets]") {
    // The audio-visual presets load an image network the user exports (no weights ship): here a
    // scripted stand-in, so that the rest of each preset is checked.
    test::ScratchDir dir;
    const fs::path encoder = dir / "encoder.pt";
    // Built-in modules only: TorchScript cannot read the source of a class defined in `python3 -c`.
    const std::string script =
        "import torch; torch.jit.script(torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), "
        "torch.nn.Flatten())).save('" +
        encoder.string() + "')";
    REQUIRE(std::system(("/usr/bin/python3 -c " + test::shellQuote(script)).c_str()) == 0);
    int count = 0;
    for (const auto& f : fs::recursive_directory_iterator(test::sourceDir() / "presets")) {
        if (f.path().extension() != ".json")
            continue;
        ++count;
        const bool av = f.path().parent_path().filename() == "av";
        auto r =
            runAvgraph("validate " + q(f.path()) + (av ? " --set visual_encoder.path=" + q(encoder) : ""));
        INFO(f.path() << "\n" << r.output);
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.output, Catch::Contains(": ok ("));
    }
    CHECK(count >= 3);
}

TEST_CASE("each subcommand has --help, and usage errors exit 2", "[host][cli]") {
    for (const char* cmd : {"run", "validate", "nodes", "dot", "bench", "train", "ablate"}) {
        auto r = runAvgraph(std::string(cmd) + " --help");
        INFO(r.output);
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.output, Catch::Contains("Usage:"));
    }
    CHECK(runAvgraph("").exit_code == 2);
    CHECK(runAvgraph("run").exit_code == 2);
    CHECK(runAvgraph("frobnicate").exit_code == 2);
}

TEST_CASE("the node reference in docs is the one the specs generate", "[host][cli][docs]") {
    auto r = runAvgraph("nodes --markdown");
    REQUIRE(r.exit_code == 0);
    std::ifstream in(test::sourceDir() / "docs/nodes.md");
    std::string docs((std::istreambuf_iterator<char>(in)), {});
    INFO("regenerate with: cmake --build build --target docs");
    CHECK(docs == r.output);
    CHECK_THAT(r.output, Catch::Contains("## `features.logmel`") && Catch::Contains("| `n_mels` |"));
}

TEST_CASE("node libraries load with --nodes", "[host][cli][library]") {
    auto r = runAvgraph("--nodes " + q(test::exampleNodeLibrary()) + " nodes");
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("example.gain") && Catch::Contains("features.logmel"));
    auto details = runAvgraph("nodes example.gain --nodes " + q(test::exampleNodeLibrary()));
    CHECK(details.exit_code == 0);
    CHECK_THAT(details.output, Catch::Contains("gain_db = 0"));
    auto unknown = runAvgraph("nodes example.gain");
    CHECK(unknown.exit_code == 1);
    CHECK_THAT(unknown.output, Catch::Contains("unknown node type 'example.gain'"));
}

TEST_CASE("dot and bench work on a shipped preset", "[host][cli]") {
    auto dot = runAvgraph("dot " + q(preset("features/multi-resolution.json")) + " | dot -Tsvg > /dev/null");
    INFO(dot.output);
    CHECK(dot.exit_code == 0);
    auto bench = runAvgraph("bench " + q(preset("features/logmel.json")) + " --input " +
                            q(test::esc10Clip()) + " --repeat 3 --threads 1 --json");
    INFO(bench.output);
    REQUIRE(bench.exit_code == 0);
    auto result = nlohmann::json::parse(bench.output);
    CHECK(result["audio_seconds"].get<double>() == Approx(220544.0 / 44100.0)); // what libvorbis decodes
    CHECK(result["x_real_time"].get<double>() > 1.0);
    CHECK(result["threads"] == 1);
    CHECK(result["nodes"].contains("logmel"));
}

TEST_CASE("bad inputs give a clear error naming the file", "[host][cli]") {
    test::ScratchDir dir, out;
    std::ofstream(dir / "noise.wav") << "this is not audio";
    auto r = runAvgraph("run " + q(preset("features/logmel.json")) + " --input " + q(dir / "noise.wav") +
                        " --output " + q(out.path()));
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains((dir / "noise.wav").string()));
    auto missing = runAvgraph("run " + q(preset("features/logmel.json")) + " --input /no/such.wav --output " +
                              q(out.path()));
    CHECK(missing.exit_code == 1);
    CHECK_THAT(missing.output, Catch::Contains("/no/such.wav: input not found"));
    // --keep-going skips the bad file, writes the good one, and still reports failure.
    auto mixed =
        runAvgraph("run " + q(preset("features/logmel.json")) + " --input " + q(dir / "noise.wav") +
                   " --input " + q(test::esc10Clip()) + " --output " + q(out.path()) + " --keep-going");
    CHECK(mixed.exit_code == 1);
    CHECK_THAT(mixed.output,
               Catch::Contains("skipped") && Catch::Contains("1 of 2 input(s) could not be read"));
}
