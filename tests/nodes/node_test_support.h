#pragma once
// Building nodes the way a host does (registry -> validated parameters -> check -> make), reading the
// goldens of ../shared/golden, and comparing against them with the README's elementwise tolerance.
#include "graph/node.h"
#include "graph/registry.h"
#include "io/audio_file.h"
#include "io/npy.h"
#include "nodes/features/features.h"
#include "nodes/fusion/fusion_nodes.h"
#include "nodes/image/image_nodes.h"
#include "nodes/models/model_nodes.h"
#include "nodes/signal/signal_nodes.h"
#include "nodes/tensor/tensor_nodes.h"

#include "tests/test_support.h"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace avgraph::test {

/** The feature, signal, tensor, model, image and fusion node types; it outlives every node, which points into
 * its specs. */
inline const Registry& nodeRegistry() {
    static const std::unique_ptr<Registry> registry = [] {
        auto r = std::make_unique<Registry>();
        nodes::registerFeatureNodes(*r);
        nodes::registerTensorNodes(*r);
        nodes::registerSignalNodes(*r);
        nodes::registerModelNodes(*r);
        nodes::registerImageNodes(*r);
        nodes::registerFusionNodes(*r);
        return r;
    }();
    return *registry;
}

/** Where a node's errors point, as if it stood in a preset "test.json" under /nodes/<id>. */
inline Location nodeLocation(const std::string& id, const std::string& below = "") {
    return Location{"test.json", "/nodes/" + id + below, id};
}

/** A node of `type` built from `params` as Graph::build does; throws avgraph::Error like a preset would. */
inline std::unique_ptr<Node> makeNode(const std::string& type,
                                      const nlohmann::json& params = nlohmann::json::object(),
                                      const std::string& id = "node") {
    const NodeSpec* spec = nodeRegistry().find(type);
    if (!spec)
        throw std::logic_error("no node type " + type);
    NodeContext ctx;
    ctx.id = id;
    ctx.spec = spec;
    ctx.where = nodeLocation(id);
    ParamSource source{
        [id](const std::string& param) {
            return nodeLocation(id, "/params" + (param.empty() ? "" : "/" + param));
        },
        [](const std::string&) { return fs::current_path(); },
    };
    ctx.params = validateParams(*spec, params, source);
    if (spec->check)
        spec->check(ctx);
    return spec->make(ctx);
}

/** The avgraph::Error that `f` throws (the test fails when it throws none). */
inline Error errorOf(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e;
    }
    FAIL("no error");
    return Error({}, "");
}

/** Audio [batch, channel, sample] at a sample rate. */
inline Value audioValue(torch::Tensor samples, double sample_rate) {
    Value v;
    v.tensor = std::move(samples);
    v.kind = Kind::Audio;
    v.sample_rate = sample_rate;
    v.axes = {"batch", "channel", "sample"};
    return v;
}

/** A plain tensor as a graph value (Kind::Tensor). */
inline Value tensorValue(torch::Tensor t) {
    Value v;
    v.tensor = std::move(t);
    v.kind = Kind::Tensor;
    return v;
}

/** The number of trainable weights of a model node. */
inline int64_t parameterCount(Node& node) {
    int64_t n = 0;
    for (const auto& p : node.module()->parameters())
        n += p.numel();
    return n;
}

/** A real TAU 2019 clip: 10 s of binaural audio at 48 kHz, 24 bit. */
inline fs::path tauClip() {
    return sharedDir() / "data/formats/tau2019uas/TAU-urban-acoustic-scenes-2019-development/audio/"
                         "airport-barcelona-0-0-a.wav";
}

/** A spectrum [batch, channel, bin, frame], as a feature node hands it to a model. */
inline Value spectrumValue(torch::Tensor t, double sample_rate = 0.0, int64_t hop = 0) {
    Value v;
    v.tensor = std::move(t);
    v.kind = Kind::Spectrum;
    v.sample_rate = sample_rate;
    v.hop = hop;
    v.axes = {"batch", "channel", "bin", "frame"};
    return v;
}

inline fs::path goldenDir() { return sharedDir() / "golden"; }

/** audio/<clip>_<sr>.wav as a [1, 1, sample] audio value. */
inline Value goldenAudio(const std::string& clip, int sample_rate) {
    auto decoded =
        host::readAudio(goldenDir() / "audio" / (clip + "_" + std::to_string(sample_rate) + ".wav"));
    return audioValue(decoded.samples.unsqueeze(0), decoded.sample_rate);
}

/** <clip>/<clip>_sr<sr>_<feature>.npy: [rows, frames], float32 (44.1 kHz arrays trimmed to 256 frames). */
inline torch::Tensor goldenArray(const std::string& clip, int sample_rate, const std::string& feature) {
    return host::readNpy(goldenDir() / clip /
                         (clip + "_sr" + std::to_string(sample_rate) + "_" + feature + ".npy"));
}

inline torch::Tensor goldenFilter(const std::string& name) {
    return host::readNpy(goldenDir() / "filters" / name);
}

/** The clips and rates every STFT, mel and log-mel golden exists for. */
inline const std::vector<std::string>& goldenClips() {
    static const std::vector<std::string> clips{"clip1_flute", "sine440_1000"};
    return clips;
}
inline const std::vector<int>& goldenRates() {
    static const std::vector<int> rates{16000, 44100};
    return rates;
}

/** How far `actual` is from `ref`, against the elementwise budget |x - ref| <= atol + rtol |ref|. */
struct Deviation {
    double max_abs = 0.0;        ///< max |x - ref|
    double max_abs_of_max = 0.0; ///< max |x - ref| / max |ref|
    double budget_used = 0.0;    ///< max |x - ref| / (atol + rtol |ref|): <= 1 passes
    bool within() const { return budget_used <= 1.0; }
};

/** Compares in float64; `mask`, if defined, selects the entries compared. */
inline Deviation deviation(const torch::Tensor& actual, const torch::Tensor& ref, double atol, double rtol,
                           const torch::Tensor& mask = {}) {
    auto a = actual.to(torch::kCPU, torch::kFloat64);
    auto r = ref.to(torch::kCPU, torch::kFloat64);
    auto diff = (a - r).abs();
    auto budget = atol + rtol * r.abs();
    if (mask.defined()) {
        diff = diff.masked_select(mask.to(torch::kCPU));
        budget = budget.masked_select(mask.to(torch::kCPU));
    }
    Deviation d;
    if (diff.numel() == 0)
        return d;
    d.max_abs = diff.max().item<double>();
    const double peak = r.abs().max().item<double>();
    d.max_abs_of_max = peak > 0 ? d.max_abs / peak : d.max_abs;
    d.budget_used = (diff / budget).max().item<double>();
    return d;
}

/** Prints a deviation when AVGRAPH_GOLDEN_REPORT is set, to see the margins left by each golden. */
inline void reportDeviation(const std::string& what, const Deviation& d) {
    if (std::getenv("AVGRAPH_GOLDEN_REPORT"))
        std::printf("golden %-55s max|d| %.3g  max|d|/max|ref| %.3g  budget used %.3f\n", what.c_str(),
                    d.max_abs, d.max_abs_of_max, d.budget_used);
}

/** One block through a chain of nodes; returns the last node's output. */
using Pipeline = std::function<Value(const Value& block)>;

/** A pipeline of one streaming node, from its port `in` to its port `out`. */
inline Pipeline single(Node& node, const std::string& in, const std::string& out) {
    return [&node, in, out](const Value& block) { return node.processBlock({{in, block}}).at(out); };
}

/**
 * `audio` fed through `pipeline` in blocks of random lengths 1..max_block (seeded, so a failure
 * repeats), the outputs joined along their last (frame) axis.
 */
inline torch::Tensor streamInBlocks(const Value& audio, const Pipeline& pipeline, uint32_t seed,
                                    int64_t max_block = 4096) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int64_t> size(1, max_block);
    std::vector<torch::Tensor> pieces;
    const int64_t n = audio.tensor.size(-1);
    for (int64_t at = 0; at < n;) {
        const int64_t len = std::min(size(rng), n - at);
        pieces.push_back(pipeline(audio.withTensor(audio.tensor.narrow(-1, at, len))).tensor);
        at += len;
    }
    return torch::cat(pieces, -1);
}

/**
 * Runs a Python PyTorch reference script of tests/nodes/models (/usr/bin/python3 with Debian's
 * python3-torch, python3-torchvision) once per process into a scratch folder that lives as long, and returns
 * the folder of the .npy files and TorchScript weights it wrote.
 */
inline const fs::path& pythonReferenceDir(const std::string& script_name) {
    static std::map<std::string, std::unique_ptr<ScratchDir>> dirs;
    auto& dir = dirs[script_name];
    if (!dir) {
        dir = std::make_unique<ScratchDir>();
        const auto script = sourceDir() / "tests/nodes/models" / script_name;
        // The shared data folder (real photos, ...) as the build knows it, in AVGRAPH_SHARED_DIR.
        auto r = runShell("AVGRAPH_SHARED_DIR=" + shellQuote(sharedDir().string()) + " /usr/bin/python3 " +
                          shellQuote(script.string()) + " " + shellQuote(dir->path().string()));
        INFO(r.output);
        REQUIRE(r.exit_code == 0); // needs Debian's python3-torch, python3-numpy (and python3-torchvision)
    }
    return dir->path();
}

} // namespace avgraph::test
