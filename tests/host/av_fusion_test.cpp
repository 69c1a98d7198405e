// Audio-visual scene classification end to end on the real videos (../shared/data/av) cut into
// segments, at a test's size: the late-fusion presets (each system trained on its own, fused by
// mean, product or maximum), Chen et al.'s joint training and its pipeline variant, evaluated the
// DCASE 2021 task 1B way with the early-detection curve. The visual encoder is a randomly initialised
// ResNet18 scripted by Debian's python3-torchvision (no pretrained weights ship with Debian).
#include "host/metrics/predictions.h"
#include "tests/host/host_test_support.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <vector>

using namespace avgraph;
using test::runAvgraph;
namespace fs = std::filesystem;
using avgraph::test::q;

namespace {

fs::path presets() { return test::sourceDir() / "presets/av"; }

/** Class folders holding the three real videos (links): a labelled video-folder dataset. */
fs::path writeVideoClasses(const fs::path& dir) {
    const fs::path root = dir / "videos";
    const std::vector<std::pair<std::string, std::string>> videos = {
        {"launch", "oa4_launch.webm"}, {"underwater", "diver.mov"}, {"dog", "VID_20191220_170832.mp4"}};
    for (const auto& [label, file] : videos) {
        fs::create_directories(root / label);
        fs::create_symlink(test::sharedDir() / "data/av" / file, root / label / file);
    }
    return root;
}

/** A randomly initialised torchvision ResNet18 without its classifier (512-d), scripted. */
fs::path writeResNet18(const fs::path& dir) {
    const fs::path file = dir / "resnet18.pt";
    const std::string script = "import torch, torchvision; torch.manual_seed(0); "
                               "m = torchvision.models.resnet18(weights=None); m.fc = torch.nn.Identity(); "
                               "torch.jit.script(m.eval()).save('" +
                               file.string() + "')";
    REQUIRE(std::system(("/usr/bin/python3 -c " + test::shellQuote(script)).c_str()) == 0);
    return file;
}

/** The overrides that shrink a late-fusion preset to a test's size. */
std::string lateSmall(const fs::path& encoder) {
    std::string s = " --set visual_encoder.path=" + q(encoder) +
                    " --set visual_encoder.features=512 --set visual_encoder.size=64"
                    " --set visual_mlp.in_features=512 --set 'visual_mlp.hidden=\"32\"'"
                    " --set visual_mlp.n_classes=3";
    for (const char* f : {"logmel", "gammatone", "cqt"})
        s += std::string(" --set ") + f + "_vgg.widths=4,8,8,8 --set " + f + "_vgg.fc_width=16 --set " + f +
             "_vgg.n_classes=3";
    return s;
}

std::string jointSmall(const fs::path& encoder) {
    return " --set visual_encoder.path=" + q(encoder) +
           " --set visual_encoder.features=512 --set visual_encoder.size=64"
           " --set frame.height=64 --set frame.width=64 --set res_dcnn.hidden=64,32 --set "
           "scene.in_features=544 --set 'scene.hidden=\"16\"'"
           " --set scene.n_classes=3";
}

const metrics::ClipPrediction& byFile(const metrics::Predictions& p, const std::string& file) {
    auto it = std::find_if(p.clips.begin(), p.clips.end(), [&](const auto& c) { return c.file == file; });
    REQUIRE(it != p.clips.end());
    return *it;
}

} // namespace

TEST_CASE("late fusion: each system trained on its own, fused by mean, product and maximum",
          "[cli][av][fusion]") {
    test::ScratchDir dir;
    const fs::path data = writeVideoClasses(dir.path());
    const fs::path encoder = writeResNet18(dir.path());
    const fs::path run = dir / "late-mean";
    const std::string common = " --data " + q(data) + " --segment 0.5 --threads 2 --no-plots";
    auto r = runAvgraph("train " + q(presets() / "late-mean.json") + common + " --epochs 2 --out " + q(run) +
                        lateSmall(encoder));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    // Four classifier stages: three audio systems and the visual one, each with its own log and weights.
    int stage = 1;
    for (const char* name : {"logmel", "gammatone", "cqt"}) {
        const fs::path sd = run / ("stage" + std::to_string(stage++) + "-" + name);
        CHECK(fs::exists(sd / "weights.pt"));
        CHECK(fs::exists(sd / "log.jsonl"));
    }
    CHECK(fs::exists(run / "weights.pt")); // the last stage (visual) trains in the run folder itself
    const auto manifest = test::readJson(run / "weights.json");
    for (const char* node : {"logmel_vgg", "gammatone_vgg", "cqt_vgg", "visual_mlp"})
        CHECK(manifest.contains(node));
    // The DCASE-way evaluation of 0.5-s segments: 4 + 7 + 1 test segments (the last quarter of each
    // recording: 16, 28 and 3 segments), and the early-detection curve over the recordings' segments.
    const auto m = test::readJson(run / "eval/metrics.json");
    CHECK(m["overall"]["clips"] == 12);
    const auto early = test::readJson(run / "eval/early_detection.json");
    CHECK(early["recordings"] == 3);
    REQUIRE(early["points"].size() == 7);
    CHECK(early["points"][0]["seconds"] == 0.5);

    // Evaluating each system alone, then the three fusion presets with the same weights: the fused
    // probabilities are the mean, the renormalised product and the renormalised maximum of the systems'.
    std::vector<metrics::Predictions> systems;
    for (const char* output : {"audio_logmel", "audio_gammatone", "audio_cqt", "visual"}) {
        auto e = runAvgraph("eval " + q(presets() / "late-mean.json") + common + " --weights " + q(run) +
                            " --output " + output + " --out " + q(dir / output) + lateSmall(encoder));
        INFO(e.output);
        REQUIRE(e.exit_code == 0);
        systems.push_back(metrics::readPredictionsCsv(dir / output / "predictions.csv"));
    }
    for (const char* mode : {"mean", "prod", "max"}) {
        const fs::path out = dir / (std::string("fused-") + mode);
        auto e = runAvgraph("eval " + q(presets() / ("late-" + std::string(mode) + ".json")) + common +
                            " --weights " + q(run) + " --out " + q(out) + lateSmall(encoder));
        INFO(e.output);
        REQUIRE(e.exit_code == 0);
        const auto fused = metrics::readPredictionsCsv(out / "predictions.csv");
        REQUIRE(fused.clips.size() == 12);
        for (const auto& clip : fused.clips) {
            const size_t K = fused.classes.size();
            std::vector<double> expected(K, std::string(mode) == "prod" ? 1.0 : 0.0);
            for (const auto& s : systems) {
                const auto& p = byFile(s, clip.file).probabilities;
                for (size_t c = 0; c < K; ++c) {
                    if (std::string(mode) == "mean")
                        expected[c] += p[c] / static_cast<double>(systems.size());
                    else if (std::string(mode) == "prod")
                        expected[c] *= p[c];
                    else
                        expected[c] = std::max(expected[c], p[c]);
                }
            }
            double sum = 0.0;
            for (double v : expected)
                sum += v;
            for (size_t c = 0; c < K; ++c) {
                INFO(mode << " " << clip.file << " class " << c);
                // The CSV keeps 9 significant digits of each system's probabilities.
                CHECK(clip.probabilities[c] == Approx(expected[c] / sum).margin(1e-6));
            }
        }
    }
    // The train command's own evaluation is the mean preset's.
    const auto again = test::readJson(dir / "fused-mean/metrics.json");
    CHECK(again["overall"]["accuracy"]["overall"].get<double>() ==
          Approx(m["overall"]["accuracy"]["overall"].get<double>()));
}

TEST_CASE("joint training and the pipeline variant run end to end on the real videos", "[cli][av][joint]") {
    test::ScratchDir dir;
    const fs::path data = writeVideoClasses(dir.path());
    const fs::path encoder = writeResNet18(dir.path());
    const std::string common = " --data " + q(data) + " --segment 0.5 --threads 2 --no-plots --epochs 2";

    const fs::path joint = dir / "joint";
    auto r = runAvgraph("train " + q(presets() / "joint.json") + common + " --out " + q(joint) +
                        jointSmall(encoder));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(fs::exists(joint / "weights-res_dcnn.pt"));
    CHECK(fs::exists(joint / "weights-scene.pt"));
    CHECK(test::readJson(joint / "eval/metrics.json")["overall"]["clips"] == 12);
    CHECK(fs::exists(joint / "eval/early_detection.json"));

    const fs::path pipeline = dir / "pipeline";
    r = runAvgraph("train " + q(presets() / "pipeline.json") + common + " --out " + q(pipeline) +
                   jointSmall(encoder) + " --set audio_head.in_features=32 --set audio_head.n_classes=3");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    // Stage 1 learns the embeddings through the audio head; stage 2 only the scene classifier, with the
    // encoder frozen: its weights file is the one stage 1 wrote.
    CHECK(fs::exists(pipeline / "stage1-embeddings/weights-res_dcnn.pt"));
    CHECK(fs::exists(pipeline / "stage1-embeddings/weights-audio_head.pt"));
    CHECK(fs::exists(pipeline / "weights.pt"));
    const auto manifest = test::readJson(pipeline / "weights.json");
    CHECK(manifest["res_dcnn"] == "stage1-embeddings/weights-res_dcnn.pt");
    CHECK(manifest["scene"] == "weights.pt");
    CHECK(test::readJson(pipeline / "eval/metrics.json")["overall"]["clips"] == 12);
}
