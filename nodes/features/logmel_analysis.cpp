#include "nodes/features/logmel_analysis.h"

#include "nodes/features/spectral_params.h"

namespace avgraph::nodes {

LogMelAnalysis::LogMelAnalysis(const StftSettings& stft, const MelSettings& mel, const DbSettings& db)
    : stft_(stft), mel_(mel), db_(db), stream_(stft) {}

torch::Tensor LogMelAnalysis::offline(const torch::Tensor& audio, double sample_rate) {
    checkMelRange(sample_rate, mel_);
    return powerToDb(toMel(spectrogram(audio, window(audio), stft_), sample_rate), db_);
}

torch::Tensor LogMelAnalysis::push(const torch::Tensor& block, double sample_rate) {
    checkMelRange(sample_rate, mel_);
    DbSettings unclipped = db_;
    unclipped.top_db.reset();
    return powerToDb(toMel(stream_.push(block, window(block)), sample_rate), unclipped);
}

const torch::Tensor& LogMelAnalysis::window(const torch::Tensor& like) {
    return windows_.get(like.options(), 0.0, stft_.n_fft, [&] { return stftWindow(stft_, torch::kFloat64); });
}

torch::Tensor LogMelAnalysis::toMel(const torch::Tensor& power, double sample_rate) {
    const auto& fb = filterbanks_.get(power.options(), sample_rate, stft_.n_fft,
                                      [&] { return melFilterbank(sample_rate, stft_.n_fft, mel_); });
    return applyFilterbank(fb, power);
}

} // namespace avgraph::nodes
