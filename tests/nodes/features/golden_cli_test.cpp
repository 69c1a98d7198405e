// The shipped spectral presets reproduce the goldens from the command line, as a user runs them:
// `avgraph run presets/features/X.json --set ...` over the golden WAVs (float32 decoding, every rate).
// The node-API tests beside this file check the same goldens in float32 and float64.
#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <vector>

using namespace avgraph;

namespace {

/** Runs a shipped preset with overrides over every golden clip at every rate; output per "<clip>_<sr>". */
std::map<std::string, torch::Tensor> runOnGoldenAudio(const std::string& preset, const std::string& output,
                                                      const std::string& sets,
                                                      const std::vector<int>& rates = test::goldenRates()) {
    test::ScratchDir dir;
    std::ofstream list(dir / "inputs.txt");
    for (const auto& clip : test::goldenClips())
        for (int sr : rates)
            list << (test::goldenDir() / "audio" / (clip + "_" + std::to_string(sr) + ".wav")).string()
                 << "\n";
    list.close();
    auto r = test::runAvgraph("run " +
                              test::shellQuote((test::sourceDir() / "presets/features" / preset).string()) +
                              " " + sets + " --input " + test::shellQuote((dir / "inputs.txt").string()) +
                              " --output " + test::shellQuote((dir / "out").string()));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    std::map<std::string, torch::Tensor> results;
    for (const auto& clip : test::goldenClips())
        for (int sr : rates) {
            const std::string name = clip + "_" + std::to_string(sr);
            results[name] = host::readNpy(dir / "out" / name / (output + ".npy"));
        }
    return results;
}

/** The golden's frames of `ours` (44.1 kHz goldens keep their first 256 frames). */
torch::Tensor framesOf(const torch::Tensor& ours, const torch::Tensor& ref) {
    REQUIRE(ours.size(0) == ref.size(0));
    REQUIRE(ours.size(1) >= ref.size(1));
    return ours.slice(1, 0, ref.size(1));
}

} // namespace

TEST_CASE("presets/features/stft.json reproduces both padding goldens from the command line",
          "[nodes][features][golden][cli]") {
    for (std::string pad : {"constant", "reflect"}) {
        auto results = runOnGoldenAudio("stft.json", "stft", "--set stft.pad_mode=" + pad);
        for (const auto& clip : test::goldenClips())
            for (int sr : test::goldenRates()) {
                const std::string name = "stft_power_pad-" + pad;
                auto ref = test::goldenArray(clip, sr, name);
                auto ours = framesOf(results.at(clip + "_" + std::to_string(sr)), ref);
                auto d = test::deviation(ours, ref, 1e-6 * ref.abs().max().item<double>(), 1e-4);
                test::reportDeviation(clip + "_sr" + std::to_string(sr) + "_" + name + " (CLI)", d);
                CHECK(d.within());
            }
    }
}

TEST_CASE("presets/features/mel.json reproduces every mel golden from the command line",
          "[nodes][features][golden][cli]") {
    for (int n_mels : {64, 128})
        for (bool htk : {false, true}) {
            const std::string sets = "--set mel.n_mels=" + std::to_string(n_mels) +
                                     " --set mel.htk=" + (htk ? "true" : "false") +
                                     " --set mel.norm=" + (htk ? "none" : "slaney");
            auto results = runOnGoldenAudio("mel.json", "mel", sets);
            for (const auto& clip : test::goldenClips())
                for (int sr : test::goldenRates()) {
                    const std::string name =
                        "mel" + std::to_string(n_mels) + (htk ? "_htk-nonorm" : "_slaney");
                    auto ref = test::goldenArray(clip, sr, name);
                    auto ours = framesOf(results.at(clip + "_" + std::to_string(sr)), ref);
                    auto d = test::deviation(ours, ref, 2e-5 * ref.abs().max().item<double>(), 1e-3);
                    test::reportDeviation(clip + "_sr" + std::to_string(sr) + "_" + name + " (CLI)", d);
                    CHECK(d.within());
                }
        }
}

TEST_CASE("presets/features/logmel.json reproduces every log-mel golden from the command line",
          "[nodes][features][golden][cli]") {
    for (int n_mels : {64, 128})
        for (bool htk : {false, true})
            for (bool top80 : {true, false}) {
                const std::string sets = "--set logmel.n_mels=" + std::to_string(n_mels) +
                                         " --set logmel.htk=" + (htk ? "true" : "false") +
                                         " --set logmel.norm=" + (htk ? "none" : "slaney") +
                                         " --set logmel.top_db=" + (top80 ? "80" : "null");
                auto results = runOnGoldenAudio("logmel.json", "logmel", sets);
                for (const auto& clip : test::goldenClips())
                    for (int sr : test::goldenRates()) {
                        const std::string name = "logmel" + std::to_string(n_mels) +
                                                 (htk ? "_htk-nonorm" : "_slaney") +
                                                 (top80 ? "_top80" : "_topNone");
                        auto ref = test::goldenArray(clip, sr, name);
                        auto ours = framesOf(results.at(clip + "_" + std::to_string(sr)), ref);
                        // 0.01 dB within 80 dB of the maximum; below that, float32 decoding meets the FFT's
                        // rounding floor (see logmel_node_test.cpp), which the README allows to mask.
                        auto near = ref >= ref.max() - 80.0;
                        auto d = test::deviation(ours, ref, 0.01, 0.0, near);
                        test::reportDeviation(clip + "_sr" + std::to_string(sr) + "_" + name + " (CLI)", d);
                        CHECK(d.within());
                    }
            }
}

TEST_CASE("presets/features/cqt.json reproduces every CQT golden from the command line",
          "[nodes][features][golden][cli]") {
    struct Variant {
        std::string golden, sets;
        double rtol;
    };
    // README section 5: 1e-4 of the maximum, with 1e-3 relative where the algorithm is exactly specified.
    const std::vector<Variant> variants{
        {"cqt_mag", "", 0.0},
        {"cqt_mag_resfft_sparsity0", "--set cqt.res_type=fft --set cqt.sparsity=0", 1e-3},
        {"pseudo_cqt_mag", "--set cqt.method=pseudo", 1e-3},
        {"hybrid_cqt_mag", "--set cqt.method=hybrid", 0.0},
    };
    const std::vector<int> rates{16000, 22050};
    for (const auto& v : variants) {
        auto results = runOnGoldenAudio("cqt.json", "cqt", v.sets, rates);
        for (const auto& clip : test::goldenClips())
            for (int sr : rates) {
                auto ref = test::goldenArray(clip, sr, v.golden);
                auto ours = framesOf(results.at(clip + "_" + std::to_string(sr)), ref);
                auto d = test::deviation(ours, ref, 1e-4 * ref.abs().max().item<double>(), v.rtol);
                test::reportDeviation(clip + "_sr" + std::to_string(sr) + "_" + v.golden + " (CLI)", d);
                CHECK(d.within());
            }
    }
}

TEST_CASE("the same clip gives the same bits in every run, whatever the thread count",
          "[nodes][features][cli]") {
    // FFT plans chosen by timing (FFTW_MEASURE) would make runs differ in the last bits.
    const auto preset = test::shellQuote((test::sourceDir() / "presets/features/logmel.json").string());
    test::ScratchDir out;
    std::vector<torch::Tensor> runs;
    for (int threads : {1, 2, 2}) {
        const auto dir = out / std::to_string(runs.size());
        auto r = test::runAvgraph("run " + preset + " --threads " + std::to_string(threads) + " --input " +
                                  test::shellQuote(test::esc10Clip().string()) + " --output " +
                                  test::shellQuote(dir.string()));
        INFO(r.output);
        REQUIRE(r.exit_code == 0);
        runs.push_back(host::readNpy(dir / "logmel.npy"));
    }
    CHECK(torch::equal(runs[0], runs[1]));
    CHECK(torch::equal(runs[1], runs[2]));
}
