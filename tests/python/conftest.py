"""Where the Python suite finds things: the source tree, the build (avgraph CLI, build/python) and
../shared's goldens, as CTest passes them (tests/CMakeLists.txt)."""

import os
import pathlib

import numpy as np
import pytest

SOURCE = pathlib.Path(os.environ.get("AVGRAPH_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))
BINARY = pathlib.Path(os.environ.get("AVGRAPH_BINARY_DIR", SOURCE / "build"))
SHARED = pathlib.Path(os.environ.get("AVGRAPH_SHARED_DIR", SOURCE.parent / "shared"))
GOLDEN = SHARED / "golden"


def read_float_wav(path):
    """The samples of the goldens' canonical float32 WAVs (44-byte header), read with numpy alone."""
    data = pathlib.Path(path).read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE" and data[36:40] == b"data"
    return np.frombuffer(data[44:], dtype="<f4").copy()


def golden(clip, sr, feature):
    return np.load(GOLDEN / clip / f"{clip}_sr{sr}_{feature}.npy")


def wav(clip, sr):
    return GOLDEN / "audio" / f"{clip}_{sr}.wav"


def assert_close(actual, expected, atol, rtol=0.0):
    """The goldens' elementwise check |x - ref| <= atol + rtol |ref|, on the frames the golden keeps
    (44.1 kHz goldens are trimmed to their first 256 frames)."""
    actual = np.asarray(actual)
    assert actual.shape[:-1] == expected.shape[:-1]
    assert actual.shape[-1] >= expected.shape[-1]
    actual = actual[..., : expected.shape[-1]]
    excess = np.abs(actual - expected) - (atol + rtol * np.abs(expected))
    worst = np.unravel_index(np.argmax(excess), excess.shape)
    assert excess.max() <= 0, (
        f"at {worst}: {actual[worst]} vs {expected[worst]} (|diff| {abs(actual[worst] - expected[worst]):.3g}, "
        f"allowed {atol + rtol * abs(expected[worst]):.3g})")


@pytest.fixture(scope="session")
def source():
    return SOURCE


@pytest.fixture(scope="session")
def binary():
    return BINARY
