#include "nodes/features/logmel_analysis.h"

#include "nodes/features/spectral_params.h"

namespace avgraph::nodes {

LogMelAnalysis::LogMelAnalysis(const StftSettings& stft, const MelSettings& mel, const DbSettings& db)
    : stft_(stft), mel_(mel), db_(db), stream_(stft) {}

torch::Tensor LogMelAnalysis::offline(const torch::Tensor& audio, double sample_rate) {
    checkMelRange(sample_rate, mel_);
    // The filterbank goes into the STFT so that the CPU path applies it while each chunk's spectrum is in
    // cache.
    return powerToDb(spectrogram(audio, window(audio), stft_, &filterbank(sample_rate)), db_);
}

torch::Tensor LogMelAnalysis::push(const torch::Tensor& block, double sample_rate, bool end) {
    checkMelRange(sample_rate, mel_);
    DbSettings unclipped = db_;
    unclipped.top_db.reset();
    const Filterbank& mel = filterbank(sample_rate);
    auto power = stream_.push(block, window(block), &mel);
    if (end)
        power = torch::cat({power, stream_.finish(window(block), &mel)}, -1);
    return powerToDb(power, unclipped);
}

void LogMelAnalysis::prepare(double sample_rate) {
    checkMelRange(sample_rate, mel_);
    filterbank(sample_rate);
}

const torch::Tensor& LogMelAnalysis::window(const torch::Tensor& like) {
    return windows_.get(like.options(), 0.0, stft_.n_fft, [&] { return stftWindow(stft_, torch::kFloat64); });
}

const Filterbank& LogMelAnalysis::filterbank(double sample_rate) {
    auto it = filterbanks_.find(sample_rate);
    if (it == filterbanks_.end())
        it = filterbanks_.emplace(sample_rate, Filterbank(melFilterbank(sample_rate, stft_.n_fft, mel_)))
                 .first;
    return it->second;
}

} // namespace avgraph::nodes
