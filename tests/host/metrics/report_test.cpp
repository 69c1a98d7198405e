// The report folder: metrics.json, report.md and the plots gnuplot draws, in-process and through
// `avgraph report`.
#include "graph/error.h"
#include "host/metrics/report.h"
#include "tests/test_support.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>

using namespace avgraph;
using namespace avgraph::metrics;
using test::runAvgraph;
namespace fs = std::filesystem;
using avgraph::test::q;

namespace {

/** An SVG gnuplot wrote: the XML declaration, an <svg> root, and well-formed XML as Python's parser reads it.
 */
void checkSvg(const fs::path& path) {
    INFO(path);
    REQUIRE(fs::exists(path));
    std::string text = test::readBytes(path);
    CHECK(text.rfind("<?xml", 0) == 0);
    CHECK_THAT(text, Catch::Contains("<svg") && Catch::Contains("</svg>") && Catch::Contains("gnuplot"));
    auto r = test::runShell("/usr/bin/python3 -c " +
                            test::shellQuote("import sys, xml.etree.ElementTree as E; "
                                             "print(E.parse(sys.argv[1]).getroot().tag)") +
                            " " + q(path));
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("svg"));
}

/** A PNG: the 8-byte signature, then an IHDR chunk with a non-empty size. */
void checkPng(const fs::path& path) {
    INFO(path);
    REQUIRE(fs::exists(path));
    std::string bytes = test::readBytes(path);
    REQUIRE(bytes.size() > 24);
    CHECK(bytes.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
    CHECK(bytes.substr(12, 4) == "IHDR");
    auto be32 = [&](size_t at) {
        return (static_cast<uint32_t>(static_cast<unsigned char>(bytes[at])) << 24) |
               (static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + 1])) << 16) |
               (static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + 2])) << 8) |
               static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + 3]));
    };
    CHECK(be32(16) >= 400); // width
    CHECK(be32(20) >= 300); // height
}

Predictions scenePredictions() {
    Predictions p;
    p.classes = {"airport", "bus", "metro_station", "park"};
    const char* cities[] = {"lisbon", "lyon", "prague"};
    const char* devices[] = {"a", "b", "s4"};
    for (int i = 0; i < 24; ++i) {
        int label = i % 4;
        std::vector<double> prob(4, 0.1);
        prob[(i % 5 == 0) ? (label + 1) % 4 : label] = 0.7;
        p.add("audio/" + p.classes[label] + "-" + std::to_string(i) + ".wav", label, prob, cities[i % 3],
              devices[(i / 3) % 3]);
    }
    p.train_cities = {"lisbon", "lyon"};
    return p;
}

void writeLog(const fs::path& path) {
    std::ofstream out(path);
    out << "{\"epoch\": 1, \"train_loss\": 1.9, \"train_accuracy\": 0.30, \"val_loss\": 1.8, "
           "\"val_accuracy\": 0.35, "
           "\"lr\": 0.001}\n"
        << "{\"epoch\": 2, \"train_loss\": 1.2, \"train_accuracy\": 0.55, \"val_loss\": 1.3, "
           "\"val_accuracy\": 0.5}\n"
        << "\n"
        << "{\"epoch\": 3, \"train_loss\": 0.8, \"train_accuracy\": 0.71, \"val_loss\": null, "
           "\"val_accuracy\": null}\n";
}

} // namespace

TEST_CASE("writeReport writes metrics.json, report.md, predictions.csv and gnuplot's SVG plots",
          "[host][metrics][gnuplot]") {
    REQUIRE(gnuplotAvailable()); // scripts/setup installs gnuplot-nox
    test::ScratchDir dir;
    writeLog(dir / "log.jsonl");
    ReportOptions options;
    options.training_log = dir / "log.jsonl";
    options.source = "unit test";
    fs::path out = dir / "eval";
    Predictions p = scenePredictions();
    auto result = writeReport(out, p, options);

    for (const char* plot : {"confusion_matrix", "class_accuracy", "learning_curves"}) {
        checkSvg(out / "plots" / (std::string(plot) + ".svg"));
        CHECK(fs::exists(out / "plots" / (std::string(plot) + ".gp")));
    }
    CHECK_THAT(test::readBytes(out / "plots/class_accuracy.svg"), Catch::Contains("metro_station"));

    const Summary& o = result.metrics.overall;
    // 24 clips, the 5 with i % 5 == 0 predicted as the next class: accuracy 19/24.
    CHECK(o.correct == 19);
    auto j = nlohmann::json::parse(test::readBytes(out / "metrics.json"));
    CHECK(j["overall"]["accuracy"]["overall"].get<double>() == Approx(19.0 / 24.0));
    CHECK(j["overall"]["log_loss"]["class_average"].get<double>() == Approx(o.class_average_log_loss));
    CHECK(j["by_city"]["groups"]["prague"]["seen_in_training"] == false);
    CHECK(j["by_city"]["unseen"]["clips"] == 8);
    CHECK(j["by_device"]["seen_in_training"].is_null());
    CHECK(j["source"] == "unit test");

    std::string md = test::readBytes(out / "report.md");
    char acc[32];
    std::snprintf(acc, sizeof acc, "%.4f", o.class_average_accuracy);
    CHECK_THAT(md, Catch::Contains("| accuracy, class average (DCASE) | " + std::string(acc) + " |"));
    CHECK_THAT(md, Catch::Contains("| accuracy, overall | 0.7917 (19 / 24) |"));
    CHECK_THAT(md, Catch::Contains("| metro_station | 6 |"));
    CHECK_THAT(md, Catch::Contains("## By city") && Catch::Contains("| **all unseen** | no | 8 |") &&
                       Catch::Contains("| prague | no | 8 |") && Catch::Contains("## By device"));
    CHECK_THAT(md, Catch::Contains("![Confusion matrix](plots/confusion_matrix.svg)") &&
                       Catch::Contains("![Learning curves](plots/learning_curves.svg)") &&
                       Catch::Contains("3 epochs"));
    CHECK(readPredictionsCsv(out / "predictions.csv").clips.size() == 24);

    SECTION("a second report replaces avgraph's own files") { CHECK_NOTHROW(writeReport(out, p, options)); }
    SECTION("a user's own file is never overwritten") {
        test::ScratchDir mine;
        std::ofstream(mine / "report.md") << "my notes";
        CHECK_THROWS_WITH(writeReport(mine.path(), p, options),
                          Catch::Contains("was not written by avgraph"));
        CHECK(test::readBytes(mine / "report.md") == "my notes");
        CHECK_FALSE(fs::exists(mine / "metrics.json"));
    }
    SECTION("a broken training log fails before anything is written") {
        std::ofstream(dir / "bad.jsonl") << "{\"epoch\": 1, \"train_loss\": 1.0}\n{\"epoch\": 1}\n";
        options.training_log = dir / "bad.jsonl";
        fs::path other = dir / "other";
        CHECK_THROWS_WITH(writeReport(other, p, options),
                          Catch::Contains("bad.jsonl:2:1: /epoch: epoch 1 does not follow epoch 1"));
        CHECK_FALSE(fs::exists(other / "metrics.json"));
    }
}

TEST_CASE("plots as PNG", "[host][metrics][gnuplot]") {
    REQUIRE(gnuplotAvailable());
    test::ScratchDir dir;
    writeLog(dir / "log.jsonl");
    ReportOptions options;
    options.plot_format = PlotFormat::png;
    options.training_log = dir / "log.jsonl";
    options.write_predictions = false;
    writeReport(dir / "eval", scenePredictions(), options);
    for (const char* plot : {"confusion_matrix", "class_accuracy", "learning_curves"})
        checkPng(dir / "eval" / "plots" / (std::string(plot) + ".png"));
    CHECK_FALSE(fs::exists(dir / "eval" / "predictions.csv"));
}

TEST_CASE("learning curves of a log with the loss only: the accuracy panel says so",
          "[host][metrics][gnuplot]") {
    REQUIRE(gnuplotAvailable());
    test::ScratchDir dir;
    std::ofstream(dir / "log.jsonl")
        << "{\"epoch\": 1, \"train_loss\": 2.0}\n{\"epoch\": 2, \"train_loss\": 1.5}\n";
    auto svg = plotLearningCurves(dir.path(), readTrainingLog(dir / "log.jsonl"), PlotFormat::svg);
    checkSvg(svg);
    CHECK_THAT(test::readBytes(svg), Catch::Contains("not recorded"));

    std::ofstream(dir / "empty.jsonl") << "{\"epoch\": 1, \"lr\": 0.1}\n";
    CHECK_THROWS_WITH(plotLearningCurves(dir.path(), readTrainingLog(dir / "empty.jsonl"), PlotFormat::svg),
                      Catch::Contains("no loss or accuracy"));
}

TEST_CASE("training logs: the schema is checked line by line", "[host][metrics]") {
    test::ScratchDir dir;
    auto errorFor = [&](const std::string& text) -> std::string {
        std::ofstream(dir / "log.jsonl") << text;
        try {
            readTrainingLog(dir / "log.jsonl");
        } catch (const Error& e) {
            return e.what();
        }
        return "no error";
    };
    writeLog(dir / "good.jsonl");
    auto epochs = readTrainingLog(dir / "good.jsonl");
    REQUIRE(epochs.size() == 3);
    CHECK(epochs[2].train_accuracy == 0.71);
    CHECK_FALSE(epochs[2].val_loss);
    CHECK_THAT(errorFor("{\"epoch\": 1}\n{oops\n"), Catch::Contains("log.jsonl:2:1: not a JSON object"));
    CHECK_THAT(errorFor("{\"train_loss\": 1}\n"),
               Catch::Contains("log.jsonl:1:1: /epoch: expected \"epoch\""));
    CHECK_THAT(errorFor("{\"epoch\": 1, \"val_accuracy\": 75}\n"),
               Catch::Contains("/val_accuracy: \"val_accuracy\" is an accuracy in [0, 1]"));
    CHECK_THAT(errorFor("{\"epoch\": 1, \"train_loss\": \"high\"}\n"),
               Catch::Contains("/train_loss: expected a finite number or null"));
    CHECK_THAT(errorFor("\n"), Catch::Contains("no epochs"));
}

TEST_CASE("avgraph report builds the folder from a prediction CSV", "[host][metrics][cli]") {
    test::ScratchDir dir;
    writePredictionsCsv(dir / "predictions.csv", scenePredictions());
    writeLog(dir / "log.jsonl");
    auto r = runAvgraph("report --predictions " + q(dir / "predictions.csv") + " --out " + q(dir / "report") +
                        " --log " + q(dir / "log.jsonl") + " --train-cities lisbon,lyon");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output,
               Catch::Contains("accuracy ") && Catch::Contains("24 clips") && Catch::Contains("report.md"));
    checkSvg(dir / "report/plots/learning_curves.svg");
    auto j = nlohmann::json::parse(test::readBytes(dir / "report/metrics.json"));
    CHECK(j["overall"]["correct"] == 19);
    CHECK(j["by_city"]["seen"]["clips"] == 16);
    CHECK_FALSE(fs::exists(dir / "report/predictions.csv"));

    SECTION("--no-plots") {
        auto r2 = runAvgraph("report --predictions " + q(dir / "predictions.csv") + " --out " +
                             q(dir / "bare") + " --no-plots");
        INFO(r2.output);
        CHECK(r2.exit_code == 0);
        CHECK(fs::exists(dir / "bare/report.md"));
        CHECK_FALSE(fs::exists(dir / "bare/plots"));
    }
    SECTION("a broken CSV: exit status 1 and the file and line named") {
        std::ofstream(dir / "bad.csv")
            << "filename\tscene_label\tbus\tpark\ttrue_label\nx.wav\tbus\t0.5\tnan\tbus\n";
        auto r3 = runAvgraph("report --predictions " + q(dir / "bad.csv") + " --out " + q(dir / "r3"));
        CHECK(r3.exit_code == 1);
        CHECK_THAT(r3.output, Catch::Contains("bad.csv:2:15: column 'park': nan is not a probability"));
        CHECK_FALSE(fs::exists(dir / "r3"));
    }
    SECTION("an unknown plot format is a usage error") {
        auto r4 = runAvgraph("report --predictions " + q(dir / "predictions.csv") + " --out " +
                             q(dir / "r4") + " --plot-format gif");
        CHECK(r4.exit_code == 2);
    }
}
