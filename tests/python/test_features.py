"""The librosa-compatible functions against librosa's own outputs (../shared/golden), at the
golden README's tolerances (section 5), and avgraph.load against the WAVs read with numpy."""

import numpy as np
import pytest

import avgraph
from conftest import assert_close, golden, read_float_wav, wav

CLIPS = ["clip1_flute", "sine440_1000"]
STFT_RATES = [16000, 44100]
CQT_RATES = [16000, 22050]
COMMON = dict(n_fft=1024, hop_length=512)


def audio(clip, sr):
    y, rate = avgraph.load(wav(clip, sr), sr=None)
    assert rate == sr
    return y


@pytest.mark.parametrize("clip", CLIPS)
@pytest.mark.parametrize("sr", [16000, 22050, 44100])
def test_load_gives_the_files_samples_at_their_rate(clip, sr):
    y, rate = avgraph.load(wav(clip, sr), sr=None)
    assert rate == sr and y.dtype == np.float32 and y.ndim == 1
    np.testing.assert_array_equal(y, read_float_wav(wav(clip, sr)))


def test_load_resamples_to_librosas_default_rate():
    y, rate = avgraph.load(wav("sine440_1000", 44100))
    assert rate == 22050
    assert len(y) == round(2.0 * 22050)
    # The two tones survive resampling: the spectrum peaks at 440 and 1000 Hz.
    spectrum = np.abs(np.fft.rfft(y))
    peaks = sorted(np.argsort(spectrum)[-2:] * 22050 / len(y))
    assert peaks == pytest.approx([440.0, 1000.0], abs=1.0)


@pytest.mark.parametrize("clip", CLIPS)
@pytest.mark.parametrize("sr", STFT_RATES)
@pytest.mark.parametrize("pad_mode", ["constant", "reflect"])
def test_stft(clip, sr, pad_mode):
    power = avgraph.stft(audio(clip, sr), pad_mode=pad_mode, **COMMON) ** 2
    expected = golden(clip, sr, f"stft_power_pad-{pad_mode}")
    assert_close(power, expected, 1e-6 * np.abs(expected).max(), 1e-4)


@pytest.mark.parametrize("clip", CLIPS)
@pytest.mark.parametrize("sr", STFT_RATES)
@pytest.mark.parametrize("n_mels", [64, 128])
@pytest.mark.parametrize("scale", ["slaney", "htk-nonorm"])
def test_melspectrogram_and_power_to_db(clip, sr, n_mels, scale):
    htk = scale == "htk-nonorm"
    mel = avgraph.feature.melspectrogram(y=audio(clip, sr), sr=sr, n_mels=n_mels, htk=htk,
                                         norm=None if htk else "slaney", **COMMON)
    expected = golden(clip, sr, f"mel{n_mels}_{scale}")
    assert_close(mel, expected, 2e-5 * np.abs(expected).max(), 1e-3)
    assert_close(avgraph.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80.0),
                 golden(clip, sr, f"logmel{n_mels}_{scale}_top80"), 0.01)


@pytest.mark.parametrize("clip", CLIPS)
@pytest.mark.parametrize("sr", STFT_RATES)
def test_melspectrogram_from_a_power_spectrogram(clip, sr):
    S = avgraph.stft(audio(clip, sr), **COMMON) ** 2
    expected = golden(clip, sr, "mel64_slaney")
    assert_close(avgraph.feature.melspectrogram(S=S, sr=sr, n_mels=64), expected, 2e-5 * np.abs(expected).max(),
                 1e-3)


@pytest.mark.parametrize("clip", CLIPS)
@pytest.mark.parametrize("sr", STFT_RATES)
@pytest.mark.parametrize("n_mfcc", [20, 40])
def test_mfcc(clip, sr, n_mfcc):
    assert_close(avgraph.feature.mfcc(y=audio(clip, sr), sr=sr, n_mfcc=n_mfcc, **COMMON),
                 golden(clip, sr, f"mfcc{n_mfcc}"), 5e-3)


@pytest.mark.parametrize("clip", CLIPS)
@pytest.mark.parametrize("sr", STFT_RATES)
def test_delta_of_the_golden_features(clip, sr):
    logmel = golden(clip, sr, "logmel64_slaney_top80")
    mfcc = golden(clip, sr, "mfcc20")
    # The 44.1 kHz goldens are the first 256 frames of longer arrays: the deltas of the trimmed arrays
    # differ from the goldens' in the last width/2 frames, which saw the frames cut off.
    def check(delta, name, width):
        expected = golden(clip, sr, name)
        if sr == 44100:
            delta, expected = delta[..., : -(width // 2)], expected[..., : -(width // 2)]
        assert_close(delta, expected, 1e-4)

    for order in (1, 2):
        check(avgraph.feature.delta(logmel, width=9, order=order), f"delta{order}_logmel64-slaney-top80_w9", 9)
        check(avgraph.feature.delta(mfcc, width=9, order=order), f"delta{order}_mfcc20_w9", 9)
    check(avgraph.feature.delta(logmel, width=5, mode="nearest"), "delta1_logmel64-slaney-top80_w5_nearest", 5)


@pytest.mark.parametrize("clip", CLIPS)
@pytest.mark.parametrize("sr", CQT_RATES)
def test_cqt(clip, sr):
    y = audio(clip, sr)
    expected = golden(clip, sr, "cqt_mag")
    assert_close(avgraph.cqt(y, sr=sr), expected, 1e-4 * expected.max())
    expected = golden(clip, sr, "cqt_mag_resfft_sparsity0")
    assert_close(avgraph.cqt(y, sr=sr, sparsity=0.0, res_type="fft"), expected, 1e-4 * expected.max(), 1e-3)
    expected = golden(clip, sr, "pseudo_cqt_mag")
    assert_close(avgraph.pseudo_cqt(y, sr=sr), expected, 1e-4 * expected.max(), 1e-3)


def test_multichannel_audio_keeps_librosas_layout():
    y = audio("clip1_flute", 16000)
    both = avgraph.feature.melspectrogram(y=np.stack([y, 0.5 * y]), sr=16000, n_mels=64, **COMMON)
    one = avgraph.feature.melspectrogram(y=y, sr=16000, n_mels=64, **COMMON)
    assert both.shape == (2,) + one.shape
    np.testing.assert_allclose(both[0], one, rtol=1e-6)
    np.testing.assert_allclose(both[1], 0.25 * one, rtol=1e-5, atol=1e-9 * one.max())
