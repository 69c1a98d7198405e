// avgraph run on the streaming path (host/streamed_run.h): the shipped streaming presets give the offline
// result, --segment writes a timeline whose segments agree with runs on the clips alone, and bad input
// gets an error that names the file and the time.
#include "io/npy.h"
#include "tests/test_support.h"

#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <fstream>
#include <sstream>

using namespace avgraph;
using test::shellQuote;
namespace fs = std::filesystem;
using avgraph::test::q;

namespace {

fs::path esc10(const std::string& clip) { return test::sharedDir() / "data/esc10" / clip; }

/** Every .npy below `dir`, by relative path. */
std::map<std::string, torch::Tensor> npyFiles(const fs::path& dir) {
    std::map<std::string, torch::Tensor> files;
    for (const auto& entry : fs::recursive_directory_iterator(dir))
        if (entry.is_regular_file() && entry.path().extension() == ".npy")
            files[entry.path().lexically_relative(dir).generic_string()] = host::readNpy(entry.path());
    return files;
}

std::vector<std::string> lines(const fs::path& file) {
    std::ifstream in(file);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);)
        out.push_back(line);
    return out;
}

std::vector<std::string> fields(const std::string& line) {
    std::vector<std::string> out;
    std::stringstream s(line);
    for (std::string f; std::getline(s, f, ',');)
        out.push_back(f);
    return out;
}

/** "Rain 0.744  Fire crackling ...": the top class `avgraph run` prints for one clip. */
std::string topClass(const std::string& output) {
    auto at = output.find("probabilities: ");
    REQUIRE(at != std::string::npos);
    auto rest = output.substr(at + 15);
    auto end = rest.find_first_of("0123456789");
    return rest.substr(0, end - 1);
}

} // namespace

TEST_CASE("every shipped preset that streams gives the offline result when streamed in blocks",
          "[host][streamed_run][cli]") {
    test::ScratchDir dir;
    // Two real clips as the channels of one 48 kHz stereo recording, as a field recorder writes.
    const fs::path clip = dir / "stereo.wav";
    REQUIRE(test::runShell("sox -M " + q(esc10("002 - Rain/1-17367-A.ogg")) + " " +
                           q(esc10("001 - Dog bark/1-100032-A.ogg")) + " -r 48000 " + q(clip))
                .exit_code == 0);
    int streaming = 0;
    for (const auto& entry : fs::directory_iterator(test::sourceDir() / "presets/features")) {
        const fs::path preset = entry.path();
        INFO(preset.filename().string());
        auto plan = test::runAvgraph("validate " + q(preset) + " --plan");
        REQUIRE(plan.exit_code == 0);
        if (plan.output.find("streams each file in blocks") == std::string::npos) {
            CHECK_THAT(plan.output, Catch::Contains("decodes each file whole and runs offline"));
            continue;
        }
        ++streaming;
        const fs::path offline_dir = dir / (preset.stem().string() + "-offline");
        auto offline = test::runAvgraph("run " + q(preset) + " --input " + q(clip) + " --output " +
                                        q(offline_dir) + " --offline");
        REQUIRE(offline.exit_code == 0);
        const auto expected = npyFiles(offline_dir);
        REQUIRE(!expected.empty());
        for (int block : {777, 4097}) {
            INFO("blocks of " << block);
            const fs::path streamed_dir = dir / (preset.stem().string() + "-" + std::to_string(block));
            auto streamed = test::runAvgraph("run " + q(preset) + " --input " + q(clip) + " --output " +
                                             q(streamed_dir) + " --block " + std::to_string(block));
            INFO(streamed.output);
            REQUIRE(streamed.exit_code == 0);
            CHECK_THAT(streamed.output, Catch::Contains("streamed"));
            const auto got = npyFiles(streamed_dir);
            REQUIRE(got.size() == expected.size());
            for (const auto& [name, want] : expected) {
                INFO(name);
                REQUIRE(got.count(name));
                REQUIRE(got.at(name).sizes() == want.sizes());
                const double peak = want.abs().max().item<double>();
                CHECK((got.at(name) - want).abs().max().item<double>() <= 1e-5 * peak);
            }
        }
    }
    // logmel.json (top_db 80: clipped over the written file), stft, mel, mfcc, delta, gammatone, ...
    CHECK(streaming >= 8);
}

TEST_CASE("avgraph run --segment writes a timeline whose segments agree with the clips run alone",
          "[host][streamed_run][cli]") {
    test::ScratchDir dir;
    // Three ESC-10 clips of fold 5 joined with sox, stereo 48 kHz as a field recorder writes.
    const std::vector<fs::path> clips{esc10("002 - Rain/5-181766-A.ogg"),
                                      esc10("007 - Helicopter/5-177957-A.ogg"),
                                      esc10("008 - Chainsaw/5-170338-A.ogg")};
    for (const auto& c : clips)
        REQUIRE(fs::exists(c));
    const fs::path joined = dir / "joined.wav";
    std::string sox = "sox";
    for (const auto& c : clips)
        sox += " " + q(c);
    auto made = test::runShell(sox + " -r 48000 -c 2 " + q(joined));
    INFO(made.output);
    REQUIRE(made.exit_code == 0);

    const fs::path preset = test::sourceDir() / "presets/scene/esc10-logmel-cnn.json";
    const fs::path out = dir / "timeline";
    // Whole windows (no shared trunk): each segment is the cut-out but for its edge frames.
    auto run = test::runAvgraph("run " + q(preset) + " --input " + q(joined) + " --output " + q(out) +
                                " --segment 5 --segment-hop 1 --block 10000 --segment-windows");
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    auto rows = lines(out / "timeline.csv");
    REQUIRE(rows.size() == 1 + 11); // 15 s: starts 0 .. 10 s
    CHECK(rows[0] == "start,end,label,confidence,Dog bark,Rain,Sea waves,Baby cry,Clock tick,Person sneeze,"
                     "Helicopter,Chainsaw,Rooster,Fire crackling");
    auto probabilities = host::readNpy(out / "probabilities.npy");
    REQUIRE(probabilities.sizes() == torch::IntArrayRef({11, 10}));
    CHECK(fs::file_size(out / "timeline.png") > 1000);
    for (size_t r = 1; r < rows.size(); ++r) {
        auto f = fields(rows[r]);
        REQUIRE(f.size() == 14);
        // The label is the most probable class, its confidence that probability; the row sums to one.
        double sum = 0.0, best = 0.0;
        for (size_t c = 4; c < f.size(); ++c) {
            sum += std::stod(f[c]);
            best = std::max(best, std::stod(f[c]));
        }
        CHECK(sum == Approx(1.0).margin(1e-5));
        CHECK(std::stod(f[3]) == best);
        CHECK(std::stod(f[3]) ==
              Approx(probabilities[static_cast<int64_t>(r - 1)].max().item<double>()).margin(1e-6));
    }
    // The segments that cover each clip: the timeline's class is that of the clip run alone.
    for (size_t i = 0; i < clips.size(); ++i) {
        INFO(clips[i].filename().string());
        auto alone = test::runAvgraph("run " + q(preset) + " --input " + q(clips[i]) + " --output " +
                                      q(dir / ("alone" + std::to_string(i))));
        REQUIRE(alone.exit_code == 0);
        auto f = fields(rows[1 + 5 * i]);
        CHECK(std::stod(f[0]) == Approx(5.0 * static_cast<double>(i)).margin(0.01));
        CHECK(f[2] == topClass(alone.output));
    }
}

TEST_CASE("streamed runs name the file and the time of bad input and keep what earlier inputs wrote",
          "[host][streamed_run][cli]") {
    test::ScratchDir dir;
    const fs::path logmel = test::sourceDir() / "presets/features/logmel.json";
    const fs::path scene = test::sourceDir() / "presets/scene/esc10-logmel-cnn.json";
    const fs::path good = dir / "a-good.wav";
    REQUIRE(test::runShell("sox " + q(esc10("002 - Rain/1-17367-A.ogg")) + " -b 16 " + q(good)).exit_code ==
            0);

    SECTION("a truncated WAV: the error names the file and where decoding stopped; the good file stays") {
        const fs::path cut = dir / "b-truncated.wav";
        REQUIRE(test::runShell("head -c 200000 " + q(good) + " > " + q(cut)).exit_code == 0);
        const fs::path list = dir / "inputs.txt";
        std::ofstream(list) << "a-good.wav\nb-truncated.wav\n";
        auto run =
            test::runAvgraph("run " + q(logmel) + " --input " + q(list) + " --output " + q(dir / "out"));
        INFO(run.output);
        CHECK(run.exit_code == 1);
        CHECK_THAT(run.output, Catch::Contains("b-truncated.wav") && Catch::Contains("0:0"));
        CHECK(host::readNpy(dir / "out/a-good/logmel.npy").size(0) == 64); // written before, still whole
        CHECK_FALSE(fs::exists(dir / "out/b-truncated/logmel.npy"));
        for (const auto& e : fs::recursive_directory_iterator(dir / "out"))
            CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
    }
    SECTION("NaN in the middle of a file: the time of the first one") {
        const fs::path nan = dir / "nan.wav";
        auto made = test::runShell("/usr/bin/python3 -c " + shellQuote(R"(
import numpy as np, struct, sys
x = np.sin(np.arange(48000 * 4) * 0.01).astype('<f4'); x[48000 * 2 + 24000] = np.nan
data = x.tobytes()
fmt = struct.pack('<HHIIHH', 3, 1, 48000, 48000 * 4, 4, 32)
riff = b'WAVE' + b'fmt ' + struct.pack('<I', 16) + fmt + b'data' + struct.pack('<I', len(data)) + data
open(sys.argv[1], 'wb').write(b'RIFF' + struct.pack('<I', len(riff)) + riff)
)") + " " + q(nan));
        REQUIRE(made.exit_code == 0);
        auto run = test::runAvgraph("run " + q(logmel) + " --input " + q(nan) + " --output " + q(dir / "n"));
        INFO(run.output);
        CHECK(run.exit_code == 1);
        CHECK_THAT(run.output, Catch::Contains("nan.wav") && Catch::Contains("NaN at 0:02.500"));
        auto segmented = test::runAvgraph("run " + q(scene) + " --input " + q(nan) + " --output " +
                                          q(dir / "ns") + " --segment 1");
        CHECK(segmented.exit_code == 1);
        CHECK_THAT(segmented.output, Catch::Contains("NaN at 0:02.500"));
        CHECK_FALSE(fs::exists(dir / "ns/timeline.csv"));
    }
    SECTION("segments: longer than the input, a hop of 0, a preset without probabilities") {
        auto longer = test::runAvgraph("run " + q(scene) + " --input " + q(good) + " --output " +
                                       q(dir / "l") + " --segment 6");
        CHECK(longer.exit_code == 1);
        CHECK_THAT(longer.output,
                   Catch::Contains("a-good.wav") && Catch::Contains("shorter than one segment of 6 s"));
        auto hop = test::runAvgraph("run " + q(scene) + " --input " + q(good) + " --output " + q(dir / "h") +
                                    " --segment 2 --segment-hop 0");
        CHECK(hop.exit_code == 2);
        CHECK_THAT(hop.output, Catch::Contains("--segment-hop"));
        auto features = test::runAvgraph("run " + q(logmel) + " --input " + q(good) + " --output " +
                                         q(dir / "f") + " --segment 2");
        CHECK(features.exit_code == 1);
        CHECK_THAT(features.output, Catch::Contains("probabilities"));
    }
    SECTION("inputs at different sample rates: each is analysed at its own rate") {
        const fs::path low = dir / "b-16k.wav";
        REQUIRE(test::runShell("sox " + q(good) + " -r 16000 " + q(low)).exit_code == 0);
        const fs::path list = dir / "rates.txt";
        std::ofstream(list) << "a-good.wav\nb-16k.wav\n";
        auto run = test::runAvgraph("run " + q(scene) + " --input " + q(list) + " --output " + q(dir / "r") +
                                    " --segment 2.5");
        INFO(run.output);
        REQUIRE(run.exit_code == 0);
        CHECK(lines(dir / "r/a-good/timeline.csv").size() == 3);
        CHECK(lines(dir / "r/b-16k/timeline.csv").size() == 3);
    }
}

TEST_CASE("the timeline of ESC-10 fold 5 joined end to end agrees with each clip run alone",
          "[host][streamed_run][cli]") {
    test::ScratchDir dir;
    std::vector<fs::path> clips;
    for (const auto& entry : fs::recursive_directory_iterator(test::sharedDir() / "data/esc10"))
        if (entry.path().extension() == ".ogg" && entry.path().filename().string().rfind("5-", 0) == 0)
            clips.push_back(entry.path());
    std::sort(clips.begin(), clips.end());
    REQUIRE(clips.size() == 80);
    const fs::path joined = dir / "fold5.wav";
    std::ofstream list(dir / "clips.txt");
    std::string sox = "sox";
    for (const auto& c : clips) {
        sox += " " + q(c);
        list << c.string() << "\n";
    }
    list.close();
    REQUIRE(test::runShell(sox + " " + q(joined)).exit_code == 0);

    const fs::path preset = test::sourceDir() / "presets/scene/esc10-logmel-cnn.json";
    auto timeline = test::runAvgraph("run " + q(preset) + " --input " + q(joined) + " --output " +
                                     q(dir / "t") + " --segment 5 --segment-hop 1 --no-plot");
    INFO(timeline.output);
    REQUIRE(timeline.exit_code == 0);
    auto alone = test::runAvgraph("run " + q(preset) + " --input " + q(dir / "clips.txt") + " --output " +
                                  q(dir / "alone") + " --top 1");
    REQUIRE(alone.exit_code == 0);
    auto rows = lines(dir / "t/timeline.csv");
    REQUIRE(rows.size() == 1 + 396); // 400 s: starts 0 .. 395 s
    int agree = 0;
    for (size_t i = 0; i < clips.size(); ++i) {
        // "<clip path>: probabilities: Rain 0.931"
        const std::string key = clips[i].string() + ": probabilities: ";
        auto at = alone.output.find(key);
        REQUIRE(at != std::string::npos);
        auto rest = alone.output.substr(at + key.size());
        const std::string top = rest.substr(0, rest.find_first_of("0123456789") - 1);
        const auto f = fields(rows[1 + 5 * i]);
        // The shared trunk's frames are 128 ms apart: a segment starts at the one nearest k seconds.
        CHECK(std::stod(f[0]) == Approx(5.0 * static_cast<double>(i)).margin(0.065));
        agree += f[2] == top;
    }
    INFO(agree << " of 80 clips");
    CHECK(agree >= 76); // >= 95 %
}
