#include "host/training/staged_recipe.h"

#include "graph/error.h"
#include "host/datasets/av_dataset.h"
#include "host/media/media_file.h"
#include "host/metrics/plots.h"
#include "host/training/trainer.h"
#include "nodes/models/model_weights.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <numeric>
#include <random>
#include <sstream>
#include <unistd.h>

namespace avgraph::host::training {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kStageCheckpoint = "avgraph-stage-checkpoint-1";

double secondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

Error stageError(const Graph& g, const StageConfig& stage, const std::string& message) {
    return Error(g.preset().locate(stage.pointer), "stage \"" + stage.name + "\": " + message);
}

/** The one node of a type in a graph (or the named one); an Error at the stage otherwise. */
size_t nodeOfType(const Graph& g, const std::string& type, const StageConfig& stage, const Graph& where,
                  const std::string& named = "") {
    std::vector<size_t> found;
    for (size_t v = 0; v < g.size(); ++v)
        if (!g.vertex(v).is_input && g.vertex(v).spec->type == type &&
            (named.empty() || g.vertex(v).id == named))
            found.push_back(v);
    if (found.size() == 1)
        return found[0];
    const std::string file = g.preset().file().string();
    if (found.empty())
        throw stageError(where, stage,
                         named.empty() ? file + " has no " + type + " node"
                                       : file + " has no " + type + " node named \"" + named + "\"");
    throw stageError(where, stage, file + " has several " + type + " nodes; name the one to train");
}

/** The vertex and port feeding a node's input (the node's only input edge). */
std::pair<size_t, std::string> sourceOf(const Graph& g, size_t v) {
    auto in = g.incoming(v);
    if (in.size() != 1)
        throw g.vertex(v).node->error("training expects one input edge into this node");
    return {in[0].from, in[0].from_port};
}

/** The graph's single input of the given kind. */
const PresetInput& onlyInput(const Graph& g, Kind kind, const StageConfig& stage, const Graph& where) {
    const auto& inputs = g.preset().inputs();
    if (inputs.size() != 1 || inputs[0].kind != kind)
        throw stageError(where, stage,
                         g.preset().file().string() + " must have one input of kind " +
                             std::string(kindName(kind)) + " (\"inputs\": {\"" + std::string(kindName(kind)) +
                             "\": {\"kind\": \"" + std::string(kindName(kind)) + "\"}})");
    return inputs[0];
}

std::mt19937_64 stageGenerator(unsigned seed, int epoch, int64_t step, uint32_t purpose) {
    std::seed_seq seq{seed, static_cast<uint32_t>(epoch), static_cast<uint32_t>(step), purpose, 0x57a9eu};
    return std::mt19937_64(seq);
}

/** Torch draws for one step: a generator of its own, so a resumed stage draws the same numbers. */
at::Generator torchGenerator(unsigned seed, int epoch, int64_t step, uint32_t purpose) {
    auto rng = stageGenerator(seed, epoch, step, purpose);
    auto gen = at::detail::createCPUGenerator(rng());
    return gen;
}

/** Square images as [N, 3, size, size] uint8: video frames at `fps` and/or photographs. */
torch::Tensor collectImages(const StageConfig& stage, const AudioVisualData& data, const Graph& where) {
    std::vector<torch::Tensor> images;
    const bool want_av = std::find(stage.data.begin(), stage.data.end(), "av") != stage.data.end();
    const bool want_images = std::find(stage.data.begin(), stage.data.end(), "images") != stage.data.end();
    if (want_av && !data.av_data.empty()) {
        auto av = readAvDataset(data.av_data, data.av_format, 1);
        const auto& chosen = av.train.empty() ? std::vector<size_t>() : av.train;
        std::vector<size_t> all(av.clips.size());
        std::iota(all.begin(), all.end(), 0);
        for (size_t c : chosen.empty() ? all : chosen) {
            auto frames = readVideoFrames(av.clips[c].video, stage.fps, stage.image_size, stage.image_size);
            for (int64_t i = 0; i < frames.frames.size(0); ++i)
                images.push_back(frames.frames[i]);
        }
    }
    if (want_images && !data.images.empty())
        for (const auto& file : listImages(data.images)) {
            auto img = readImage(file).unsqueeze(0).to(torch::kFloat);
            // Squashed to a square like the video frames; area averaging for downscaling.
            img = torch::nn::functional::interpolate(
                img, torch::nn::functional::InterpolateFuncOptions()
                         .size(std::vector<int64_t>{stage.image_size, stage.image_size})
                         .mode(torch::kArea));
            images.push_back(img.squeeze(0).round().clamp(0, 255).to(torch::kUInt8));
        }
    if (images.empty())
        throw stageError(
            where, stage,
            "no images to train on: give --av-data (videos) and/or --images (a folder of "
            "photographs) as its \"data\" (" +
                [&] {
                    std::string d;
                    for (const auto& x : stage.data)
                        d += (d.empty() ? "" : ", ") + x;
                    return d;
                }() +
                ") asks");
    return torch::stack(images);
}

/** Images or 16x16 feature maps as a graph value: [batch, channel, row, col]. */
Value gridValue(torch::Tensor t, Kind kind) {
    Value v;
    v.tensor = std::move(t);
    v.kind = kind;
    v.axes = {"batch", "channel", "row", "col"};
    return v;
}

/** A random held-out share of n items (at least one when the fraction is positive and n > 1). */
std::pair<std::vector<int64_t>, std::vector<int64_t>> holdOut(int64_t n, double fraction, unsigned seed) {
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    auto rng = stageGenerator(seed, 0, 0, 7);
    std::shuffle(order.begin(), order.end(), rng);
    auto n_val = static_cast<int64_t>(std::llround(fraction * static_cast<double>(n)));
    if (fraction > 0.0 && n > 1)
        n_val = std::clamp<int64_t>(n_val, 1, n - 1);
    std::vector<int64_t> val(order.begin(), order.begin() + n_val), train(order.begin() + n_val, order.end());
    std::sort(val.begin(), val.end());
    std::sort(train.begin(), train.end());
    return {train, val};
}

torch::Tensor indexTensor(const std::vector<int64_t>& idx) { return torch::tensor(idx, torch::kLong); }

/** Batches of one epoch, shuffled by the seed and epoch alone. */
std::vector<std::vector<int64_t>> epochBatches(std::vector<int64_t> items, int batch, unsigned seed,
                                               int epoch) {
    auto rng = stageGenerator(seed, epoch, -1, 2);
    std::shuffle(items.begin(), items.end(), rng);
    std::vector<std::vector<int64_t>> out;
    for (size_t i = 0; i < items.size(); i += static_cast<size_t>(batch))
        out.emplace_back(items.begin() + static_cast<std::ptrdiff_t>(i),
                         items.begin() + static_cast<std::ptrdiff_t>(
                                             std::min(items.size(), i + static_cast<size_t>(batch))));
    return out;
}

void atomicWrite(const fs::path& file, const std::string& text) {
    fs::path partial = file;
    partial += ".partial-" + std::to_string(::getpid());
    std::ofstream(partial) << text;
    fs::rename(partial, file);
}

/** Modules trained together, saved and restored together with their optimizers. */
struct Checkpointed {
    std::vector<std::pair<std::string, torch::nn::Module*>> modules;
    std::vector<std::pair<std::string, torch::optim::Optimizer*>> optimizers;

    void save(const fs::path& file, const nlohmann::json& settings, int epoch) const {
        torch::serialize::OutputArchive archive;
        archive.write("format", c10::IValue(std::string(kStageCheckpoint)));
        archive.write("settings", c10::IValue(settings.dump()));
        archive.write("epoch", c10::IValue(static_cast<int64_t>(epoch)));
        for (const auto& [id, m] : modules) {
            torch::serialize::OutputArchive sub;
            m->save(sub);
            archive.write("module." + id, sub);
        }
        for (const auto& [id, o] : optimizers) {
            torch::serialize::OutputArchive sub;
            o->save(sub);
            archive.write("optimizer." + id, sub);
        }
        atomicSave(archive, file);
    }
    /** The epoch the checkpoint finished. */
    int load(const fs::path& file, const nlohmann::json& settings) const {
        torch::serialize::InputArchive archive;
        archive.load_from(file.string());
        c10::IValue format, saved, epoch;
        archive.read("format", format);
        if (format.toStringRef() != kStageCheckpoint)
            throw Error({file.string(), "", "", 0, 0}, "not an avgraph stage checkpoint");
        archive.read("settings", saved);
        if (nlohmann::json::parse(saved.toStringRef()) != settings)
            throw Error(
                {file.string(), "", "", 0, 0},
                "--resume continues a stage with the same settings and data; this checkpoint was made "
                "with other ones: train into another folder");
        archive.read("epoch", epoch);
        for (const auto& [id, m] : modules) {
            torch::serialize::InputArchive sub;
            archive.read("module." + id, sub);
            m->load(sub);
        }
        for (const auto& [id, o] : optimizers) {
            torch::serialize::InputArchive sub;
            archive.read("optimizer." + id, sub);
            o->load(sub);
        }
        return static_cast<int>(epoch.toInt());
    }
};

/** The epoch to start from: 1, or the one after the checkpoint when resuming. */
int startEpoch(const StageRun& run, const Checkpointed& state, const nlohmann::json& settings) {
    const fs::path checkpoint = run.dir / "checkpoint.pt", log = run.dir / "log.jsonl";
    if (!run.resume && (fs::exists(checkpoint) || fs::exists(log)))
        throw Error(
            {run.dir.string(), "", "", 0, 0},
            "this stage folder already holds an unfinished run (checkpoint.pt / log.jsonl); continue it "
            "with --resume or train into another folder");
    if (run.resume && fs::exists(checkpoint)) {
        const int done = state.load(checkpoint, settings);
        truncateLog(log, done);
        return done + 1;
    }
    fs::remove(log);
    return 1;
}

void appendLog(const fs::path& log, const nlohmann::json& line) {
    std::ofstream(log, std::ios::app) << line.dump() << "\n";
}

std::string fixed(double x, int digits) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(digits) << x;
    return s.str();
}

nlohmann::json number(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

/** exp(entropy) of the code usage: K when every code is used equally, 1 when one code takes all. */
double perplexity(const torch::Tensor& counts) {
    auto p = counts.to(torch::kDouble) / std::max(1.0, counts.sum().item<double>());
    return std::exp(-torch::xlogy(p, p).sum().item<double>());
}

void finishPlots(const StageRun& run, const std::string& title,
                 const std::vector<metrics::SeriesPanel>& panels) {
    if (!run.plots || !metrics::gnuplotAvailable())
        return;
    metrics::plotLogSeries(run.dir, "curves", title, run.dir / "log.jsonl", panels,
                           metrics::parsePlotFormat(run.plot_format));
}

StageResult finish(const StageRun& run, const nlohmann::json& settings, nlohmann::json summary,
                   const std::map<std::string, torch::nn::Module*>& networks, const Graph& g1,
                   const Graph& g2) {
    StageResult result;
    auto typeOf = [&](const std::string& id) {
        for (const Graph* g : {&g1, &g2})
            for (size_t v = 0; v < g->size(); ++v)
                if (!g->vertex(v).is_input && g->vertex(v).id == id)
                    return g->vertex(v).spec->type;
        return std::string();
    };
    for (const auto& [id, module] : networks) {
        summary["types"][id] = typeOf(id);
        const fs::path file = run.dir / ("weights-" + id + ".pt");
        nodes::saveWeights(*module, file);
        result.weights[id] = file;
        summary["weights"][id] = file.filename().string();
        result.types[id] = summary["types"][id].get<std::string>();
    }
    summary["settings"] = settings;
    summary["finished"] = true;
    result.summary = summary;
    atomicWrite(run.dir / "stage.json", summary.dump(2) + "\n");
    return result;
}

} // namespace

nlohmann::json stageSettings(const StageConfig& stage, unsigned seed, const AudioVisualData& data,
                             const Graph& main) {
    auto j = stage.toJson();
    j["seed"] = seed;
    j["av_data"] = data.av_data.empty() ? "" : fs::absolute(data.av_data).lexically_normal().string();
    j["av_format"] = data.av_format;
    j["images"] = data.images.empty() ? "" : fs::absolute(data.images).lexically_normal().string();
    const auto own = Preset::load(stage.preset).document();
    j["preset_nodes"] = {{"nodes", own.value("nodes", nlohmann::json())},
                         {"edges", own.value("edges", nlohmann::json())}};
    if (stage.kind == "transformation") {
        // The generator and everything it hears from: another mode or front end is another stage.
        const auto& nodes = main.preset().document().at("nodes");
        nlohmann::json upstream = nlohmann::json::object();
        std::vector<size_t> todo;
        for (size_t v = 0; v < main.size(); ++v)
            if (!main.vertex(v).is_input && main.vertex(v).spec->type == "models.transformation_network" &&
                (stage.generator.empty() || main.vertex(v).id == stage.generator))
                todo.push_back(v);
        while (!todo.empty()) {
            const size_t v = todo.back();
            todo.pop_back();
            const auto& id = main.vertex(v).id;
            if (!main.vertex(v).is_input && nodes.contains(id))
                upstream[id] = nodes.at(id);
            for (const auto& c : main.incoming(v))
                todo.push_back(c.from);
        }
        j["generator_nodes"] = upstream;
    }
    return j;
}

std::optional<StageResult> finishedStage(const fs::path& dir, const nlohmann::json& settings) {
    const fs::path file = dir / "stage.json";
    if (!fs::exists(file))
        return std::nullopt;
    nlohmann::json j;
    try {
        std::ifstream in(file);
        j = nlohmann::json::parse(in);
    } catch (const std::exception& e) {
        throw Error({file.string(), "", "", 0, 0}, std::string("not a readable stage record: ") + e.what());
    }
    if (!j.value("finished", false))
        return std::nullopt;
    if (j.value("settings", nlohmann::json()) != settings)
        throw Error(
            {file.string(), "", "", 0, 0},
            "this stage finished with other settings or data (" +
                j.value("settings", nlohmann::json()).dump() + " vs now " + settings.dump() +
                "); its weights belong to that recipe: train into another folder (--out or --stage-dir)");
    StageResult r;
    r.summary = j;
    const auto weights = j.value("weights", nlohmann::json::object()); // named: items() would dangle
    const auto types = j.value("types", nlohmann::json::object());
    for (const auto& [id, name] : weights.items())
        r.weights[id] = dir / name.get<std::string>();
    for (const auto& [id, type] : types.items())
        r.types[id] = type.get<std::string>();
    return r;
}

// ---------------------------------------------------------------------------------------------
// Stage 1: VQ-VAE

StageResult trainVqvaeStage(Graph& g, Executor& ex, const StageConfig& stage, unsigned seed,
                            const AudioVisualData& data, const StageRun& run) {
    std::ostream& out = run.out ? *run.out : std::cerr;
    const size_t enc = nodeOfType(g, "models.vqvae_encoder", stage, g);
    const size_t vq = nodeOfType(g, "models.vq_codebook", stage, g);
    const size_t dec = nodeOfType(g, "models.vqvae_decoder", stage, g);
    const auto& input = onlyInput(g, Kind::Image, stage, g);
    const auto [pre, pre_port] = sourceOf(g, enc);
    const std::string enc_id = g.vertex(enc).id, vq_id = g.vertex(vq).id, dec_id = g.vertex(dec).id;
    const std::string pre_id = g.vertex(pre).id;
    if (sourceOf(g, vq).first != enc || sourceOf(g, dec).first != vq)
        throw stageError(g, stage, g.preset().file().string() + " must wire encoder -> codebook -> decoder");

    fs::create_directories(run.dir);
    const auto settings = stageSettings(stage, seed, data, g);
    torch::manual_seed(seed);
    for (size_t v : {enc, vq, dec})
        for (auto& p : g.node(v).module()->parameters())
            p.set_requires_grad(true);

    // The images as the encoder sees them (after the preset's resize and normalisation), once.
    auto images = collectImages(stage, data, g);
    const int64_t n = images.size(0);
    out << "stage " << stage.name << ": " << n << " images of " << stage.image_size << "x" << stage.image_size
        << "\n";
    const Value raw = gridValue(images.to(torch::kFloat), Kind::Image);
    Value x;
    if (g.vertex(pre).is_input)
        x = raw;
    else {
        torch::NoGradGuard no_grad;
        x = ex.runPart({{input.name, raw}}, {}, {pre_id}).at(pre_id).at(pre_port);
    }
    x.tensor = x.tensor.contiguous();
    auto [train_idx, val_idx] = holdOut(n, stage.validation_fraction, seed);
    if (train_idx.empty())
        throw stageError(g, stage, "no training images left after holding out validation_fraction");
    // Reconstruction error is reported relative to the data's variance (van den Oord et al.).
    const double variance =
        std::max(1e-12, x.tensor.index_select(0, indexTensor(train_idx)).var().item<double>());
    const int64_t K = g.node(vq).params().integer("codes");

    std::vector<torch::Tensor> params;
    std::map<std::string, torch::nn::Module*> networks{
        {enc_id, g.node(enc).module()}, {vq_id, g.node(vq).module()}, {dec_id, g.node(dec).module()}};
    for (const auto& [id, m] : networks)
        for (auto& p : m->parameters())
            params.push_back(p);
    auto optimizer = makeOptimizer(params, stage.optimizer);
    Checkpointed state;
    for (const auto& [id, m] : networks)
        state.modules.emplace_back(id, m);
    state.optimizers.emplace_back("vqvae", optimizer.get());
    const int first = startEpoch(run, state, settings);

    auto forward = [&](const std::vector<int64_t>& idx, bool training) {
        Ports given{{pre_port, x.withTensor(x.tensor.index_select(0, indexTensor(idx)))}};
        RunOptions options;
        options.concurrent = false;
        options.training = training;
        auto o = ex.runPart({}, {{pre_id, given}}, {dec_id, vq_id}, options);
        auto recon = o.at(dec_id).at("image").tensor;
        auto mse = torch::mse_loss(recon, given.at(pre_port).tensor);
        return std::tuple{mse, o.at(vq_id).at("loss").tensor, o.at(vq_id).at("usage").tensor};
    };
    auto evaluate = [&](const std::vector<int64_t>& idx) {
        for (const auto& [id, m] : networks)
            m->eval();
        torch::NoGradGuard no_grad;
        double se = 0.0;
        torch::Tensor usage = torch::zeros({K}, torch::kDouble);
        for (size_t i = 0; i < idx.size(); i += static_cast<size_t>(stage.batch_size)) {
            std::vector<int64_t> b(idx.begin() + static_cast<std::ptrdiff_t>(i),
                                   idx.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                     idx.size(), i + static_cast<size_t>(stage.batch_size))));
            auto [mse, vq_loss, counts] = forward(b, false);
            se += mse.item<double>() * static_cast<double>(b.size());
            usage += counts.to(torch::kDouble);
        }
        return std::pair{se / static_cast<double>(idx.size()), usage};
    };
    if (first == 1 && !val_idx.empty()) { // where the held-out error starts, for the record
        auto [mse0, usage0] = evaluate(val_idx);
        appendLog(run.dir / "log.jsonl", {{"epoch", 0},
                                          {"val_recon_mse", number(mse0)},
                                          {"val_loss", number(mse0 / variance)},
                                          {"val_perplexity", number(perplexity(usage0))}});
    }

    for (int epoch = first; epoch <= stage.epochs; ++epoch) {
        const auto t0 = Clock::now();
        for (const auto& [id, m] : networks)
            m->train();
        double sum_loss = 0.0, sum_recon = 0.0, sum_vq = 0.0;
        torch::Tensor usage = torch::zeros({K}, torch::kDouble);
        auto batches = epochBatches(train_idx, stage.batch_size, seed, epoch);
        for (const auto& b : batches) {
            auto [mse, vq_loss, counts] = forward(b, true);
            auto loss = mse / variance + vq_loss;
            optimizer->zero_grad();
            loss.backward();
            optimizer->step();
            const auto w = static_cast<double>(b.size());
            sum_loss += loss.item<double>() * w;
            sum_recon += mse.item<double>() * w;
            sum_vq += vq_loss.item<double>() * w;
            usage += counts.detach().to(torch::kDouble);
        }
        const auto m = static_cast<double>(train_idx.size());
        nlohmann::json line = {{"epoch", epoch},
                               {"train_loss", sum_loss / m},
                               {"recon_mse", sum_recon / m},
                               {"vq_loss", sum_vq / m},
                               {"perplexity", perplexity(usage)},
                               {"dead_codes", (usage == 0).sum().item<int64_t>()}};
        std::string val_text;
        if (!val_idx.empty()) {
            auto [val_mse, val_usage] = evaluate(val_idx);
            line["val_recon_mse"] = number(val_mse);
            line["val_loss"] = number(val_mse / variance);
            line["val_perplexity"] = perplexity(val_usage);
            val_text = "  held-out recon " + fixed(val_mse, 5);
        }
        line["lr"] = stage.optimizer.lr;
        line["seconds"] = secondsSince(t0);
        appendLog(run.dir / "log.jsonl", line);
        state.save(run.dir / "checkpoint.pt", settings, epoch);
        out << "stage " << stage.name << " epoch " << epoch << "/" << stage.epochs << "  loss "
            << fixed(sum_loss / m, 4) << "  recon " << fixed(sum_recon / m, 5) << val_text << "  perplexity "
            << fixed(perplexity(usage), 2) << "/" << K << "  dead codes "
            << (usage == 0).sum().item<int64_t>() << "  " << fixed(secondsSince(t0), 1) << " s" << std::endl;
    }
    for (const auto& [id, m] : networks)
        m->eval();
    finishPlots(run, "VQ-VAE stage",
                {{"loss (reconstruction / variance + codebook + commitment)", {"train_loss", "val_loss"}},
                 {"codebook perplexity", {"perplexity", "val_perplexity"}}});
    nlohmann::json summary = {
        {"kind", "vqvae"}, {"images", n}, {"held_out", val_idx.size()}, {"variance", variance}};
    if (!val_idx.empty()) {
        auto [val_mse, val_usage] = evaluate(val_idx);
        summary["val_recon_mse"] = val_mse;
        summary["val_perplexity"] = perplexity(val_usage);
        summary["val_dead_codes"] = (val_usage == 0).sum().item<int64_t>();
    }
    return finish(run, settings, summary, networks, g, g);
}

// ---------------------------------------------------------------------------------------------
// Stage 2: the transformation network against a WGAN-GP critic

namespace {

/** G's index map ([B,1,h,w] in [-1, 1]) as codebook features by blending the two nearest codes. */
torch::Tensor blendCodes(const torch::Tensor& index_map, const torch::Tensor& codebook) {
    const int64_t K = codebook.size(0);
    auto pos = ((index_map.squeeze(1) + 1.0) * 0.5 * static_cast<double>(K - 1))
                   .clamp(0.0, static_cast<double>(K - 1));
    auto lo = pos.floor().clamp_max(static_cast<double>(K - 2)).to(torch::kLong);
    auto frac = (pos - lo.to(pos.dtype())).unsqueeze(-1);
    auto e =
        codebook.index_select(0, lo.flatten()).view({lo.size(0), lo.size(1), lo.size(2), -1}) * (1.0 - frac) +
        codebook.index_select(0, (lo + 1).flatten()).view({lo.size(0), lo.size(1), lo.size(2), -1}) * frac;
    return e.permute({0, 3, 1, 2}).contiguous(); // [B, D, h, w]
}

} // namespace

StageResult trainTransformationStage(Graph& main, Executor& main_exec, Graph& vg, Executor& vex, Graph& cg,
                                     Executor& cex, const StageConfig& stage, unsigned seed,
                                     const AudioVisualData& data, const StageRun& run) {
    std::ostream& out = run.out ? *run.out : std::cerr;
    const size_t G = nodeOfType(main, "models.transformation_network", stage, main, stage.generator);
    const std::string g_id = main.vertex(G).id;
    const auto [front, front_port] = sourceOf(main, G);
    const std::string front_id = main.vertex(front).id;
    const auto& audio_input = onlyInput(main, Kind::Audio, stage, main);
    const std::string mode = main.node(G).params().text("mode");

    const size_t enc = nodeOfType(vg, "models.vqvae_encoder", stage, main);
    const size_t vq = nodeOfType(vg, "models.vq_codebook", stage, main);
    const size_t dec = nodeOfType(vg, "models.vqvae_decoder", stage, main);
    const auto& image_input = onlyInput(vg, Kind::Image, stage, main);
    const auto [pre, pre_port] = sourceOf(vg, enc);
    const std::string enc_id = vg.vertex(enc).id, vq_id = vg.vertex(vq).id, dec_id = vg.vertex(dec).id;
    const std::string pre_id = vg.vertex(pre).id;
    const int64_t K = vg.node(vq).params().integer("codes");

    const size_t D = nodeOfType(cg, "models.critic", stage, main);
    const std::string d_id = cg.vertex(D).id;
    const auto& critic_input = onlyInput(cg, Kind::Tensor, stage, main);

    fs::create_directories(run.dir);
    const auto settings = stageSettings(stage, seed, data, main);
    torch::manual_seed(seed);
    if (data.av_data.empty())
        throw stageError(main, stage,
                         "the transformation stage learns from videos with sound: give --av-data");

    // Frozen stage-1 networks give the targets and the image term's decoder.
    for (size_t v : {enc, vq, dec}) {
        vg.node(v).module()->eval();
        for (auto& p : vg.node(v).module()->parameters())
            p.set_requires_grad(false);
    }
    torch::nn::Module* g_module = main.node(G).module();
    torch::nn::Module* d_module = cg.node(D).module();
    for (auto* m : {g_module, d_module})
        for (auto& p : m->parameters())
            p.set_requires_grad(true);

    // Pairs: every frame at `fps` with the audio around it; features computed once (frozen front end).
    auto av = readAvDataset(data.av_data, data.av_format, 1);
    std::vector<size_t> clips = av.train;
    if (clips.empty()) {
        clips.resize(av.clips.size());
        std::iota(clips.begin(), clips.end(), 0);
    }
    std::vector<torch::Tensor> frames, features;
    Value feature_meta;
    {
        torch::NoGradGuard no_grad;
        for (size_t c : clips)
            for (auto& sample :
                 pairClip(av.clips[c], stage.fps, stage.image_size, stage.image_size, stage.audio_seconds)) {
                frames.push_back(sample.frame);
                auto f = main_exec.runPart({{audio_input.name, sample.audio}}, {}, {front_id})
                             .at(front_id)
                             .at(front_port);
                if (!features.empty() && f.tensor.sizes() != features.front().sizes())
                    throw stageError(main, stage,
                                     "the audio around each frame must give features of one shape; " +
                                         av.clips[c].video.string() +
                                         " gives another (is its audio shorter?)");
                feature_meta = f;
                features.push_back(f.tensor);
            }
    }
    if (frames.empty())
        throw stageError(main, stage, "no video frames in " + data.av_data.string());
    const int64_t n = static_cast<int64_t>(frames.size());
    auto audio_features = torch::cat(features, 0).contiguous();
    const Value raw = gridValue(torch::stack(frames).to(torch::kFloat), Kind::Image);

    // Targets by G's mode: the frames' index maps, quantized features, or encoder outputs.
    torch::Tensor images, target;
    {
        torch::NoGradGuard no_grad;
        Value x = vg.vertex(pre).is_input
                      ? raw
                      : vex.runPart({{image_input.name, raw}}, {}, {pre_id}).at(pre_id).at(pre_port);
        images = x.tensor.contiguous();
        auto o = vex.runPart({}, {{pre_id, {{pre_port, x}}}}, {enc_id, vq_id});
        if (mode == "index_map")
            target =
                (o.at(vq_id).at("indices").tensor.to(torch::kFloat) * (2.0 / static_cast<double>(K - 1)) -
                 1.0)
                    .unsqueeze(1);
        else if (mode == "quantized")
            target = o.at(vq_id).at("quantized").tensor;
        else
            target = o.at(enc_id).at("z_e").tensor;
        target = target.contiguous();
    }
    out << "stage " << stage.name << ": " << n << " frames paired with " << fixed(stage.audio_seconds, 2)
        << " s of audio; G mode " << mode << "\n";
    const double variance = std::max(1e-12, images.var().item<double>());
    torch::Tensor codebook;
    for (const auto& p : vg.node(vq).module()->named_parameters())
        if (p.key() == "embedding")
            codebook = p.value().detach();
    if (!codebook.defined())
        throw vg.node(vq).error("has no parameter named \"embedding\" to look codes up in");

    auto [train_idx, val_idx] = holdOut(n, stage.validation_fraction, seed);
    std::vector<torch::Tensor> g_params = g_module->parameters(), d_params = d_module->parameters();
    auto g_opt = makeOptimizer(g_params, stage.optimizer);
    auto d_opt = makeOptimizer(d_params, stage.critic_optimizer);
    Checkpointed state;
    state.modules = {{g_id, g_module}, {d_id, d_module}};
    state.optimizers = {{"generator", g_opt.get()}, {"critic", d_opt.get()}};
    const int first = startEpoch(run, state, settings);

    RunOptions training;
    training.concurrent = false;
    training.training = true;
    auto generate = [&](const torch::Tensor& idx, bool grad) {
        Ports given{{front_port, feature_meta.withTensor(audio_features.index_select(0, idx))}};
        RunOptions o = training;
        o.training = grad;
        return main_exec.runPart({}, {{front_id, given}}, {g_id}, o).at(g_id).at("out").tensor;
    };
    auto critic = [&](const torch::Tensor& features) {
        return cex.runPart({{critic_input.name, gridValue(features, Kind::Tensor)}}, {}, {d_id}, training)
            .at(d_id)
            .at("score")
            .tensor;
    };
    auto decode = [&](const torch::Tensor& y) {
        auto z = mode == "index_map" ? blendCodes(y, codebook) : y;
        return vex.runPart({}, {{vq_id, {{"quantized", gridValue(z, Kind::Tensor)}}}}, {dec_id}, training)
            .at(dec_id)
            .at("image")
            .tensor;
    };
    auto evaluate = [&]() {
        g_module->eval();
        torch::NoGradGuard no_grad;
        auto idx = indexTensor(val_idx);
        auto y = generate(idx, false);
        auto t = target.index_select(0, idx);
        double reg = torch::mse_loss(y, t).item<double>();
        double acc = std::nan("");
        if (mode == "index_map") {
            auto to_code = [&](const torch::Tensor& m) {
                return ((m + 1.0) * 0.5 * static_cast<double>(K - 1))
                    .round()
                    .clamp(0, static_cast<double>(K - 1));
            };
            acc = (to_code(y) == to_code(t)).to(torch::kDouble).mean().item<double>();
        }
        return std::pair{reg, acc};
    };

    for (int epoch = first; epoch <= stage.epochs; ++epoch) {
        const auto t0 = Clock::now();
        double s_d = 0, s_w = 0, s_gp = 0, s_g = 0, s_adv = 0, s_reg = 0, s_img = 0;
        int64_t steps = 0;
        auto batches = epochBatches(train_idx, stage.batch_size, seed, epoch);
        for (size_t bi = 0; bi < batches.size(); ++bi) {
            auto idx = indexTensor(batches[bi]);
            auto real = target.index_select(0, idx);
            const auto B = idx.size(0);
            // Critic steps: E[D(fake)] − E[D(real)] + λ·E[(‖∇D(x̂)‖ − 1)²] on x̂ between the two.
            g_module->train();
            d_module->train();
            double w_last = 0.0, gp_last = 0.0, d_last = 0.0;
            for (int k = 0; k < stage.n_critic; ++k) {
                torch::Tensor fake;
                {
                    torch::NoGradGuard no_grad;
                    fake = generate(idx, false);
                }
                auto gen = torchGenerator(seed, epoch, static_cast<int64_t>(bi) * 64 + k, 11);
                auto w = at::rand({B, 1, 1, 1}, gen, real.options());
                auto mixed = (w * fake + (1.0 - w) * real).detach().requires_grad_(true);
                auto d_real = critic(real), d_fake = critic(fake), d_mixed = critic(mixed);
                auto grad = torch::autograd::grad({d_mixed.sum()}, {mixed}, {}, true, true)[0];
                auto gp = (grad.flatten(1).norm(2, 1) - 1.0).pow(2).mean();
                auto d_loss = d_fake.mean() - d_real.mean() + stage.lambda_gp * gp;
                d_opt->zero_grad();
                d_loss.backward();
                d_opt->step();
                w_last = (d_real.mean() - d_fake.mean()).item<double>();
                gp_last = gp.item<double>();
                d_last = d_loss.item<double>();
            }
            // Generator step: fool the critic, match the paired target, and decode to the frame.
            for (auto& p : d_params)
                p.set_requires_grad(false);
            auto y = generate(idx, true);
            auto adv = -critic(y).mean();
            auto reg = torch::mse_loss(y, real);
            auto g_loss = adv + stage.regression * reg;
            torch::Tensor img = torch::zeros({}, y.options());
            if (stage.gamma > 0.0) {
                img = torch::mse_loss(decode(y), images.index_select(0, idx)) / variance;
                g_loss = g_loss + stage.gamma * img;
            }
            g_opt->zero_grad();
            g_loss.backward();
            g_opt->step();
            for (auto& p : d_params)
                p.set_requires_grad(true);
            const auto bw = static_cast<double>(B);
            s_d += d_last * bw;
            s_w += w_last * bw;
            s_gp += gp_last * bw;
            s_g += g_loss.item<double>() * bw;
            s_adv += adv.item<double>() * bw;
            s_reg += reg.item<double>() * bw;
            s_img += img.item<double>() * bw;
            steps += B;
        }
        const auto m = static_cast<double>(std::max<int64_t>(1, steps));
        nlohmann::json line = {{"epoch", epoch},
                               {"critic_loss", s_d / m},
                               {"wasserstein", s_w / m},
                               {"gradient_penalty", s_gp / m},
                               {"generator_loss", s_g / m},
                               {"adversarial", s_adv / m},
                               {"regression", s_reg / m},
                               {"image_loss", s_img / m}};
        std::string val_text;
        if (!val_idx.empty()) {
            auto [reg, acc] = evaluate();
            line["val_regression"] = number(reg);
            line["val_index_accuracy"] = number(acc);
            val_text = "  held-out regression " + fixed(reg, 4) +
                       (std::isfinite(acc) ? "  codes right " + fixed(100.0 * acc, 1) + " %" : "");
        }
        line["seconds"] = secondsSince(t0);
        appendLog(run.dir / "log.jsonl", line);
        state.save(run.dir / "checkpoint.pt", settings, epoch);
        out << "stage " << stage.name << " epoch " << epoch << "/" << stage.epochs << "  critic "
            << fixed(s_d / m, 3) << "  W " << fixed(s_w / m, 3) << "  GP " << fixed(s_gp / m, 3) << "  G "
            << fixed(s_g / m, 3) << val_text << "  " << fixed(secondsSince(t0), 1) << " s" << std::endl;
    }
    g_module->eval();
    d_module->eval();
    finishPlots(run, "Transformation network stage (WGAN-GP)",
                {{"critic", {"critic_loss", "wasserstein", "gradient_penalty"}},
                 {"generator", {"generator_loss", "adversarial", "regression", "image_loss"}},
                 {"held-out", {"val_regression", "val_index_accuracy"}}});
    nlohmann::json summary = {
        {"kind", "transformation"}, {"pairs", n}, {"held_out", val_idx.size()}, {"mode", mode}};
    if (!val_idx.empty()) {
        auto [reg, acc] = evaluate();
        summary["val_regression"] = reg;
        summary["val_index_accuracy"] = number(acc);
    }
    return finish(run, settings, summary, {{g_id, g_module}, {d_id, d_module}}, main, cg);
}

} // namespace avgraph::host::training
