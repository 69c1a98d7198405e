// Stage 2 of the IVF method: the transformation network G against a WGAN-GP critic
// (host/training/staged_recipe.h).
#include "host/training/staged_recipe.h"

#include "graph/error.h"
#include "host/datasets/av_dataset.h"
#include "host/metrics/training_log.h"
#include "host/progress_bar.h"
#include "host/training/optimizer.h"
#include "host/training/run_folder.h"
#include "host/training/stage_support.h"

#include <torch/torch.h>

#include <cmath>
#include <iostream>
#include <numeric>
#include <tuple>

namespace avgraph::host::training {

namespace fs = std::filesystem;

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

/** The stage's networks: G in the main graph, the frozen VQ-VAE's, and the critic. */
struct GanNetworks {
    size_t G = 0, front = 0;
    std::string g_id, front_id, front_port, mode;
    const PresetInput* audio_input = nullptr;
    size_t enc = 0, vq = 0, dec = 0, pre = 0;
    std::string enc_id, vq_id, dec_id, pre_id, pre_port;
    const PresetInput* image_input = nullptr;
    int64_t codes = 0;
    size_t D = 0;
    std::string d_id;
    const PresetInput* critic_input = nullptr;

    GanNetworks(Graph& main, Graph& vg, const Graph& cg, const StageConfig& stage) {
        G = nodeOfType(main, "models.transformation_network", stage, main, stage.generator);
        g_id = main.vertex(G).id;
        std::tie(front, front_port) = sourceOf(main, G);
        front_id = main.vertex(front).id;
        audio_input = &onlyInput(main, Kind::Audio, stage, main);
        mode = main.node(G).params().text("mode");
        enc = nodeOfType(vg, "models.vqvae_encoder", stage, main);
        vq = nodeOfType(vg, "models.vq_codebook", stage, main);
        dec = nodeOfType(vg, "models.vqvae_decoder", stage, main);
        image_input = &onlyInput(vg, Kind::Image, stage, main);
        std::tie(pre, pre_port) = sourceOf(vg, enc);
        enc_id = vg.vertex(enc).id;
        vq_id = vg.vertex(vq).id;
        dec_id = vg.vertex(dec).id;
        pre_id = vg.vertex(pre).id;
        codes = vg.node(vq).params().integer("codes");
        D = nodeOfType(cg, "models.critic", stage, main);
        d_id = cg.vertex(D).id;
        critic_input = &onlyInput(cg, Kind::Tensor, stage, main);
    }
};

/** Every frame at `fps` of the videos, with the front end's features of the audio around it. */
struct FramePairs {
    Value frames;         ///< [n, 3, size, size] as an image value
    torch::Tensor audio;  ///< the features, [n, ...]
    Value audio_metadata; ///< the features' value (metadata for a batch of them)
    int64_t n = 0;
};

FramePairs pairFrames(const Graph& main, Executor& main_exec, const GanNetworks& nets,
                      const StageConfig& stage, const AudioVisualData& data) {
    auto av = readAvDataset(data.av_data, data.av_format, 1);
    std::vector<size_t> clips = av.train;
    if (clips.empty()) {
        clips.resize(av.clips.size());
        std::iota(clips.begin(), clips.end(), 0);
    }
    std::vector<torch::Tensor> frames, features;
    FramePairs pairs;
    torch::NoGradGuard no_grad;
    for (size_t c : clips)
        for (auto& sample :
             pairClip(av.clips[c], stage.fps, stage.image_size, stage.image_size, stage.audio_seconds)) {
            frames.push_back(sample.frame);
            auto f = main_exec.runPart({{nets.audio_input->name, sample.audio}}, {}, {nets.front_id})
                         .at(nets.front_id)
                         .at(nets.front_port);
            if (!features.empty() && f.tensor.sizes() != features.front().sizes())
                throw stageError(main, stage,
                                 "the audio around each frame must give features of one shape; " +
                                     av.clips[c].video.string() + " gives another (is its audio shorter?)");
            pairs.audio_metadata = f;
            features.push_back(f.tensor);
        }
    if (frames.empty())
        throw stageError(main, stage, "no video frames in " + data.av_data.string());
    pairs.n = static_cast<int64_t>(frames.size());
    pairs.audio = torch::cat(features, 0).contiguous();
    pairs.frames = gridValue(torch::stack(frames).to(torch::kFloat), Kind::Image);
    return pairs;
}

/** The frames as the VQ-VAE's encoder sees them, and G's targets by its mode: the frames' index maps,
 *  quantized features, or encoder outputs. */
std::pair<torch::Tensor, torch::Tensor> imagesAndTargets(const Graph& vg, Executor& vex,
                                                         const GanNetworks& nets, const Value& frames) {
    torch::NoGradGuard no_grad;
    Value x = vg.vertex(nets.pre).is_input
                  ? frames
                  : vex.runPart({{nets.image_input->name, frames}}, {}, {nets.pre_id})
                        .at(nets.pre_id)
                        .at(nets.pre_port);
    auto o = vex.runPart({}, {{nets.pre_id, {{nets.pre_port, x}}}}, {nets.enc_id, nets.vq_id});
    torch::Tensor target;
    if (nets.mode == "index_map")
        target = (o.at(nets.vq_id).at("indices").tensor.to(torch::kFloat) *
                      (2.0 / static_cast<double>(nets.codes - 1)) -
                  1.0)
                     .unsqueeze(1);
    else if (nets.mode == "quantized")
        target = o.at(nets.vq_id).at("quantized").tensor;
    else
        target = o.at(nets.enc_id).at("z_e").tensor;
    return {x.tensor.contiguous(), target.contiguous()};
}

/** The codebook the frozen VQ-VAE looks codes up in. */
torch::Tensor codebookOf(Graph& vg, size_t vq) {
    for (const auto& p : vg.node(vq).module()->named_parameters())
        if (p.key() == "embedding")
            return p.value().detach();
    throw vg.node(vq).error("has no parameter named \"embedding\" to look codes up in");
}

/** What one epoch of the GAN adds up, each term weighted by its batch's pairs. */
struct GanSums {
    double critic = 0, wasserstein = 0, penalty = 0, generator = 0, adversarial = 0, regression = 0,
           image = 0;
    int64_t pairs = 0;
};

/** G against the critic on the frame/audio pairs. */
class GanFit {
public:
    GanFit(Executor& main_exec, Executor& vex, Executor& cex, const GanNetworks& nets, torch::nn::Module& g,
           torch::nn::Module& d, const StageConfig& stage, unsigned seed)
        : main_exec_(main_exec), vex_(vex), cex_(cex), nets_(nets), g_(g), d_(d), stage_(stage), seed_(seed) {
        training_.concurrent = false;
        training_.training = true;
    }
    void setData(FramePairs pairs, torch::Tensor images, torch::Tensor target, torch::Tensor codebook) {
        pairs_ = std::move(pairs);
        images_ = std::move(images);
        target_ = std::move(target);
        codebook_ = std::move(codebook);
        variance_ = std::max(1e-12, images_.var().item<double>());
    }

    /** The held-out pairs' regression error and, for index maps, the share of codes G gets right. */
    std::pair<double, double> evaluate(const std::vector<int64_t>& val_idx) {
        g_.eval();
        torch::NoGradGuard no_grad;
        auto idx = indexTensor(val_idx);
        auto y = generate(idx, false);
        auto t = target_.index_select(0, idx);
        double reg = torch::mse_loss(y, t).item<double>();
        double acc = std::nan("");
        if (nets_.mode == "index_map") {
            const auto K = static_cast<double>(nets_.codes - 1);
            auto to_code = [&](const torch::Tensor& m) { return ((m + 1.0) * 0.5 * K).round().clamp(0, K); };
            acc = (to_code(y) == to_code(t)).to(torch::kDouble).mean().item<double>();
        }
        return {reg, acc};
    }

    /** One epoch of critic and generator steps over the batches of `train_idx`. */
    GanSums trainEpoch(int epoch, const std::vector<int64_t>& train_idx, torch::optim::Optimizer& g_opt,
                       torch::optim::Optimizer& d_opt) {
        GanSums sums;
        auto batches = epochBatches(train_idx, stage_.batch_size, seed_, epoch);
        for (size_t bi = 0; bi < batches.size(); ++bi) {
            auto idx = indexTensor(batches[bi]);
            g_.train();
            d_.train();
            const auto bw = static_cast<double>(idx.size(0));
            criticSteps(idx, epoch, bi, d_opt, sums, bw);
            generatorStep(idx, g_opt, sums, bw);
            sums.pairs += idx.size(0);
        }
        return sums;
    }

private:
    torch::Tensor generate(const torch::Tensor& idx, bool grad) {
        Ports given{{nets_.front_port, pairs_.audio_metadata.withTensor(pairs_.audio.index_select(0, idx))}};
        RunOptions o = training_;
        o.training = grad;
        return main_exec_.runPart({}, {{nets_.front_id, given}}, {nets_.g_id}, o)
            .at(nets_.g_id)
            .at("out")
            .tensor;
    }
    torch::Tensor critic(const torch::Tensor& features) {
        return cex_
            .runPart({{nets_.critic_input->name, gridValue(features, Kind::Tensor)}}, {}, {nets_.d_id},
                     training_)
            .at(nets_.d_id)
            .at("score")
            .tensor;
    }
    torch::Tensor decode(const torch::Tensor& y) {
        auto z = nets_.mode == "index_map" ? blendCodes(y, codebook_) : y;
        return vex_
            .runPart({}, {{nets_.vq_id, {{"quantized", gridValue(z, Kind::Tensor)}}}}, {nets_.dec_id},
                     training_)
            .at(nets_.dec_id)
            .at("image")
            .tensor;
    }

    /** n_critic steps: E[D(fake)] − E[D(real)] + λ·E[(‖∇D(x̂)‖ − 1)²] on x̂ between the two. */
    void criticSteps(const torch::Tensor& idx, int epoch, size_t bi, torch::optim::Optimizer& d_opt,
                     GanSums& sums, double weight) {
        auto real = target_.index_select(0, idx);
        double w_last = 0.0, gp_last = 0.0, d_last = 0.0;
        for (int k = 0; k < stage_.n_critic; ++k) {
            torch::Tensor fake;
            {
                torch::NoGradGuard no_grad;
                fake = generate(idx, false);
            }
            auto gen = torchGenerator(seed_, epoch, static_cast<int64_t>(bi) * 64 + k, 11);
            auto w = at::rand({idx.size(0), 1, 1, 1}, gen, real.options());
            auto mixed = (w * fake + (1.0 - w) * real).detach().requires_grad_(true);
            auto d_real = critic(real), d_fake = critic(fake), d_mixed = critic(mixed);
            auto grad = torch::autograd::grad({d_mixed.sum()}, {mixed}, {}, true, true)[0];
            auto gp = (grad.flatten(1).norm(2, 1) - 1.0).pow(2).mean();
            auto d_loss = d_fake.mean() - d_real.mean() + stage_.lambda_gp * gp;
            d_opt.zero_grad();
            d_loss.backward();
            d_opt.step();
            w_last = (d_real.mean() - d_fake.mean()).item<double>();
            gp_last = gp.item<double>();
            d_last = d_loss.item<double>();
        }
        sums.critic += d_last * weight;
        sums.wasserstein += w_last * weight;
        sums.penalty += gp_last * weight;
    }

    /** G's step: fool the critic, match the paired target, and decode to the frame. */
    void generatorStep(const torch::Tensor& idx, torch::optim::Optimizer& g_opt, GanSums& sums,
                       double weight) {
        auto d_params = d_.parameters();
        for (auto& p : d_params)
            p.set_requires_grad(false);
        auto y = generate(idx, true);
        auto adv = -critic(y).mean();
        auto reg = torch::mse_loss(y, target_.index_select(0, idx));
        auto g_loss = adv + stage_.regression * reg;
        torch::Tensor img = torch::zeros({}, y.options());
        if (stage_.gamma > 0.0) {
            img = torch::mse_loss(decode(y), images_.index_select(0, idx)) / variance_;
            g_loss = g_loss + stage_.gamma * img;
        }
        g_opt.zero_grad();
        g_loss.backward();
        g_opt.step();
        for (auto& p : d_params)
            p.set_requires_grad(true);
        sums.generator += g_loss.item<double>() * weight;
        sums.adversarial += adv.item<double>() * weight;
        sums.regression += reg.item<double>() * weight;
        sums.image += img.item<double>() * weight;
    }

    Executor &main_exec_, &vex_, &cex_;
    const GanNetworks& nets_;
    torch::nn::Module &g_, &d_;
    const StageConfig& stage_;
    unsigned seed_;
    RunOptions training_;
    FramePairs pairs_;
    torch::Tensor images_, target_, codebook_;
    double variance_ = 1.0;
};

/** An epoch's log record from its sums. */
nlohmann::json ganRecord(int epoch, const GanSums& s) {
    const auto m = static_cast<double>(std::max<int64_t>(1, s.pairs));
    return {{"epoch", epoch},
            {"critic_loss", s.critic / m},
            {"wasserstein", s.wasserstein / m},
            {"gradient_penalty", s.penalty / m},
            {"generator_loss", s.generator / m},
            {"adversarial", s.adversarial / m},
            {"regression", s.regression / m},
            {"image_loss", s.image / m}};
}

/** The stage-1 networks, frozen: they give the targets and the image term's decoder. */
void freezeVqvae(Graph& vg, const GanNetworks& nets) {
    for (size_t v : {nets.enc, nets.vq, nets.dec}) {
        vg.node(v).module()->eval();
        for (auto& p : vg.node(v).module()->parameters())
            p.set_requires_grad(false);
    }
}

/** The stage's summary for stage.json, with the held-out figures of the trained generator. */
nlohmann::json ganSummary(GanFit& fit, int64_t pairs, const std::vector<int64_t>& val_idx,
                          const std::string& mode) {
    nlohmann::json summary = {
        {"kind", "transformation"}, {"pairs", pairs}, {"held_out", val_idx.size()}, {"mode", mode}};
    if (!val_idx.empty()) {
        auto [reg, acc] = fit.evaluate(val_idx);
        summary["val_regression"] = reg;
        summary["val_index_accuracy"] = metrics::logNumber(acc);
    }
    return summary;
}

} // namespace

StageResult trainTransformationStage(Graph& main, Executor& main_exec, Graph& vg, Executor& vex, Graph& cg,
                                     Executor& cex, const StageConfig& stage, unsigned seed,
                                     const AudioVisualData& data, const StageRun& run) {
    std::ostream& out = run.out ? *run.out : std::cerr;
    const GanNetworks nets(main, vg, cg, stage);
    fs::create_directories(run.dir);
    const auto settings = stageSettings(stage, seed, data, main);
    torch::manual_seed(seed);
    if (data.av_data.empty())
        throw stageError(main, stage,
                         "the transformation stage learns from videos with sound: give --av-data");
    freezeVqvae(vg, nets);
    torch::nn::Module& g_module = *main.node(nets.G).module();
    torch::nn::Module& d_module = *cg.node(nets.D).module();
    for (auto* m : {&g_module, &d_module})
        for (auto& p : m->parameters())
            p.set_requires_grad(true);

    GanFit fit(main_exec, vex, cex, nets, g_module, d_module, stage, seed);
    auto pairs = pairFrames(main, main_exec, nets, stage, data);
    const int64_t n = pairs.n;
    auto [images, target] = imagesAndTargets(vg, vex, nets, pairs.frames);
    out << "stage " << stage.name << ": " << n << " frames paired with " << fixedText(stage.audio_seconds, 2)
        << " s of audio; G mode " << nets.mode << "\n";
    fit.setData(std::move(pairs), images, target, codebookOf(vg, nets.vq));

    auto [train_idx, val_idx] = holdOut(n, stage.validation_fraction, seed);
    auto g_opt = makeOptimizer(g_module.parameters(), stage.optimizer);
    auto d_opt = makeOptimizer(d_module.parameters(), stage.critic_optimizer);
    Checkpoint checkpoint(Checkpoint::Owner::stage);
    checkpoint.addModule(nets.g_id, g_module);
    checkpoint.addModule(nets.d_id, d_module);
    checkpoint.addOptimizer("generator", *g_opt);
    checkpoint.addOptimizer("critic", *d_opt);
    const RunFolder folder(run.dir, Checkpoint::Owner::stage);
    folder.open(run.resume);
    const auto resumed = folder.start(run.resume, checkpoint, settings, true);

    for (int epoch = resumed ? resumed->epoch + 1 : 1; epoch <= stage.epochs; ++epoch) {
        const auto t0 = std::chrono::steady_clock::now();
        const GanSums sums = fit.trainEpoch(epoch, train_idx, *g_opt, *d_opt);
        nlohmann::json line = ganRecord(epoch, sums);
        std::string val_text;
        if (!val_idx.empty()) {
            auto [reg, acc] = fit.evaluate(val_idx);
            line["val_regression"] = metrics::logNumber(reg);
            line["val_index_accuracy"] = metrics::logNumber(acc);
            val_text = "  held-out regression " + fixedText(reg, 4) +
                       (std::isfinite(acc) ? "  codes right " + fixedText(100.0 * acc, 1) + " %" : "");
        }
        line["seconds"] = secondsSince(t0);
        folder.endEpoch(line, checkpoint, settings, {epoch, {}});
        out << "stage " << stage.name << " epoch " << epoch << "/" << stage.epochs << "  critic "
            << fixedText(line["critic_loss"].get<double>(), 3) << "  W "
            << fixedText(line["wasserstein"].get<double>(), 3) << "  GP "
            << fixedText(line["gradient_penalty"].get<double>(), 3) << "  G "
            << fixedText(line["generator_loss"].get<double>(), 3) << val_text << "  "
            << fixedText(secondsSince(t0), 1) << " s" << std::endl;
    }
    g_module.eval();
    d_module.eval();
    finishPlots(run, "Transformation network stage (WGAN-GP)",
                {{"critic", {"critic_loss", "wasserstein", "gradient_penalty"}},
                 {"generator", {"generator_loss", "adversarial", "regression", "image_loss"}},
                 {"held-out", {"val_regression", "val_index_accuracy"}}});
    return finishStage(run, settings, ganSummary(fit, n, val_idx, nets.mode),
                       {{nets.g_id, &g_module}, {nets.d_id, &d_module}}, main, cg);
}

} // namespace avgraph::host::training
