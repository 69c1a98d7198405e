"""avgraph from Python: run presets on numpy arrays or files, and librosa-compatible features.

    import avgraph
    g = avgraph.Graph("presets/scene/esc10-logmel-cnn.json")
    out = g.run("examples/audio/rain-5-188655-A.ogg")
    out["probabilities"], out.meta["probabilities"]["class_names"]

    y, sr = avgraph.load("clip.ogg")                        # like librosa.load: 22050 Hz, mono
    S = avgraph.feature.melspectrogram(y=y, sr=sr)           # like librosa.feature.melspectrogram

Every avgraph error is an ``avgraph.Error`` (a ``ValueError``) whose message names the file, the JSON
pointer and the node. Graphs run without the GIL, so Python threads run graphs at the same time.
See docs/python.md.
"""

import json as _json
import os as _os
import warnings as _warnings

import numpy as _np

from . import _avgraph
from ._avgraph import Error

__all__ = [
    "Error", "Graph", "Outputs", "Stream", "nodes", "set_num_threads", "train", "evaluate",
    "load", "stft", "power_to_db", "cqt", "pseudo_cqt", "feature",
]


def _overrides(set):
    """``{"node.param": value}`` as ``avgraph run --set`` takes them: "node.param=<value as JSON>"."""
    return [f"{key}={_json.dumps(value)}" for key, value in (set or {}).items()]


class Outputs(dict):
    """A graph's outputs by name (numpy arrays, in the layouts ``avgraph run`` writes), with ``meta``:
    for each output its kind, sample rate, hop, axes and class names."""

    def __init__(self, arrays, meta):
        super().__init__(arrays)
        self.meta = meta


class Graph:
    """A preset built into a graph, ready to run.

    ``preset``: a preset file, or a preset as a dict. ``set``: parameter overrides as
    ``{"node.param": value}`` (``avgraph run --set``). ``device``: "cpu", "cuda", "cuda:N" or "auto"
    for nodes whose preset names none. ``threads``: LibTorch's intra-op threads, for the whole process
    as ``set_num_threads`` (None: leave them; one per core unless set). ``precision``: what the
    networks compute in, "fp32", "bf16", "fp16" (CUDA) or "auto" (``avgraph run --precision``;
    features stay float32); a warning says when bf16 is emulated on this CPU, and ``precision`` tells
    what was chosen and why.
    """

    def __init__(self, preset, set=None, device="cpu", threads=None, precision="fp32"):
        overrides = _overrides(set)
        if isinstance(preset, dict):
            self._handle = _avgraph.GraphHandle(_json.dumps(preset), True, _os.path.join(_os.getcwd(), "<dict>"),
                                                overrides, device, threads or 0, precision)
        else:
            self._handle = _avgraph.GraphHandle(_os.fspath(preset), False, "", overrides, device, threads or 0,
                                                precision)
        if self.precision["warning"]:
            _warnings.warn(self.precision["warning"], RuntimeWarning, stacklevel=2)

    @property
    def precision(self):
        """``{"precision": "bf16", "reason": "auto: ... has avx512_bf16", "warning": ""}``."""
        return self._handle.precision()

    @property
    def inputs(self):
        """The graph inputs: name, kind and the sample rate audio is resampled to (None: its own)."""
        return self._handle.inputs()

    @property
    def outputs(self):
        """The names of the preset's outputs."""
        return self._handle.outputs()

    def run(self, x, sample_rate=None):
        """Runs the graph once and returns its ``Outputs``.

        ``x``: a file path, audio samples as a numpy array (mono ``[n]``, or ``[channels, n]``;
        ``[n, channels]`` is recognised too) for a one-input preset, or a dict of those by input name.
        ``sample_rate``: the rate of arrays (needed unless the preset's input declares one; arrays at
        another rate than the input's are resampled with libsoxr).
        """
        if not isinstance(x, dict):
            names = [i["name"] for i in self.inputs]
            if len(names) != 1:
                raise Error(f"this preset has inputs {', '.join(names)}: pass a dict by input name")
            x = {names[0]: x}
        arrays, meta = self._handle.run(x, float(sample_rate or 0.0))
        return Outputs(arrays, meta)

    def stream(self, sample_rate, channels=1, max_block=4096):
        """Prepares the graph to run block by block (every node must stream) and returns a ``Stream``."""
        self._handle.prepare_stream(float(sample_rate), int(channels), int(max_block))
        return Stream(self._handle)


class Stream:
    """A graph running block by block over one signal: ``process_block`` returns what each output can
    produce so far (frames along the last axis), ``finish`` the rest once the signal has ended."""

    def __init__(self, handle):
        self._handle = handle

    @property
    def latency(self):
        """Samples between a block's input and the output frames it completes."""
        return self._handle.latency()

    def process_block(self, block):
        arrays, meta = self._handle.process_block(block, False)
        return Outputs(arrays, meta)

    def finish(self, block=None):
        arrays, meta = self._handle.process_block(block, True)
        return Outputs(arrays, meta)


def _command(name, positional, set, options):
    """Runs `avgraph NAME` in this process with keyword options as its flags: ``fold=5`` is
    ``--fold 5``, ``av_data=...`` ``--av-data ...``, ``resume=True`` ``--resume``, ``plots=False``
    ``--no-plots``."""
    from . import _avgraph_cli
    arguments = [name, *(_os.fspath(p) for p in positional)]
    for override in _overrides(set):
        arguments += ["--set", override]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is None or (value is True and key in ("plots", "eval")):  # on by default
            continue
        if value is True:
            arguments.append(flag)
        elif value is False:
            arguments.append("--no-" + key.replace("_", "-"))
        else:
            arguments += [flag, _os.fspath(value) if hasattr(value, "__fspath__") else str(value)]
    _avgraph_cli.run(arguments)


def _read_metrics(path):
    with open(path) as f:
        return _json.load(f)


def train(preset, data, out, *, fold=None, epochs=None, seed=None, resume=None, set=None, device=None,
          threads=None, plots=None, eval=None, **options):
    """``avgraph train``: fits the preset's trainable nodes on a dataset fold and scores the fold's test
    split, writing the run folder ``out`` (log.jsonl, checkpoint.pt, weights.pt, eval/). Returns the
    test split's metrics (``eval/metrics.json``), or with ``fold="all"`` a dict of them by fold; None
    with ``eval=False``. Other options as the command's (``format``, ``av_data``, ``images``,
    ``stage_dir``, ``segment``, ``plot_format``, ``precision``), docs/training.md."""
    _command("train", [preset], set, dict(data=data, out=out, fold=fold, epochs=epochs, seed=seed, resume=resume,
                                          device=device, threads=threads, plots=plots, eval=eval, **options))
    if eval is False:
        return None
    out = _os.fspath(out)
    if str(fold) == "all":
        folds = {}
        for name in sorted(_os.listdir(out)):
            metrics = _os.path.join(out, name, "eval", "metrics.json")
            if name.startswith("fold") and _os.path.exists(metrics):
                folds[int(name[4:])] = _read_metrics(metrics)
        return folds
    return _read_metrics(_os.path.join(out, "eval", "metrics.json"))


def evaluate(preset, data, out, *, fold=None, weights=None, batch=None, set=None, device=None, threads=None,
             plots=None, **options):
    """``avgraph eval``: scores a classifier preset on a dataset's test split, writing ``out``
    (metrics.json, report.md, predictions.csv, plots), and returns the metrics (docs/evaluation.md)."""
    _command("eval", [preset], set, dict(data=data, out=out, fold=fold, weights=weights, batch=batch, device=device,
                                         threads=threads, plots=plots, **options))
    return _read_metrics(_os.path.join(_os.fspath(out), "metrics.json"))


def set_num_threads(threads):
    """LibTorch's intra-op threads for every graph of the process (0: one per core), as
    ``torch.set_num_threads``; ``Graph(threads=...)`` sets the same."""
    _avgraph.set_num_threads(int(threads))


def nodes():
    """The node types avgraph knows, as ``avgraph nodes`` lists them: for each its type, summary, doc,
    whether it streams or trains, its input and output ports and its parameters with their defaults."""
    return _json.loads(_avgraph.nodes_json())


def load(path, *, sr=22050, mono=True, offset=0.0, duration=None, dtype=_np.float32):
    """Like ``librosa.load``: the file's samples as float32 and the sample rate, resampled to ``sr``
    with libsoxr at high quality (librosa's default ``soxr_hq``); ``sr=None`` keeps the file's rate.
    ``mono`` averages the channels; otherwise the result is ``[channels, n]`` (mono files stay 1-D)."""
    samples, rate = _avgraph.load(_os.fspath(path), float(sr or 0.0))
    if offset or duration is not None:
        start = int(round(offset * rate))
        stop = None if duration is None else start + int(round(duration * rate))
        samples = samples[:, start:stop]
    if mono or samples.shape[0] == 1:
        samples = samples.mean(axis=0) if samples.shape[0] > 1 else samples[0]
    return _np.ascontiguousarray(samples, dtype=dtype), (int(rate) if float(rate).is_integer() else rate)


from ._features import cqt, power_to_db, pseudo_cqt, stft  # noqa: E402
from . import feature  # noqa: E402
