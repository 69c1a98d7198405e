#pragma once
/**
 * The feature nodes. features.stft, features.mel, features.power_to_db, features.logmel, features.mfcc,
 * features.delta and features.cqt reproduce librosa 0.10, features.gammatone the gammatone package,
 * within the tolerances of ../shared/golden/README.md. Their DSP is in spectral.h (with the CPU path in
 * cpu_spectrum.h), cepstral.h, constant_q.h and gammatone.h, their shared parameters in
 * spectral_params.h and cepstral_params.h.
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
/** features.mfcc: dB mel spectrum -> MFCC, as librosa.feature.mfcc(S=...). */
NodeSpec mfccNodeSpec();
/** features.delta: frames -> their local derivative, as librosa.feature.delta. */
NodeSpec deltaNodeSpec();

/** features.cqt: audio -> constant-Q magnitudes, as librosa.cqt, pseudo_cqt or hybrid_cqt. */
NodeSpec cqtNodeSpec();
/** features.gammatone: audio -> gammatonegram, as the gammatone package's gtgram or fft_gtgram. */
NodeSpec gammatoneNodeSpec();

/** Adds every feature node type. */
void registerFeatureNodes(Registry& registry);

} // namespace avgraph::nodes
