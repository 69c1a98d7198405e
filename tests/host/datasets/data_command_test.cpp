// avgraph data: the dataset readers end to end, as a user runs them.
#include "tests/host/host_test_support.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace avgraph;
using test::runAvgraph;
namespace fs = std::filesystem;
using avgraph::test::q;

namespace {
nlohmann::json dataJson(const std::string& arguments) {
    auto r = runAvgraph("data " + arguments + " --json");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    return nlohmann::json::parse(r.output);
}
} // namespace

TEST_CASE("avgraph data on ESC-10 as distributed prints format, classes, folds and the split",
          "[host][cli][datasets]") {
    fs::path root = test::sharedDir() / "data/esc10";
    auto r = runAvgraph("data " + q(root) + " --fold 2");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    size_t fold2 = test::shellCount("find " + q(root) + " -name '2-*.ogg' | wc -l");
    CHECK_THAT(r.output, Catch::Contains("format:  esc10 (from class folders of FOLD-SOURCE-TAKE files)") &&
                             Catch::Contains("clips:   400\n") && Catch::Contains("  40\tDog bark\n") &&
                             Catch::Contains(" 2: " + std::to_string(fold2) + " ") &&
                             Catch::Contains("split fold 2: train " + std::to_string(400 - fold2) +
                                             ", validation 0, test " + std::to_string(fold2)));
}

TEST_CASE("avgraph data --json on every layout in ../shared/data/formats", "[host][cli][datasets]") {
    struct Case {
        std::string path, format;
        size_t clips;
    };
    std::vector<Case> cases{
        {"esc50", "esc50", 2000},
        {"urbansound8k", "urbansound8k", 8732},
        {"tau2019uas", "tau2019", 0},
        {"tau2019uas/TAU-urban-acoustic-scenes-2019-evaluation", "tau2019", 0},
        {"tau2019uas/TAU-urban-acoustic-scenes-2019-leaderboard", "tau2019", 0},
        {"tau2020uas_mobile/TAU-urban-acoustic-scenes-2020-mobile-development", "tau2020mobile", 0},
        {"tau2020uas_mobile/TAU-urban-acoustic-scenes-2020-mobile-evaluation", "tau2020mobile", 0},
        {"tau2022uas_mobile/TAU-urban-acoustic-scenes-2022-mobile-development", "tau2022mobile", 0},
        {"tau2022uas_mobile/TAU-urban-acoustic-scenes-2023-mobile-evaluation", "tau2022mobile", 0},
    };
    for (auto& c : cases) {
        fs::path p = test::formatsDir() / c.path;
        if (!c.clips) { // TAU: unique rows of meta.csv, or of the evaluation set's test list
            fs::path list = fs::exists(p / "meta.csv") ? p / "meta.csv"
                            : fs::exists(p / "evaluation_setup/test.csv")
                                ? p / "evaluation_setup/test.csv"
                                : p / "evaluation_setup/fold1_test.csv";
            if (c.path == "tau2019uas")
                list = p / "TAU-urban-acoustic-scenes-2019-development/meta.csv";
            c.clips = test::shellCount("tail -n +2 " + q(list) + " | tr -d '\\r' | sort -u | wc -l");
        }
        INFO(c.path);
        auto j = dataJson(q(p) + " --allow-missing");
        CHECK(j["format"] == c.format);
        CHECK(j["clips"] == c.clips);
        size_t present =
            test::shellCount("find " + q(p) + " -name '*.wav' | wc -l"); // evaluation sets hold none
        CHECK(j["clips"].get<size_t>() - j["missing_audio"].get<size_t>() == present);
    }
}

TEST_CASE("avgraph data --json: TAU 2022 cities and devices, ESC-10 on the ESC-50 folder",
          "[host][cli][datasets]") {
    SECTION("TAU 2022: cities and devices from the file names agree with meta.csv's columns") {
        fs::path dev =
            test::formatsDir() / "tau2022uas_mobile/TAU-urban-acoustic-scenes-2022-mobile-development";
        auto j = dataJson(q(dev) + " --allow-missing");
        CHECK(j["cities"]["lisbon"] == test::shellCount("grep -c 'lisbon-' " + q(dev / "meta.csv")));
        CHECK(j["cities"]["barcelona"] == test::shellCount("grep -c 'barcelona-' " + q(dev / "meta.csv")));
        CHECK(j["devices"]["a"] ==
              test::shellCount("tail -n +2 " + q(dev / "meta.csv") + " | cut -f4 | grep -cx a"));
        CHECK(j["devices"].size() == 1);
        CHECK(
            j["setup"]["1"]["train"] ==
            test::shellCount("tail -n +2 " + q(dev / "evaluation_setup/fold1_train.csv") + " | grep -c wav"));
        CHECK(j["split"]["test"] ==
              test::shellCount("tail -n +2 " + q(dev / "evaluation_setup/fold1_evaluate.csv") +
                               " | grep -c wav"));
    }
    SECTION("ESC-10 named on the ESC-50 folder") {
        auto j = dataJson(q(test::formatsDir() / "esc50") + " --format esc10 --allow-missing --fold 4");
        CHECK(j["format"] == "esc10");
        CHECK(j["clips"] == 400);
        CHECK(j["split"]["test"] == j["folds"]["4"]);
    }
}

TEST_CASE("avgraph data refuses what it cannot read", "[host][cli][datasets][errors]") {
    SECTION("missing audio without --allow-missing: exit 1 naming the line") {
        auto r = runAvgraph("data " + q(test::formatsDir() / "urbansound8k"));
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.output,
                   Catch::Contains("UrbanSound8K.csv:2:1: column 'slice_file_name': audio file not found"));
    }
    SECTION("an unknown --format is a usage error") {
        auto r = runAvgraph("data " + q(test::formatsDir() / "esc50") + " --format esc100");
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.output, Catch::Contains("esc100"));
    }
    SECTION("a fold the dataset does not have") {
        auto r = runAvgraph("data " + q(test::sharedDir() / "data/esc10") + " --fold 9");
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.output, Catch::Contains("no fold 9 in this esc10 dataset (folds: 1, 2, 3, 4, 5)"));
    }
    SECTION("a broken meta.csv") {
        test::ScratchDir dir;
        fs::copy(test::formatsDir() / "tau2020uas_mobile", dir.path(), fs::copy_options::recursive);
        REQUIRE(test::runShell("chmod -R u+w " + q(dir.path())).exit_code ==
                0); // the shared copy is read-only
        fs::path meta = dir / "TAU-urban-acoustic-scenes-2020-mobile-development/meta.csv";
        REQUIRE(test::runShell("sed -i '4s/\\tairport\\t/\\tairprt\\t/' " + q(meta)).exit_code == 0);
        auto r = runAvgraph("data " + q(dir.path()) + " --allow-missing");
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.output,
                   Catch::Contains(
                       "meta.csv:4:35: column 'scene_label': 'airprt' but the file name says 'airport'"));
    }
}
