#pragma once
/**
 * Spectral feature nodes: features.stft, features.mel, features.power_to_db and features.logmel,
 * which reproduce librosa 0.10, and features.gammatone, which reproduces the gammatone package, within
 * the tolerances of ../shared/golden/README.md. Their DSP is in spectral.h and gammatone.h, their shared
 * parameters in spectral_params.h.
 */
#include "graph/registry.h"

namespace avgraph::nodes {

/** features.stft: audio -> |STFT|^power, as librosa.stft. */
NodeSpec stftNodeSpec();
/** features.mel: power spectrum -> mel spectrum, as librosa.feature.melspectrogram(S=...). */
NodeSpec melNodeSpec();
/** features.power_to_db: power -> dB, as librosa.power_to_db. */
NodeSpec powerToDbNodeSpec();
/** features.logmel: audio -> log-mel in one node (stft, mel and power_to_db). */
NodeSpec logMelNodeSpec();
/** features.gammatone: audio -> gammatonegram, as the gammatone package's gtgram or fft_gtgram. */
NodeSpec gammatoneNodeSpec();

/** Adds every feature node type. */
void registerFeatureNodes(Registry& registry);

} // namespace avgraph::nodes
