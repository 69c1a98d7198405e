// avgraph ablate on real ESC-10 clips: two tiny rows over two folds, the tables checked against the
// folds' own metrics.json, a second run that retrains nothing, an interrupted fold that resumes, a failed
// row, the errors a user meets; and the IVF Table 1 feature rows (presets/ablation/) validate.
#include "tests/host/host_test_support.h"
#include "tests/host/training/esc10_lists.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <iomanip>
#include <optional>
#include <sstream>

using namespace avgraph;
using test::runAvgraph;
namespace fs = std::filesystem;
using avgraph::test::q;

namespace {
fs::path row(const std::string& name) { return test::sourceDir() / "tests/data/presets/ablation" / name; }

/** Mean and sample standard deviation, computed here rather than taken from the command. */
std::pair<double, double> meanSd(const std::vector<double>& x) {
    double m = 0.0;
    for (double v : x)
        m += v;
    m /= static_cast<double>(x.size());
    double ss = 0.0;
    for (double v : x)
        ss += (v - m) * (v - m);
    return {m, std::sqrt(ss / static_cast<double>(x.size() - 1))};
}

std::string fixed(double x, int digits) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(digits) << x;
    return s.str();
}

/** The "seconds" of every epoch of a log.jsonl. */
double epochSecondsIn(const fs::path& log) {
    double s = 0.0;
    std::ifstream in(log);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty())
            s += nlohmann::json::parse(line).value("seconds", 0.0);
    return s;
}

/** The CSV's lines split into fields (no quoted commas in these tests' names). */
std::vector<std::vector<std::string>> readCsv(const fs::path& file) {
    std::vector<std::vector<std::string>> rows;
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
        std::vector<std::string> fields;
        std::stringstream s(line);
        std::string f;
        while (std::getline(s, f, ','))
            fields.push_back(f);
        if (!line.empty() && line.back() == ',')
            fields.emplace_back();
        rows.push_back(fields);
    }
    return rows;
}
} // namespace

TEST_CASE("avgraph ablate trains every row on the same folds, tabulates them and resumes",
          "[cli][training]") {
    test::ScratchDir dir;
    const fs::path list = test::writeTwoClassList(dir.path());
    const fs::path out = dir / "ablation";
    const std::string rows = q(row("1-logmel-tiny.json")) + " " + q(row("2-mfcc-tiny.json"));
    const std::string common = "ablate " + rows + " --data " + q(list) +
                               " --folds 1,2 --epochs 2 --threads 2 " + "--no-plots --out " + q(out);
    auto r = runAvgraph(common);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    // Each child's output comes prefixed with its row and fold, and the child got the options passed through.
    CHECK_THAT(r.output, Catch::Contains("[logmel-tiny fold 1] trained 2 epochs") &&
                             Catch::Contains("[mfcc-tiny fold 2] trained 2 epochs") &&
                             Catch::Contains("--fold 2 --out " + (out / "mfcc-tiny/fold2").string()));

    const std::vector<std::string> names = {"logmel-tiny", "mfcc-tiny"};
    const auto summary = test::readJson(out / "ablation.json");
    CHECK(summary["folds"] == nlohmann::json({1, 2}));
    CHECK(summary["cities"] == false); // ESC-10 clips have no city
    REQUIRE(summary["rows"].size() == 2);
    const auto csv = readCsv(out / "ablation.csv");
    REQUIRE(csv.size() == 1 + 2 * (2 + 2)); // header; per row two folds, mean and sd
    const std::string md = test::readBytes(out / "ablation.md");
    CHECK_THAT(md, !Catch::Contains("seen"));

    for (size_t i = 0; i < names.size(); ++i) {
        INFO("row " << names[i]);
        const auto& rj = summary["rows"][i];
        CHECK(rj["row"] == names[i]);
        CHECK(rj["seed"] == 3); // the preset's own /train/seed: no --seed given
        std::vector<double> acc, class_acc, loss;
        double seconds = 0.0;
        for (int k = 0; k < 2; ++k) {
            const int fold = k + 1;
            const fs::path fold_dir = out / names[i] / ("fold" + std::to_string(fold));
            const auto metrics = test::readJson(fold_dir / "eval/metrics.json");
            CHECK(metrics["overall"]["clips"] == 16); // fold K's 8 dog barks and 8 rain clips
            acc.push_back(metrics["overall"]["accuracy"]["overall"]);
            class_acc.push_back(metrics["overall"]["accuracy"]["class_average"]);
            loss.push_back(metrics["overall"]["log_loss"]["overall"]);
            seconds += epochSecondsIn(fold_dir / "log.jsonl");
            const auto& fj = rj["folds"][k];
            CHECK(fj["fold"] == fold);
            CHECK(fj["status"] == "done");
            CHECK(fj["epochs"] == 2);
            CHECK(double(fj["accuracy"]) == acc.back());
            CHECK(double(fj["log_loss"]) == loss.back());
            const auto& line = csv[1 + 4 * i + k];
            REQUIRE(line.size() == 13);
            CHECK(line[0] == names[i]);
            CHECK(line[2] == std::to_string(fold));
            CHECK(std::stod(line[5]) == Approx(acc.back()).epsilon(1e-10));
            CHECK(std::stod(line[7]) == Approx(loss.back()).epsilon(1e-10));
        }
        auto [acc_mean, acc_sd] = meanSd(acc);
        auto [class_mean, class_sd] = meanSd(class_acc);
        auto [loss_mean, loss_sd] = meanSd(loss);
        const auto& s = rj["summary"];
        CHECK(s["folds_done"] == 2);
        CHECK(double(s["accuracy"]["mean"]) == Approx(acc_mean).epsilon(1e-12));
        CHECK(double(s["accuracy"]["sd"]) == Approx(acc_sd).margin(1e-12));
        CHECK(double(s["log_loss"]["mean"]) == Approx(loss_mean).epsilon(1e-12));
        CHECK(double(s["log_loss"]["sd"]) == Approx(loss_sd).margin(1e-12));
        CHECK(double(s["training_seconds"]) == Approx(seconds).epsilon(1e-9));
        const auto& mean_line = csv[1 + 4 * i + 2];
        const auto& sd_line = csv[1 + 4 * i + 3];
        CHECK(mean_line[2] == "mean");
        CHECK(sd_line[2] == "sd");
        CHECK(std::stod(mean_line[5]) == Approx(acc_mean).epsilon(1e-10));
        CHECK(std::stod(sd_line[7]) == Approx(loss_sd).margin(1e-10));
        // The Markdown row, formatted here from the folds' own metrics.
        const std::string expected =
            "| " + names[i] + " | " + row(i == 0 ? "1-logmel-tiny.json" : "2-mfcc-tiny.json").string() +
            " | 2/2 | " + fixed(100 * acc_mean, 2) + " ± " + fixed(100 * acc_sd, 2) + " % | " +
            fixed(100 * class_mean, 2) + " ± " + fixed(100 * class_sd, 2) + " % | " + fixed(loss_mean, 3) +
            " ± " + fixed(loss_sd, 3) + " | " + fixed(seconds, 0) + " s |";
        CHECK_THAT(md, Catch::Contains(expected));
        CHECK_THAT(r.output, Catch::Contains(expected)); // printed too
    }

    // A second run retrains nothing: the logs stay as they were, and the tables come out the same.
    const fs::path log = out / "mfcc-tiny/fold1/log.jsonl";
    const auto log_time = fs::last_write_time(log);
    const std::string log_text = test::readBytes(log);
    const std::string json_text = test::readBytes(out / "ablation.json");
    auto again = runAvgraph(common);
    INFO(again.output);
    REQUIRE(again.exit_code == 0);
    CHECK_THAT(again.output,
               Catch::Contains("[mfcc-tiny fold 1] done before") && !Catch::Contains("trained 2 epochs"));
    CHECK(fs::last_write_time(log) == log_time);
    CHECK(test::readBytes(log) == log_text);
    CHECK(test::readBytes(out / "ablation.json") == json_text);

    // A fold interrupted after its training (no evaluation yet) goes on with --resume from its checkpoint:
    // the same weights, so the same scores.
    const fs::path fold2 = out / "logmel-tiny/fold2";
    const auto before = test::readJson(fold2 / "eval/metrics.json");
    fs::remove_all(fold2 / "eval");
    REQUIRE(fs::exists(fold2 / "checkpoint.pt"));
    auto resumed = runAvgraph(common);
    INFO(resumed.output);
    REQUIRE(resumed.exit_code == 0);
    CHECK_THAT(resumed.output,
               Catch::Contains("--resume") && Catch::Contains("[logmel-tiny fold 2] resuming"));
    CHECK_THAT(resumed.output, Catch::Contains("[logmel-tiny fold 1] done before"));
    const auto after = test::readJson(fold2 / "eval/metrics.json");
    CHECK(after["overall"]["accuracy"] == before["overall"]["accuracy"]);
    CHECK(double(after["overall"]["log_loss"]["overall"]) ==
          Approx(double(before["overall"]["log_loss"]["overall"])).epsilon(1e-6));

    // A row that fails in training, with --keep-going: both folds tried, the table still written, exit 1.
    auto failing = runAvgraph("ablate " + q(row("1-logmel-tiny.json")) + " " +
                              q(row("three-classes-tiny.json")) + " --data " + q(list) +
                              " --folds 1,2 --epochs 2 --threads 2 --no-plots --keep-going "
                              "--out " +
                              q(out));
    INFO(failing.output);
    CHECK(failing.exit_code == 1);
    CHECK_THAT(failing.output, Catch::Contains("[three-classes-tiny fold 1] failed: exit status 1") &&
                                   Catch::Contains("[three-classes-tiny fold 2] failed: exit status 1") &&
                                   Catch::Contains("gives 3 classes") &&
                                   Catch::Contains("2 row/fold runs failed"));
    const auto partial = test::readJson(out / "ablation.json");
    REQUIRE(partial["rows"].size() == 2);
    CHECK(partial["rows"][0]["summary"]["folds_done"] == 2);
    CHECK(partial["rows"][1]["summary"]["folds_done"] == 0);
    CHECK(partial["rows"][1]["folds"][0]["status"] == "failed");
    CHECK_THAT(test::readBytes(out / "ablation.md"),
               Catch::Contains("| three-classes-tiny | ") && Catch::Contains(" | 0/2 | – |"));

    // The same folder with another recipe: refused, so that one table never mixes two.
    auto other = runAvgraph("ablate " + q(row("1-logmel-tiny.json")) + " --data " + q(list) +
                            " --folds 1,2 --epochs 3 --out " + q(out));
    INFO(other.output);
    CHECK(other.exit_code == 1);
    CHECK_THAT(other.output,
               Catch::Contains("row.json") && Catch::Contains("was trained here with other settings"));
}

TEST_CASE("avgraph ablate: the errors a user meets", "[cli][training]") {
    test::ScratchDir dir;
    const fs::path list = test::writeTwoClassList(dir.path());
    const fs::path out = dir / "ablation";
    const std::string tail = " --data " + q(list) + " --epochs 1 --threads 2 --no-plots --out " + q(out);

    SECTION("a preset that does not exist") {
        auto r =
            runAvgraph("ablate " + q(row("1-logmel-tiny.json")) + " " + q(dir / "no-such-row.json") + tail);
        INFO(r.output);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.output, Catch::Contains("no-such-row.json"));
        CHECK(!fs::exists(out / "logmel-tiny")); // nothing trained
    }
    SECTION("a fold the dataset does not have") {
        auto r = runAvgraph("ablate " + q(row("1-logmel-tiny.json")) + " --folds 1,9" + tail);
        INFO(r.output);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.output, Catch::Contains("no fold 9") && Catch::Contains("folds: 1, 2, 3, 4, 5"));
        CHECK(!fs::exists(out / "logmel-tiny"));
    }
    SECTION("folds that are not numbers") {
        auto r = runAvgraph("ablate " + q(row("1-logmel-tiny.json")) + " --folds 1,two" + tail);
        INFO(r.output);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.output, Catch::Contains("--folds takes fold numbers"));
    }
    SECTION("a preset without a train section") {
        const fs::path untrained = test::sourceDir() / "tests/data/presets/eval-cnn9-small.json";
        auto r = runAvgraph("ablate " + q(row("1-logmel-tiny.json")) + " " + q(untrained) + tail);
        INFO(r.output);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.output, Catch::Contains("eval-cnn9-small.json") && Catch::Contains("/train") &&
                                 Catch::Contains("needs a train section"));
        CHECK(!fs::exists(out / "logmel-tiny"));
    }
    SECTION("two rows with one name") {
        auto r =
            runAvgraph("ablate " + q(row("1-logmel-tiny.json")) + " " + q(row("1-logmel-tiny.json")) + tail);
        INFO(r.output);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.output, Catch::Contains("two rows are named \"logmel-tiny\""));
    }
    SECTION("a row that does not validate stops everything before training") {
        auto r = runAvgraph("ablate " + q(row("1-logmel-tiny.json")) + " " + q(row("2-mfcc-tiny.json")) +
                            " --set cnn9.dropout=2" + tail);
        INFO(r.output);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.output, Catch::Contains("--set cnn9.dropout=2") &&
                                 Catch::Contains("row 'logmel-tiny' does not validate") &&
                                 Catch::Contains("nothing was trained"));
        CHECK(!fs::exists(out / "logmel-tiny/fold1"));
    }
    SECTION("a failed training stops the ablation without --keep-going") {
        auto r = runAvgraph("ablate " + q(row("three-classes-tiny.json")) + " " +
                            q(row("1-logmel-tiny.json")) + " --folds 1" + tail);
        INFO(r.output);
        CHECK(r.exit_code == 1);
        CHECK_THAT(
            r.output,
            Catch::Contains("row 'three-classes-tiny' fold 1: `avgraph train` failed (exit status 1") &&
                Catch::Contains("[three-classes-tiny fold 1] ") && Catch::Contains("gives 3 classes"));
        CHECK(!fs::exists(out / "logmel-tiny/fold1")); // the next row never started
        CHECK(!fs::exists(out / "ablation.md"));
    }
}

TEST_CASE("avgraph ablate reads finished folds back, with seen / unseen cities when the clips have them",
          "[cli][training]") {
    // Two folds "done before" (as an interrupted ablation leaves them), their metrics.json written here by
    // hand as evaluation writes it for TAU clips: no training runs, and the table is known in advance.
    test::ScratchDir dir;
    const fs::path list = test::writeTwoClassList(dir.path());
    const fs::path out = dir / "ablation";
    auto summary = [](double acc, double class_acc, double loss) {
        return nlohmann::json{{"clips", 16},
                              {"accuracy", {{"overall", acc}, {"class_average", class_acc}}},
                              {"log_loss", {{"overall", loss}, {"class_average", loss}}}};
    };
    auto metrics = [&](double acc, double class_acc, double loss, double seen, std::optional<double> unseen) {
        return nlohmann::json{
            {"overall", summary(acc, class_acc, loss)},
            {"by_city",
             {{"seen", summary(seen, seen, loss)},
              {"unseen", unseen ? summary(*unseen, *unseen, loss) : nlohmann::json(nullptr)}}},
            {"by_device", nullptr}};
    };
    const fs::path fold1 = out / "logmel-tiny/fold1", fold2 = out / "logmel-tiny/fold2";
    fs::create_directories(fold1 / "eval");
    fs::create_directories(fold2 / "eval");
    fs::create_directories(fold1 / "stage1-vqvae");
    std::ofstream(fold1 / "eval/metrics.json") << metrics(0.75, 0.70, 0.5, 0.8, 0.6);
    std::ofstream(fold2 / "eval/metrics.json") << metrics(0.85, 0.80, 0.4, 0.9, std::nullopt);
    std::ofstream(fold1 / "log.jsonl")
        << "{\"epoch\": 1, \"seconds\": 10}\n{\"epoch\": 2, \"seconds\": 20}\n";
    std::ofstream(fold2 / "log.jsonl") << "{\"epoch\": 1, \"seconds\": 5}\n";
    std::ofstream(fold1 / "stage1-vqvae/log.jsonl") << "{\"epoch\": 1, \"seconds\": 100}\n";

    auto r = runAvgraph("ablate " + q(row("1-logmel-tiny.json")) + " --data " + q(list) +
                        " --folds 1,2 --out " + q(out));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, !Catch::Contains("avgraph train"));
    const std::string md = test::readBytes(out / "ablation.md");
    CHECK_THAT(md,
               Catch::Contains("| row | preset | folds | accuracy | class-average accuracy | log loss | seen "
                               "cities | unseen cities | training time |"));
    // By hand: accuracy (0.75, 0.85): 80 % ± 7.07; class average (0.70, 0.80): 75 % ± 7.07; log loss
    // (0.5, 0.4): 0.450 ± 0.071; seen (0.8, 0.9): 85 % ± 7.07; unseen only fold 1: 60 %; time 10 + 20 + 100
    // + 5.
    CHECK_THAT(md,
               Catch::Contains("| logmel-tiny | " + row("1-logmel-tiny.json").string() +
                               " | 2/2 | 80.00 ± 7.07 % | 75.00 ± 7.07 % | 0.450 ± 0.071 | 85.00 ± 7.07 % | "
                               "60.00 % | 135 s |"));
    const auto json = test::readJson(out / "ablation.json");
    CHECK(json["cities"] == true);
    const auto& s = json["rows"][0]["summary"];
    CHECK(double(s["unseen_accuracy"]["mean"]) == Approx(0.6));
    CHECK(s["unseen_accuracy"]["folds"] == 1);
    CHECK(s["unseen_accuracy"]["sd"].is_null());
    CHECK(double(s["seen_accuracy"]["sd"]) == Approx(std::sqrt(0.005)));
    CHECK(json["rows"][0]["folds"][0]["epochs"] == 2);
    CHECK(json["rows"][0]["folds"][1]["unseen_accuracy"].is_null());
    const auto csv = readCsv(out / "ablation.csv");
    REQUIRE(csv.size() == 5);
    CHECK(csv[1][9] == "0.8");
    CHECK(csv[1][10] == "0.6");
    CHECK(csv[2][10] == "");
}

TEST_CASE("the IVF Table 1 feature rows 1-6 validate and feed CNN9 64 rows of 5 s", "[cli][presets]") {
    // Rows 7-9 extend presets/ivf/, which comes with the IVF nodes; they are checked by "every shipped
    // preset validates" once it is there.
    test::ScratchDir out;
    const fs::path dir = test::sourceDir() / "presets/ablation";
    struct Expected {
        std::string file, feature_node;
        int channels, frames;
    };
    // A 5-s ESC-10 clip at 16 kHz is 80000 samples: centred frames (log-mel, MFCC, CQT) 1 + 80000 / 256 =
    // 313; the gammatonegram's unpadded frames 1 + (80000 - 1024) / 256 = 309.
    const std::vector<Expected> rows = {{"1-cqt.json", "db", 1, 313},
                                        {"2-gammatone.json", "db", 1, 309},
                                        {"3-mfcc.json", "mfcc", 1, 313},
                                        {"4-logmel.json", "logmel", 1, 313},
                                        {"5-logmel-delta.json", "stack", 2, 313},
                                        {"6-logmel-delta-delta.json", "stack", 3, 313}};
    for (const auto& e : rows) {
        INFO(e.file);
        auto v = runAvgraph("validate " + q(dir / e.file));
        INFO(v.output);
        CHECK(v.exit_code == 0);
        CHECK_THAT(v.output, Catch::Contains(": ok ("));
        const auto doc = test::readJson(dir / e.file);
        CHECK_THAT(doc["description"].get<std::string>(),
                   Catch::Contains("Table 1, row " + e.file.substr(0, 1)));

        // The row with its feature exposed, run on a real clip: CNN9 takes what the row stacks (its
        // in_channels would not fit otherwise), and the feature has 64 rows.
        const fs::path probe = out / ("probe-" + e.file);
        std::ofstream(probe) << nlohmann::json{{"avgraph", 1},
                                               {"extends", (dir / e.file).string()},
                                               {"outputs",
                                                {{"probabilities", "softmax"}, {"features", e.feature_node}}}}
                                    .dump();
        const fs::path result = out / e.file;
        auto r =
            runAvgraph("run " + q(probe) + " --input " + q(test::esc10Clip()) + " --output " + q(result));
        INFO(r.output);
        REQUIRE(r.exit_code == 0);
        auto shape =
            test::runShell("/usr/bin/python3 -c " +
                           test::shellQuote("import sys, numpy as np; f = np.load(sys.argv[1]); "
                                            "p = np.load(sys.argv[2]); print(int(np.prod(f.shape[:-2])), "
                                            "f.shape[-2], f.shape[-1], p.size, round(float(p.sum()), 5))") +
                           " " + q(result / "features.npy") + " " + q(result / "probabilities.npy"));
        INFO(shape.output);
        REQUIRE(shape.exit_code == 0);
        CHECK(shape.output == std::to_string(e.channels) + " 64 " + std::to_string(e.frames) + " 10 1.0\n");
    }
}
