// The prediction CSV: DCASE's tab-separated system output plus the reference columns, written and
// read back, and every broken file refused with its file, line and column named.
#include "graph/error.h"
#include "host/metrics/predictions.h"
#include "tests/test_support.h"

#include <catch2/catch.hpp>

#include <fstream>

using namespace avgraph;
using namespace avgraph::metrics;
namespace fs = std::filesystem;

namespace {

const char* kHeader = "filename\tscene_label\tairport\tbus\tpark\ttrue_label\tcity\tdevice\n";

fs::path writeFile(const test::ScratchDir& dir, const std::string& text) {
    fs::path path = dir / "predictions.csv";
    std::ofstream(path, std::ios::binary) << text;
    return path;
}

/** The message readPredictionsCsv throws for `text`. */
std::string errorFor(const test::ScratchDir& dir, const std::string& text) {
    fs::path path = writeFile(dir, text);
    try {
        readPredictionsCsv(path);
    } catch (const Error& e) {
        CHECK(e.where().file == path.string());
        return e.what();
    }
    FAIL("no error for:\n" << text);
    return {};
}

} // namespace

TEST_CASE("a prediction CSV is written as DCASE's system output and read back", "[host][metrics]") {
    test::ScratchDir dir;
    Predictions p;
    p.classes = {"airport", "bus", "metro_station"};
    p.add("audio/airport-lisbon-1000-40000-a.wav", 0, {0.7, 0.2, 0.1}, "lisbon", "a");
    p.add("audio/bus-lyon-1001-40001-s2.wav", 1, {0.1, 0.3, 0.6}, "lyon", "s2");
    writePredictionsCsv(dir / "p.csv", p);

    std::ifstream in(dir / "p.csv");
    std::string header, row;
    std::getline(in, header);
    std::getline(in, row);
    CHECK(header == "filename\tscene_label\tairport\tbus\tmetro_station\ttrue_label\tcity\tdevice");
    CHECK(row == "audio/airport-lisbon-1000-40000-a.wav\tairport\t0.7\t0.2\t0.1\tairport\tlisbon\ta");

    Predictions back = readPredictionsCsv(dir / "p.csv");
    CHECK(back.classes == p.classes);
    REQUIRE(back.clips.size() == 2);
    CHECK(back.clips[1].file == "audio/bus-lyon-1001-40001-s2.wav");
    CHECK(back.clips[1].label == 1);
    CHECK(back.clips[1].predicted == 2); // scene_label: the argmax
    CHECK(back.clips[1].probabilities == std::vector<double>{0.1, 0.3, 0.6});
    CHECK(back.clips[1].city == "lyon");
    CHECK(back.clips[1].device == "s2");

    SECTION("without city and device the columns are left out") {
        Predictions bare;
        bare.classes = {"x", "y"};
        bare.add("1.wav", 1, {0.25, 0.75});
        writePredictionsCsv(dir / "bare.csv", bare);
        std::ifstream b(dir / "bare.csv");
        std::string text((std::istreambuf_iterator<char>(b)), {});
        CHECK(text == "filename\tscene_label\tx\ty\ttrue_label\n1.wav\ty\t0.25\t0.75\ty\n");
    }
    SECTION("columns are found by name, in any order, with CRLF line ends") {
        auto path = writeFile(
            dir, "true_label\tfilename\tbus\tairport\tscene_label\r\nbus\tq.wav\t0.4\t0.6\tairport\r\n");
        Predictions q = readPredictionsCsv(path);
        CHECK(q.classes == std::vector<std::string>{"bus", "airport"});
        CHECK(q.clips[0].label == 0);
        CHECK(q.clips[0].predicted == 1);
        CHECK(q.clips[0].city.empty());
    }
}

TEST_CASE("broken prediction CSVs name the file, line and column", "[host][metrics]") {
    test::ScratchDir dir;
    std::string good = "a.wav\tbus\t0.1\t0.8\t0.1\tbus\tlyon\ta\n";
    SECTION("missing column") {
        auto e = errorFor(dir, "filename\tscene_label\tairport\tbus\tpark\n" +
                                   std::string("a.wav\tbus\t0.1\t0.8\t0.1\n"));
        CHECK_THAT(e, Catch::Contains("predictions.csv:1:1: missing column 'true_label'"));
    }
    SECTION("unknown class") {
        auto e = errorFor(dir, kHeader + good + "b.wav\tbus\t0.1\t0.8\t0.1\tbeach\tlyon\ta\n");
        // true_label starts at character 23 of line 3
        CHECK_THAT(e, Catch::Contains("predictions.csv:3:23: unknown class 'beach' in column true_label") &&
                          Catch::Contains("airport, bus, park"));
    }
    SECTION("unknown predicted class") {
        auto e = errorFor(dir, kHeader + std::string("a.wav\ttram\t0.1\t0.8\t0.1\tbus\tlyon\ta\n"));
        CHECK_THAT(e, Catch::Contains(":2:7: unknown class 'tram' in column scene_label"));
    }
    SECTION("probabilities not summing to 1") {
        auto e = errorFor(dir, kHeader + good + "c.wav\tbus\t0.1\t0.7\t0.1\tbus\tlyon\ta\n");
        CHECK_THAT(e, Catch::Contains("predictions.csv:3:1: the class probabilities sum to 0.9"));
    }
    SECTION("NaN") {
        auto e = errorFor(dir, kHeader + std::string("a.wav\tbus\tnan\t0.8\t0.1\tbus\tlyon\ta\n"));
        CHECK_THAT(e, Catch::Contains("predictions.csv:2:11: column 'airport': nan is not a probability"));
    }
    SECTION("not a number") {
        auto e = errorFor(dir, kHeader + std::string("a.wav\tbus\t0.1\t0.8x\t0.1\tbus\tlyon\ta\n"));
        CHECK_THAT(e, Catch::Contains(":2:15: column 'bus': '0.8x' is not a number"));
    }
    SECTION("negative probability") {
        auto e = errorFor(dir, kHeader + std::string("a.wav\tbus\t-0.1\t1.0\t0.1\tbus\tlyon\ta\n"));
        CHECK_THAT(e, Catch::Contains(":2:11: column 'airport': -0.1 is not a probability in [0, 1]"));
    }
    SECTION("a row with too few fields") {
        auto e = errorFor(dir, kHeader + good + "b.wav\tbus\t0.1\t0.8\n");
        CHECK_THAT(e, Catch::Contains(":3:1: expected 8 tab-separated fields as in the header, found 4"));
    }
    SECTION("comma-separated") {
        auto e = errorFor(dir, "filename,scene_label,a,b,true_label\nx,a,1,0,a\n");
        CHECK_THAT(e, Catch::Contains(":1:1: the header has no tab"));
    }
    SECTION("a file twice") {
        auto e = errorFor(dir, kHeader + good + good);
        CHECK_THAT(e, Catch::Contains(":3:1: 'a.wav' already appeared on line 2"));
    }
    SECTION("header only") { CHECK_THAT(errorFor(dir, kHeader), Catch::Contains(":1:1: no clips")); }
    SECTION("empty") { CHECK_THAT(errorFor(dir, ""), Catch::Contains(":1:1: the file is empty")); }
    SECTION("no class columns") {
        CHECK_THAT(errorFor(dir, "filename\tscene_label\ttrue_label\nx\ty\ty\n"),
                   Catch::Contains(":1:1: no class probability columns"));
    }
}
