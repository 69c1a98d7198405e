// Stage 1 of the IVF method: the VQ-VAE on video frames and photographs (host/training/staged_recipe.h).
#include "host/training/staged_recipe.h"

#include "graph/error.h"
#include "host/datasets/av_dataset.h"
#include "host/metrics/training_log.h"
#include "host/progress_bar.h"
#include "host/training/optimizer.h"
#include "host/training/run_folder.h"
#include "host/training/stage_support.h"
#include "io/media/media_file.h"
#include "io/message_text.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <numeric>
#include <tuple>

namespace avgraph::host::training {

namespace fs = std::filesystem;

namespace {

/** Square images as [N, 3, size, size] uint8: video frames at `fps` and/or photographs. */
torch::Tensor collectImages(const StageConfig& stage, const AudioVisualData& data, const Graph& where) {
    std::vector<torch::Tensor> images;
    const bool want_av = std::find(stage.data.begin(), stage.data.end(), "av") != stage.data.end();
    const bool want_images = std::find(stage.data.begin(), stage.data.end(), "images") != stage.data.end();
    if (want_av && !data.av_data.empty()) {
        auto av = readAvDataset(data.av_data, data.av_format, 1);
        std::vector<size_t> all(av.clips.size());
        std::iota(all.begin(), all.end(), 0);
        for (size_t c : av.train.empty() ? all : av.train) {
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
        throw stageError(where, stage,
                         "no images to train on: give --av-data (videos) and/or --images (a folder of "
                         "photographs) as its \"data\" (" +
                             joinNames(stage.data) + ") asks");
    return torch::stack(images);
}

/** exp(entropy) of the code usage: K when every code is used equally, 1 when one code takes all. */
double perplexity(const torch::Tensor& counts) {
    auto p = counts.to(torch::kDouble) / std::max(1.0, counts.sum().item<double>());
    return std::exp(-torch::xlogy(p, p).sum().item<double>());
}

/** The VQ-VAE preset's networks (encoder -> codebook -> decoder) and what feeds the encoder. */
struct VqvaeNetworks {
    size_t enc = 0, vq = 0, dec = 0, pre = 0;
    std::string enc_id, vq_id, dec_id, pre_id, pre_port;
    const PresetInput* input = nullptr;

    VqvaeNetworks(const Graph& g, const StageConfig& stage)
        : enc(nodeOfType(g, "models.vqvae_encoder", stage, g)),
          vq(nodeOfType(g, "models.vq_codebook", stage, g)),
          dec(nodeOfType(g, "models.vqvae_decoder", stage, g)), input(&onlyInput(g, Kind::Image, stage, g)) {
        std::tie(pre, pre_port) = sourceOf(g, enc);
        enc_id = g.vertex(enc).id;
        vq_id = g.vertex(vq).id;
        dec_id = g.vertex(dec).id;
        pre_id = g.vertex(pre).id;
        if (sourceOf(g, vq).first != enc || sourceOf(g, dec).first != vq)
            throw stageError(g, stage,
                             g.preset().file().string() + " must wire encoder -> codebook -> decoder");
    }
};

/** The VQ-VAE's networks fitted on the encoder's inputs `x` (every image, computed once). */
class VqvaeFit {
public:
    VqvaeFit(Graph& g, Executor& ex, const VqvaeNetworks& nets, Value x, const StageConfig& stage)
        : ex_(ex), nets_(nets), x_(std::move(x)), codes_(g.node(nets.vq).params().integer("codes")),
          batch_size_(stage.batch_size), networks_{{nets.enc_id, g.node(nets.enc).module()},
                                                   {nets.vq_id, g.node(nets.vq).module()},
                                                   {nets.dec_id, g.node(nets.dec).module()}} {}

    const std::map<std::string, torch::nn::Module*>& networks() const { return networks_; }
    int64_t codes() const { return codes_; }
    const torch::Tensor& inputs() const { return x_.tensor; }

    /** Reconstruction MSE, the codebook's loss and its code usage on the images `idx`. */
    std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> forward(const std::vector<int64_t>& idx,
                                                                    bool training) {
        Ports given{{nets_.pre_port, x_.withTensor(x_.tensor.index_select(0, indexTensor(idx)))}};
        RunOptions options;
        options.concurrent = false;
        options.training = training;
        auto o = ex_.runPart({}, {{nets_.pre_id, given}}, {nets_.dec_id, nets_.vq_id}, options);
        auto mse = torch::mse_loss(o.at(nets_.dec_id).at("image").tensor, given.at(nets_.pre_port).tensor);
        return {mse, o.at(nets_.vq_id).at("loss").tensor, o.at(nets_.vq_id).at("usage").tensor};
    }

    /** The held-out images' mean reconstruction MSE and code usage, in eval mode. */
    std::pair<double, torch::Tensor> evaluate(const std::vector<int64_t>& idx) {
        for (const auto& [id, m] : networks_)
            m->eval();
        torch::NoGradGuard no_grad;
        double se = 0.0;
        torch::Tensor usage = torch::zeros({codes_}, torch::kDouble);
        for (size_t i = 0; i < idx.size(); i += static_cast<size_t>(batch_size_)) {
            std::vector<int64_t> b(idx.begin() + static_cast<std::ptrdiff_t>(i),
                                   idx.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                     idx.size(), i + static_cast<size_t>(batch_size_))));
            auto [mse, vq_loss, counts] = forward(b, false);
            se += mse.item<double>() * static_cast<double>(b.size());
            usage += counts.to(torch::kDouble);
        }
        return {se / static_cast<double>(idx.size()), usage};
    }

    /** One epoch over `batches`: the log record's training keys (loss, reconstruction, codebook usage). */
    nlohmann::json trainEpoch(const std::vector<std::vector<int64_t>>& batches, size_t images,
                              double variance, torch::optim::Optimizer& optimizer) {
        for (const auto& [id, m] : networks_)
            m->train();
        double sum_loss = 0.0, sum_recon = 0.0, sum_vq = 0.0;
        torch::Tensor usage = torch::zeros({codes_}, torch::kDouble);
        for (const auto& b : batches) {
            auto [mse, vq_loss, counts] = forward(b, true);
            auto loss = mse / variance + vq_loss;
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            const auto w = static_cast<double>(b.size());
            sum_loss += loss.item<double>() * w;
            sum_recon += mse.item<double>() * w;
            sum_vq += vq_loss.item<double>() * w;
            usage += counts.detach().to(torch::kDouble);
        }
        const auto m = static_cast<double>(images);
        return {{"train_loss", sum_loss / m},
                {"recon_mse", sum_recon / m},
                {"vq_loss", sum_vq / m},
                {"perplexity", perplexity(usage)},
                {"dead_codes", (usage == 0).sum().item<int64_t>()}};
    }

private:
    Executor& ex_;
    const VqvaeNetworks& nets_;
    Value x_;
    int64_t codes_;
    int batch_size_;
    std::map<std::string, torch::nn::Module*> networks_;
};

/** The images as the encoder sees them (after the preset's resize and normalisation). */
Value encoderInputs(Executor& ex, const Graph& g, const VqvaeNetworks& nets, const torch::Tensor& images) {
    const Value raw = gridValue(images.to(torch::kFloat), Kind::Image);
    Value x;
    if (g.vertex(nets.pre).is_input) {
        x = raw;
    } else {
        torch::NoGradGuard no_grad;
        x = ex.runPart({{nets.input->name, raw}}, {}, {nets.pre_id}).at(nets.pre_id).at(nets.pre_port);
    }
    x.tensor = x.tensor.contiguous();
    return x;
}

/** The stage's summary for stage.json, with the held-out figures of the trained networks. */
nlohmann::json vqvaeSummary(VqvaeFit& fit, int64_t images, const std::vector<int64_t>& val_idx,
                            double variance) {
    nlohmann::json summary = {
        {"kind", "vqvae"}, {"images", images}, {"held_out", val_idx.size()}, {"variance", variance}};
    if (!val_idx.empty()) {
        auto [val_mse, val_usage] = fit.evaluate(val_idx);
        summary["val_recon_mse"] = val_mse;
        summary["val_perplexity"] = perplexity(val_usage);
        summary["val_dead_codes"] = (val_usage == 0).sum().item<int64_t>();
    }
    return summary;
}

} // namespace

StageResult trainVqvaeStage(Graph& g, Executor& ex, const StageConfig& stage, unsigned seed,
                            const AudioVisualData& data, const StageRun& run) {
    std::ostream& out = run.out ? *run.out : std::cerr;
    const VqvaeNetworks nets(g, stage);
    fs::create_directories(run.dir);
    const auto settings = stageSettings(stage, seed, data, g);
    torch::manual_seed(seed);
    for (size_t v : {nets.enc, nets.vq, nets.dec})
        for (auto& p : g.node(v).module()->parameters())
            p.set_requires_grad(true);

    const auto images = collectImages(stage, data, g);
    const int64_t n = images.size(0);
    out << "stage " << stage.name << ": " << n << " images of " << stage.image_size << "x" << stage.image_size
        << "\n";
    VqvaeFit fit(g, ex, nets, encoderInputs(ex, g, nets, images), stage);
    auto [train_idx, val_idx] = holdOut(n, stage.validation_fraction, seed);
    if (train_idx.empty())
        throw stageError(g, stage, "no training images left after holding out validation_fraction");
    // Reconstruction error is reported relative to the data's variance (van den Oord et al.).
    const double variance =
        std::max(1e-12, fit.inputs().index_select(0, indexTensor(train_idx)).var().item<double>());

    std::vector<torch::Tensor> params;
    for (const auto& [id, m] : fit.networks())
        for (auto& p : m->parameters())
            params.push_back(p);
    auto optimizer = makeOptimizer(params, stage.optimizer);
    Checkpoint checkpoint(Checkpoint::Owner::stage);
    for (const auto& [id, m] : fit.networks())
        checkpoint.addModule(id, *m);
    checkpoint.addOptimizer("vqvae", *optimizer);
    const RunFolder folder(run.dir, Checkpoint::Owner::stage);
    folder.open(run.resume);
    const auto resumed = folder.start(run.resume, checkpoint, settings, true);
    const int first = resumed ? resumed->epoch + 1 : 1;
    if (first == 1 && !val_idx.empty()) { // where the held-out error starts, for the record
        auto [mse0, usage0] = fit.evaluate(val_idx);
        metrics::appendLogRecord(folder.log(), {{"epoch", 0},
                                                {"val_recon_mse", metrics::logNumber(mse0)},
                                                {"val_loss", metrics::logNumber(mse0 / variance)},
                                                {"val_perplexity", metrics::logNumber(perplexity(usage0))}});
    }

    for (int epoch = first; epoch <= stage.epochs; ++epoch) {
        const auto t0 = std::chrono::steady_clock::now();
        auto line = fit.trainEpoch(epochBatches(train_idx, stage.batch_size, seed, epoch), train_idx.size(),
                                   variance, *optimizer);
        line["epoch"] = epoch;
        std::string val_text;
        if (!val_idx.empty()) {
            auto [val_mse, val_usage] = fit.evaluate(val_idx);
            line["val_recon_mse"] = metrics::logNumber(val_mse);
            line["val_loss"] = metrics::logNumber(val_mse / variance);
            line["val_perplexity"] = perplexity(val_usage);
            val_text = "  held-out recon " + fixedText(val_mse, 5);
        }
        line["lr"] = stage.optimizer.lr;
        line["seconds"] = secondsSince(t0);
        folder.endEpoch(line, checkpoint, settings, {epoch, {}});
        out << "stage " << stage.name << " epoch " << epoch << "/" << stage.epochs << "  loss "
            << fixedText(line["train_loss"].get<double>(), 4) << "  recon "
            << fixedText(line["recon_mse"].get<double>(), 5) << val_text << "  perplexity "
            << fixedText(line["perplexity"].get<double>(), 2) << "/" << fit.codes() << "  dead codes "
            << line["dead_codes"].get<int64_t>() << "  " << fixedText(secondsSince(t0), 1) << " s"
            << std::endl;
    }
    for (const auto& [id, m] : fit.networks())
        m->eval();
    finishPlots(run, "VQ-VAE stage",
                {{"loss (reconstruction / variance + codebook + commitment)", {"train_loss", "val_loss"}},
                 {"codebook perplexity", {"perplexity", "val_perplexity"}}});
    return finishStage(run, settings, vqvaeSummary(fit, n, val_idx, variance), fit.networks(), g, g);
}

} // namespace avgraph::host::training
