// The epochs of a classifier's training (host/training/epoch_loop.h).
#include "host/training/epoch_loop.h"

#include "graph/error.h"
#include "host/metrics/training_log.h"
#include "host/progress_bar.h"
#include "host/training/batcher.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <iomanip>

namespace avgraph::host::training {

namespace {

using Clock = std::chrono::steady_clock;

/**
 * The key validation orders its clips by, the sizes of their front-end values: clips of one key form
 * batches together, the keys in their order as strings.
 */
std::string sizesKey(const std::map<std::string, Ports>& features) {
    std::string key;
    for (const auto& [id, ports] : features)
        for (const auto& [port, v] : ports)
            for (auto d : v.tensor.sizes())
                key += std::to_string(d) + ",";
    return key;
}

} // namespace

torch::Tensor sampleLoss(const torch::Tensor& logits, const torch::Tensor& targets, const std::string& loss) {
    const bool positions = logits.dim() == 3;
    auto logp = torch::log_softmax(logits, -1);
    auto t = positions ? targets.unsqueeze(1) : targets;
    auto per = -(t * logp).sum(-1);
    if (loss == "kl")
        per = per + torch::xlogy(t, t).sum(-1);
    return positions ? per.mean(1) : per;
}

torch::Tensor predictedClass(const torch::Tensor& logits) {
    return logits.dim() == 3 ? torch::softmax(logits, -1).mean(1).argmax(1) : logits.argmax(1);
}

size_t stepsPerEpoch(size_t clips, size_t batch, size_t min_batch) {
    const size_t steps = clips / batch + (clips % batch >= min_batch ? 1 : 0);
    return std::max<size_t>(steps, 1);
}

nlohmann::json logRecord(const EpochReport& r) {
    nlohmann::json record = {{"epoch", r.epoch},
                             {"train_loss", r.totals.loss()},
                             {"train_accuracy", r.totals.accuracy()},
                             {"val_loss", metrics::logNumber(r.val_loss)},
                             {"val_accuracy", metrics::logNumber(r.val_accuracy)},
                             {"lr", r.totals.lr},
                             {"seconds", r.seconds},
                             {"samples_per_second", r.totals.samplesPerSecond()}};
    if (!r.precision.empty()) {
        record["precision"] = r.precision;
        record["precision_reason"] = r.precision_reason;
    }
    if (r.loss_scale > 0.0)
        record["loss_scale"] = r.loss_scale;
    return record;
}

void printEpochLine(std::ostream& out, const EpochReport& r, int epochs) {
    out << "epoch " << r.epoch << "/" << epochs << "  loss " << fixedText(r.totals.loss(), 4) << "  acc "
        << fixedText(100.0 * r.totals.accuracy(), 1) << "%";
    if (r.val_loss)
        out << "  val loss " << fixedText(*r.val_loss, 4) << "  val acc "
            << fixedText(100.0 * *r.val_accuracy, 1) << "%";
    out << "  lr " << std::setprecision(3) << r.totals.lr << "  " << fixedText(r.seconds, 1) << " s ("
        << fixedText(r.totals.samplesPerSecond(), 1) << " samples/s)" << (r.stopped ? "  early stop" : "")
        << std::endl;
}

EpochLoop::EpochLoop(const TrainConfig& config, TrainedPart& part, const BatchMaker& batches,
                     const Collective& collective, torch::optim::Optimizer& optimizer,
                     std::vector<torch::Tensor> parameters, GradScaler* scaler)
    : config_(config), part_(part), batches_(batches), collective_(collective), optimizer_(optimizer),
      parameters_(std::move(parameters)), scaler_(scaler) {}

void EpochLoop::step(const TrainingBatch& batch, const std::vector<std::string>& classes,
                     double epoch_position, EpochTotals& totals) {
    const auto start = Clock::now();
    totals.lr = learningRate(config_, epoch_position);
    for (auto& group : optimizer_.param_groups())
        group.options().set_lr(totals.lr);
    optimizer_.zero_grad();
    // float32 logits whatever the precision (a network node's output is cast back): the loss is float32.
    auto logits = part_.logits(batch, true, classes);
    auto per = sampleLoss(logits, batch.targets.to(logits.device(), logits.scalar_type()), config_.loss);
    auto loss = per.sum() / static_cast<double>(batch.global_size);
    (scaler_ ? scaler_->scale(loss) : loss).backward();
    sumGradients(collective_, parameters_);
    if (!scaler_ || scaler_->unscale(parameters_)) // fp16: a step whose gradients overflowed is skipped
        optimizer_.step();
    totals.step_seconds += secondsSince(start);
    totals.loss_sum += per.detach().sum().item<double>();
    totals.correct += (predictedClass(logits.detach()).cpu() == batch.labels).sum().item<double>();
    totals.seen += static_cast<double>(batch.targets.size(0));
}

EpochTotals EpochLoop::train(const Dataset& ds, FeatureCache& cache, const std::vector<size_t>& clips,
                             int epoch, size_t steps, bool progress, const std::filesystem::path& run_dir) {
    part_.setTraining(true);
    torch::manual_seed(static_cast<uint64_t>(config_.seed) * 1000003ULL +
                       static_cast<uint64_t>(epoch) * 7919ULL +
                       static_cast<uint64_t>(collective_.rank)); // dropout masks
    std::vector<size_t> order = clips;
    auto shuffle_rng = stepGenerator(config_.seed, epoch, -1, 2);
    std::shuffle(order.begin(), order.end(), shuffle_rng);

    const auto batch_size = static_cast<size_t>(config_.batch_size);
    EpochTotals totals;
    ProgressBar bar(steps, progress && stderrIsTerminal());
    for (size_t s = 0; s < steps; ++s) {
        const size_t begin = s * batch_size, end = std::min(order.size(), begin + batch_size);
        const std::vector<size_t> step_clips(order.begin() + static_cast<std::ptrdiff_t>(begin),
                                             order.begin() + static_cast<std::ptrdiff_t>(end));
        const TrainingBatch batch =
            batches_.make(ds, cache, step_clips, epoch, static_cast<int64_t>(s), true, collective_);
        step(batch, ds.classes, (epoch - 1) + static_cast<double>(s) / static_cast<double>(steps), totals);
        if (!std::isfinite(totals.loss_sum))
            throw fileError(run_dir, "the training loss became " + std::to_string(totals.loss_sum) +
                                         " in epoch " + std::to_string(epoch) + ", step " +
                                         std::to_string(s + 1) + "; lower /train/optimizer/lr");
        bar.update(s + 1, "epoch " + std::to_string(epoch) + "/" + std::to_string(config_.epochs) + " loss " +
                              fixedText(totals.loss(), 3) + " acc " +
                              fixedText(100.0 * totals.accuracy(), 1) + "%");
    }
    bar.finish();
    const auto sums =
        sumOverProcesses(collective_, {totals.loss_sum, totals.correct, totals.seen, totals.step_seconds});
    totals.loss_sum = sums[0];
    totals.correct = sums[1];
    totals.seen = sums[2];
    totals.step_seconds = sums[3] / collective_.world_size;
    return totals;
}

std::pair<double, double> EpochLoop::validate(const Dataset& ds, FeatureCache& cache,
                                              const std::vector<size_t>& clips) {
    part_.setTraining(false);
    torch::NoGradGuard no_grad;
    const Collective one; // every process validates every clip: same weights, same answer, no messages
    double loss = 0.0, correct = 0.0;
    ShapeBatcher<size_t> batcher(
        static_cast<size_t>(config_.batch_size), [&](const std::vector<size_t>& batch_clips) {
            const TrainingBatch batch = batches_.make(ds, cache, batch_clips, 0, 0, false, one);
            auto logits = part_.logits(batch, false, ds.classes).to(torch::kCPU, torch::kFloat);
            loss += sampleLoss(logits, batch.targets, "cross_entropy").sum().item<double>();
            correct += (predictedClass(logits) == batch.labels).sum().item<double>();
        });
    // Clips of one shape together, whatever their order (clips of other lengths go in other batches).
    std::vector<std::pair<std::string, size_t>> keyed;
    for (size_t i : clips)
        keyed.emplace_back(sizesKey(cache.get(ds, i)), i);
    std::stable_sort(keyed.begin(), keyed.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [key, clip] : keyed)
        batcher.add(clip, std::move(key));
    batcher.flush();
    const auto count = static_cast<double>(clips.size());
    return {loss / count, correct / count};
}

} // namespace avgraph::host::training
