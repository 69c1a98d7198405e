// avgraph eval: a classifier preset over ESC-10's fold 1, checked against numpy's recomputation of the
// metrics from the prediction CSV and against `avgraph run` of the same preset and weights.
#include "graph/graph.h"
#include "graph/preset.h"
#include "io/runtime.h"
#include "nodes/models/model_weights.h"
#include "tests/test_support.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <torch/torch.h>

#include <fstream>
#include <sstream>

using namespace avgraph;
using test::runAvgraph;
namespace fs = std::filesystem;
using avgraph::test::q;

namespace {
fs::path esc10() { return test::sharedDir() / "data/esc10"; }
fs::path smallPreset() { return test::sourceDir() / "tests/data/presets/eval-cnn9-small.json"; }

/** The CNN9 of the small preset with its random initialisation (output layer scaled), as a weights file. */
void writeRandomWeights(const fs::path& file) {
    torch::manual_seed(7);
    auto registry = host::makeRegistry({});
    Preset preset = Preset::load(smallPreset(), {});
    avgraph::Graph graph = avgraph::Graph::build(preset, *registry);
    Node& cnn9 = graph.node(graph.find("cnn9"));
    {
        // A sharper output layer, so that the clips are not all given the same class.
        torch::NoGradGuard no_grad;
        for (auto& p : cnn9.module()->named_parameters())
            if (p.key().rfind("fc.", 0) == 0)
                p.value().mul_(20.0);
    }
    nodes::saveNodeWeights(cnn9, file);
}

std::vector<std::vector<std::string>> readTsv(const fs::path& file) {
    std::ifstream in(file);
    std::vector<std::vector<std::string>> rows;
    std::string line;
    while (std::getline(in, line)) {
        std::vector<std::string> cells;
        std::stringstream ss(line);
        std::string cell;
        while (std::getline(ss, cell, '\t'))
            cells.push_back(cell);
        rows.push_back(cells);
    }
    return rows;
}

const char* kRecompute = R"PY(
import csv, json, sys
import numpy as np
rows = list(csv.DictReader(open(sys.argv[1]), delimiter='\t'))
classes = json.load(open(sys.argv[2]))['classes']
p = np.array([[float(r[c]) for c in classes] for r in rows])
y = np.array([classes.index(r['true_label']) for r in rows])
pred = p.argmax(axis=1)
eps = 1e-15
q = np.clip(p, eps, 1 - eps)
q = q / q.sum(axis=1, keepdims=True)
ll = -np.log(q[np.arange(len(y)), y])
present = [c for c in range(len(classes)) if (y == c).any()]
out = {
    'clips': len(rows),
    'correct': int((pred == y).sum()),
    'accuracy': float((pred == y).mean()),
    'class_average_accuracy': float(np.mean([(pred[y == c] == c).mean() for c in present])),
    'log_loss': float(ll.mean()),
    'class_average_log_loss': float(np.mean([ll[y == c].mean() for c in present])),
    'scene_label_is_argmax': all(r['scene_label'] == classes[k] for r, k in zip(rows, pred)),
}
for name, npy in zip(sys.argv[3::2], sys.argv[4::2]):
    row = next(r for r in rows if r['filename'] == name)
    out.setdefault('run_diff', []).append(
        float(np.abs(np.load(npy).astype(np.float64) - np.array([float(row[c]) for c in classes])).max()))
print(json.dumps(out))
)PY";
} // namespace

TEST_CASE(
    "avgraph eval on ESC-10 fold 1: metrics as numpy recomputes them, probabilities as avgraph run gives",
    "[host][cli][eval]") {
    test::ScratchDir dir;
    fs::path weights = dir / "weights.pt";
    writeRandomWeights(weights);
    fs::path out = dir / "eval";
    auto r = runAvgraph("eval " + q(smallPreset()) + " --data " + q(esc10()) + " --fold 1 --weights " +
                        q(weights) + " --out " + q(out) + " --threads 2 --batch 16");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("80 clips"));
    REQUIRE(fs::exists(out / "metrics.json"));
    REQUIRE(fs::exists(out / "report.md"));
    REQUIRE(fs::exists(out / "predictions.csv"));

    // Every fold-1 file of the folder, once.
    auto rows = readTsv(out / "predictions.csv");
    REQUIRE(rows.size() == 81);
    auto find = test::runShell("cd " + q(esc10()) + " && find . -name '1-*.ogg' | sed 's|^\\./||' | sort");
    std::vector<std::string> expected, listed;
    std::stringstream ss(find.output);
    for (std::string line; std::getline(ss, line);)
        expected.push_back(line);
    for (size_t i = 1; i < rows.size(); ++i)
        listed.push_back(rows[i][0]);
    std::sort(listed.begin(), listed.end());
    CHECK(listed == expected);

    // `avgraph run` of the same preset and weights on two clips.
    std::string args;
    for (size_t i : {size_t(1), rows.size() - 1}) {
        const std::string& file = rows[i][0];
        fs::path run_out = dir / ("run" + std::to_string(i));
        auto run = runAvgraph("run " + q(smallPreset()) + " --set " +
                              q("cnn9.weights=" + nlohmann::json(weights.string()).dump()) + " -i " +
                              q(esc10() / file) + " -o " + q(run_out) + " --threads 2");
        INFO(run.output);
        REQUIRE(run.exit_code == 0);
        args += " " + q(file) + " " + q(run_out / "probabilities.npy");
    }

    fs::path script = dir / "recompute.py";
    std::ofstream(script) << kRecompute;
    auto py = test::runShell("/usr/bin/python3 " + q(script) + " " + q(out / "predictions.csv") + " " +
                             q(out / "metrics.json") + args);
    INFO(py.output);
    REQUIRE(py.exit_code == 0);
    auto ref = nlohmann::json::parse(py.output);
    nlohmann::json m;
    std::ifstream(out / "metrics.json") >> m;
    const auto& o = m["overall"];
    CHECK(o["clips"] == 80);
    CHECK(o["clips"] == ref["clips"]);
    CHECK(o["correct"] == ref["correct"]);
    CHECK(o["accuracy"]["overall"].get<double>() == Approx(ref["accuracy"].get<double>()).epsilon(1e-12));
    CHECK(o["accuracy"]["class_average"].get<double>() ==
          Approx(ref["class_average_accuracy"].get<double>()).epsilon(1e-12));
    CHECK(o["log_loss"]["overall"].get<double>() == Approx(ref["log_loss"].get<double>()).epsilon(1e-9));
    CHECK(o["log_loss"]["class_average"].get<double>() ==
          Approx(ref["class_average_log_loss"].get<double>()).epsilon(1e-9));
    CHECK(ref["scene_label_is_argmax"] == true);
    REQUIRE(ref["run_diff"].size() == 2);
    for (const auto& d : ref["run_diff"])
        CHECK(d.get<double>() < 1e-6);
    CHECK(m["classes"].size() == 10);
}

TEST_CASE("avgraph eval refuses a class count that is not the dataset's, a preset without a "
          "probabilities output, and logits",
          "[host][cli][eval]") {
    test::ScratchDir dir;
    auto r = runAvgraph("eval " + q(smallPreset()) + " --data " + q(esc10()) +
                        " --fold 1 --set cnn9.n_classes=5 --out " + q(dir / "a") + " --threads 2");
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("the model gives 5 classes (output \"probabilities\" [") &&
                             Catch::Contains("the dataset has 10"));
    CHECK_FALSE(fs::exists(dir / "a" / "metrics.json"));

    fs::path two = dir / "two-outputs.json";
    std::ofstream(two)
        << nlohmann::json{{"avgraph", 1},
                          {"extends", smallPreset().string()},
                          {"outputs",
                           {{"probabilities", nullptr}, {"logits", "cnn9"}, {"scores", "softmax"}}}}
               .dump();
    auto r2 = runAvgraph("eval " + q(two) + " --data " + q(esc10()) + " --fold 1 --out " + q(dir / "b"));
    INFO(r2.output);
    CHECK(r2.exit_code == 1);
    CHECK_THAT(r2.output, Catch::Contains("output named \"probabilities\"") && Catch::Contains("logits") &&
                              Catch::Contains("scores"));

    fs::path logits = dir / "logits.json";
    std::ofstream(logits) << nlohmann::json{{"avgraph", 1},
                                            {"extends", smallPreset().string()},
                                            {"outputs", {{"probabilities", nullptr}, {"logits", "cnn9"}}}}
                                 .dump();
    auto r3 = runAvgraph("eval " + q(logits) + " --data " + q(esc10()) + " --fold 1 --out " + q(dir / "c"));
    INFO(r3.output);
    CHECK(r3.exit_code == 1);
    CHECK_THAT(r3.output, Catch::Contains("output \"logits\" does not hold class probabilities"));
}
