"""librosa 0.10's spectral functions computed by avgraph's feature nodes (docs/python.md lists what is
covered and what differs). Each call builds a one- or two-node graph, kept for the next call with the
same parameters, and runs it on the array."""

import collections
import json

import numpy as np

from . import _avgraph

_GRAPHS = collections.OrderedDict()
_MOST_GRAPHS = 32


def _graph(nodes, edges, output, input_kind="audio"):
    preset = {
        "avgraph": 1,
        "name": "python",
        "inputs": {"x": {"kind": input_kind}},
        "nodes": nodes,
        "edges": edges,
        "outputs": {"out": output},
    }
    key = json.dumps(preset, sort_keys=True)
    graph = _GRAPHS.get(key)
    if graph is None:
        graph = _avgraph.GraphHandle(key, True, "<avgraph python>", [], "cpu", 0, "fp32")
        _GRAPHS[key] = graph
        if len(_GRAPHS) > _MOST_GRAPHS:
            _GRAPHS.popitem(last=False)
    else:
        _GRAPHS.move_to_end(key)
    return graph


def _run(graph, x, sr):
    arrays, _ = graph.run({"x": x}, float(sr))
    return arrays["out"]


def _audio(y):
    y = np.asarray(y)
    if y.ndim not in (1, 2):
        raise _avgraph.Error(f"y: expected mono [n] or multichannel [channels, n] audio, got shape {y.shape}")
    return y


def _hop(hop_length, win_length, n_fft):
    if hop_length is not None:
        return int(hop_length)
    return int((win_length if win_length is not None else n_fft) // 4)


def _window(window):
    if window != "hann":
        raise _avgraph.Error(f"window={window!r}: avgraph's STFT uses the periodic Hann window only")


def _stft_params(n_fft, hop_length, win_length, center, pad_mode, power):
    return {
        "n_fft": int(n_fft),
        "hop_length": int(hop_length),
        "win_length": None if win_length is None else int(win_length),
        "center": bool(center),
        "pad_mode": pad_mode,
        "power": float(power),
    }


def stft(y, *, n_fft=2048, hop_length=None, win_length=None, window="hann", center=True, dtype=None,
         pad_mode="constant"):
    """``np.abs(librosa.stft(y, ...))``: the STFT's magnitude (avgraph computes no complex spectra).
    Shape ``[1 + n_fft/2, frames]`` (``[channels, ...]`` for multichannel ``y``)."""
    _window(window)
    params = _stft_params(n_fft, _hop(hop_length, win_length, n_fft), win_length, center, pad_mode, 1.0)
    g = _graph({"stft": {"type": "features.stft", "params": params}}, [["x", "stft"]], "stft")
    return _run(g, _audio(y), 22050)


def power_to_db(S, *, ref=1.0, amin=1e-10, top_db=80.0):
    """``librosa.power_to_db``: 10 log10(max(amin, S) / max(amin, ref)), clipped top_db below the
    maximum. ``ref`` may be a function of S, as ``np.max``."""
    S = np.asarray(S)
    if callable(ref):
        ref = ref(S)
    params = {"ref": float(ref), "amin": float(amin), "top_db": None if top_db is None else float(top_db)}
    g = _graph({"db": {"type": "features.power_to_db", "params": params}}, [["x", "db"]], "db", "tensor")
    return _run(g, S, 0)


def _cqt(method, y, sr, hop_length, fmin, n_bins, bins_per_octave, tuning, filter_scale, norm, sparsity,
         window, scale, pad_mode, res_type):
    params = {
        "method": method,
        "hop_length": int(hop_length),
        "fmin": None if fmin is None else float(fmin),
        "n_bins": int(n_bins),
        "bins_per_octave": int(bins_per_octave),
        "tuning": float(tuning),
        "filter_scale": float(filter_scale),
        "norm": None if norm is None else float(norm),
        "sparsity": float(sparsity),
        "window": window,
        "scale": bool(scale),
        "pad_mode": pad_mode,
    }
    if method != "pseudo":
        params["res_type"] = res_type
    g = _graph({"cqt": {"type": "features.cqt", "params": params}}, [["x", "cqt"]], "cqt")
    return _run(g, _audio(y), sr)


def cqt(y, *, sr=22050, hop_length=512, fmin=None, n_bins=84, bins_per_octave=12, tuning=0.0, filter_scale=1,
        norm=1, sparsity=0.01, window="hann", scale=True, pad_mode="constant", res_type="soxr_hq", dtype=None):
    """``np.abs(librosa.cqt(y, ...))``: the constant-Q transform's magnitude."""
    return _cqt("full", y, sr, hop_length, fmin, n_bins, bins_per_octave, tuning, filter_scale, norm, sparsity,
                window, scale, pad_mode, res_type)


def pseudo_cqt(y, *, sr=22050, hop_length=512, fmin=None, n_bins=84, bins_per_octave=12, tuning=0.0,
               filter_scale=1, norm=1, sparsity=0.01, window="hann", scale=True, pad_mode="constant", dtype=None):
    """``librosa.pseudo_cqt``: magnitudes of the CQT filters applied to one STFT."""
    return _cqt("pseudo", y, sr, hop_length, fmin, n_bins, bins_per_octave, tuning, filter_scale, norm, sparsity,
                window, scale, pad_mode, "soxr_hq")
