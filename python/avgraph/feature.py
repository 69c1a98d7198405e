"""``librosa.feature``'s melspectrogram, mfcc and delta, computed by avgraph's feature nodes."""

import numpy as np

from . import _avgraph
from ._features import _audio, _graph, _hop, _run, _stft_params, _window

__all__ = ["melspectrogram", "mfcc", "delta"]


def _mel_params(sr, n_mels=128, fmin=0.0, fmax=None, htk=False, norm="slaney", dtype=None):
    if norm is None:
        norm = "none"
    if norm not in ("slaney", "none"):
        raise _avgraph.Error(f"norm={norm!r}: the mel filterbank's norm is 'slaney' or None")
    return {"n_mels": int(n_mels), "fmin": float(fmin), "fmax": None if fmax is None else float(fmax),
            "htk": bool(htk), "norm": norm}


def melspectrogram(*, y=None, sr=22050, S=None, n_fft=2048, hop_length=512, win_length=None, window="hann",
                   center=True, pad_mode="constant", power=2.0, **kwargs):
    """``librosa.feature.melspectrogram``: from audio ``y`` (an STFT with ``power``, then the mel
    filterbank) or from a power spectrogram ``S``. Shape ``[n_mels, frames]``."""
    mel = {"type": "features.mel", "params": _mel_params(sr, **kwargs)}
    if S is not None:
        S = np.asarray(S)
        g = _graph({"mel": mel}, [["x", "mel"]], "mel", "spectrum")
        return _run(g, S, sr)
    if y is None:
        raise _avgraph.Error("melspectrogram: give y (audio) or S (a power spectrogram)")
    _window(window)
    stft = {"type": "features.stft",
            "params": _stft_params(n_fft, _hop(hop_length, win_length, n_fft), win_length, center, pad_mode, power)}
    g = _graph({"stft": stft, "mel": mel}, [["x", "stft"], ["stft", "mel"]], "mel")
    return _run(g, _audio(y), sr)


def mfcc(*, y=None, sr=22050, S=None, n_mfcc=20, dct_type=2, norm="ortho", lifter=0, **kwargs):
    """``librosa.feature.mfcc``: the DCT-II of the log-mel spectrogram of ``y`` (made with
    ``melspectrogram``'s parameters in ``kwargs``, then ``power_to_db`` with top_db 80), or of a dB
    mel spectrogram ``S``. Shape ``[n_mfcc, frames]``."""
    params = {"n_mfcc": int(n_mfcc), "dct_type": int(dct_type), "norm": "none" if norm is None else norm,
              "lifter": float(lifter)}
    if S is not None:
        g = _graph({"mfcc": {"type": "features.mfcc", "params": params}}, [["x", "mfcc"]], "mfcc", "spectrum")
        return _run(g, np.asarray(S), sr)
    if y is None:
        raise _avgraph.Error("mfcc: give y (audio) or S (a log-power mel spectrogram)")
    window = kwargs.pop("window", "hann")
    _window(window)
    n_fft = kwargs.pop("n_fft", 2048)
    win_length = kwargs.pop("win_length", None)
    params.update(_stft_params(n_fft, _hop(kwargs.pop("hop_length", 512), win_length, n_fft), win_length,
                               kwargs.pop("center", True), kwargs.pop("pad_mode", "constant"),
                               kwargs.pop("power", 2.0)))
    mel = _mel_params(sr, **kwargs)
    mel["mel_norm"] = mel.pop("norm")
    params.update(mel)
    g = _graph({"mfcc": {"type": "features.mfcc", "params": params}}, [["x", "mfcc"]], "mfcc")
    return _run(g, _audio(y), sr)


def delta(data, *, width=9, order=1, axis=-1, mode="interp", **kwargs):
    """``librosa.feature.delta``: the Savitzky-Golay derivative of ``data`` along ``axis``."""
    if kwargs:
        raise _avgraph.Error(f"delta: avgraph takes no {', '.join(kwargs)} (modes 'interp' and 'nearest' only)")
    data = np.moveaxis(np.asarray(data), axis, -1)
    params = {"width": int(width), "order": int(order), "mode": mode}
    g = _graph({"delta": {"type": "features.delta", "params": params}}, [["x", "delta"]], "delta", "tensor")
    return np.moveaxis(_run(g, data, 0), -1, axis)
