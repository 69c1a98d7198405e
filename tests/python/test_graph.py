"""avgraph.Graph against `avgraph run` (the same preset and clip give the same .npy), its errors as a
user meets them, and streaming against the offline result."""

import subprocess

import numpy as np
import pytest

import avgraph

CLIP = "examples/audio/rain-5-188655-A.ogg"


def run_cli(binary, source, preset, clip, out, *extra):
    subprocess.run([str(binary / "bin" / "avgraph"), "run", str(source / preset), "--input", str(source / clip),
                    "--output", str(out), *extra], check=True, capture_output=True)


def test_a_preset_on_a_file_gives_what_avgraph_run_writes(source, binary, tmp_path):
    run_cli(binary, source, "presets/scene/esc10-logmel-cnn.json", CLIP, tmp_path)
    out = avgraph.Graph(source / "presets/scene/esc10-logmel-cnn.json").run(source / CLIP)
    written = np.load(tmp_path / "probabilities.npy")
    assert out["probabilities"].dtype == np.float32
    np.testing.assert_array_equal(out["probabilities"], written)
    meta = out.meta["probabilities"]
    assert meta["kind"] == "probabilities"
    assert meta["class_names"][int(np.argmax(written))] == "Rain"


def native_bf16():
    with open("/proc/cpuinfo") as f:
        flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    return "avx512_bf16" in flags or "amx_bf16" in flags


def test_precision_bf16_gives_what_avgraph_run_writes_in_bf16(source, binary, tmp_path):
    run_cli(binary, source, "presets/scene/esc10-logmel-cnn.json", CLIP, tmp_path, "--precision", "bf16")
    preset = source / "presets/scene/esc10-logmel-cnn.json"
    if native_bf16():
        graph = avgraph.Graph(preset, precision="bf16")
    else:  # emulated here: the same numbers, slowly, and a warning that says so
        with pytest.warns(RuntimeWarning, match="has no native bf16"):
            graph = avgraph.Graph(preset, precision="bf16")
    assert graph.precision["precision"] == "bf16" and graph.precision["reason"] == "asked"
    out = graph.run(source / CLIP)
    assert out["probabilities"].dtype == np.float32
    np.testing.assert_array_equal(out["probabilities"], np.load(tmp_path / "probabilities.npy"))
    # bf16 was on: the answer moved from float32's, a little (docs/results.md: at most 0.03 on fold 5)
    fp32 = avgraph.Graph(preset).run(source / CLIP)["probabilities"]
    assert 0 < np.abs(out["probabilities"] - fp32).max() < 0.05
    with pytest.raises(avgraph.Error, match="fp16 runs on CUDA only"):
        avgraph.Graph(preset, precision="fp16")


def test_an_array_at_another_rate_is_resampled_like_a_file(source, tmp_path):
    y, sr = avgraph.load(source / CLIP, sr=None)
    graph = avgraph.Graph(source / "presets/scene/esc10-logmel-cnn.json")
    from_file = graph.run(str(source / CLIP))
    from_array = graph.run(y, sample_rate=sr)
    np.testing.assert_array_equal(from_array["probabilities"], from_file["probabilities"])


def test_set_overrides_parameters_and_outputs_carry_their_metadata(source, tmp_path):
    graph = avgraph.Graph(source / "presets/features/logmel.json", set={"logmel.n_mels": 32, "logmel.top_db": None})
    y = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000).astype(np.float32)
    out = graph.run(y, sample_rate=16000)
    assert out["logmel"].shape == (32, 1 + 16000 // 512)
    assert out.meta["logmel"]["hop"] == 512
    assert out.meta["logmel"]["sample_rate"] == 16000


def test_channels_last_float64_and_views_give_the_same_result(source):
    graph = avgraph.Graph(source / "presets/features/logmel.json")
    rng = np.random.default_rng(5)
    stereo = rng.standard_normal((2, 8000)).astype(np.float32) * 0.1
    first = graph.run(stereo, sample_rate=16000)["logmel"]
    np.testing.assert_array_equal(graph.run(stereo.T.copy(), sample_rate=16000)["logmel"], first)
    np.testing.assert_array_equal(graph.run(stereo.T, sample_rate=16000)["logmel"], first)  # a view
    np.testing.assert_array_equal(graph.run(stereo.astype(np.float64), sample_rate=16000)["logmel"], first)
    wide = np.zeros((2, 16000), np.float32)
    wide[:, ::2] = stereo
    np.testing.assert_array_equal(graph.run(wide[:, ::2], sample_rate=16000)["logmel"], first)  # strided


@pytest.mark.parametrize("bad, words", [
    (np.zeros(16000, np.int16), "dtype int16"),
    (np.zeros(0, np.float32), "no samples"),
    (np.array([0.0, np.nan, 0.0], np.float32), "sample 1 of channel 0 is not finite"),
    (np.zeros((3, 40, 40), np.float32), "3-D array"),
    ("no/such/clip.wav", "no/such/clip.wav"),
])
def test_bad_input_is_an_error_that_says_what_is_wrong(source, bad, words):
    graph = avgraph.Graph(source / "presets/features/logmel.json")
    with pytest.raises(avgraph.Error, match=None) as error:
        graph.run(bad, sample_rate=16000)
    assert words in str(error.value)
    assert isinstance(error.value, ValueError)


def test_preset_errors_name_the_file_pointer_and_node(source, tmp_path):
    with pytest.raises(avgraph.Error) as error:
        avgraph.Graph(source / "presets/features/logmel.json", set={"logmel.n_mels": 0})
    message = str(error.value)
    assert "/nodes/logmel/params/n_mels" in message and "logmel" in message
    with pytest.raises(avgraph.Error) as error:
        avgraph.Graph(source / "presets/features/logmel.json", set={"nothing.n_mels": 3})
    assert "nothing" in str(error.value)
    with pytest.raises(avgraph.Error) as error:
        avgraph.Graph(tmp_path / "missing.json")
    assert "missing.json" in str(error.value)
    with pytest.raises(avgraph.Error) as error:
        avgraph.Graph(source / "presets/features/logmel.json").run(np.zeros(100, np.float32))
    assert "sample_rate" in str(error.value)


def test_streaming_gives_the_offline_frames(source):
    graph = avgraph.Graph(source / "presets/features/logmel.json", set={"logmel.top_db": None})
    y, sr = avgraph.load(source / CLIP, sr=None)
    offline = graph.run(y, sample_rate=sr)["logmel"]
    stream = graph.stream(sample_rate=sr)
    assert stream.latency == 1024 - 1024 // 2
    pieces = [stream.process_block(y[i:i + 1000])["logmel"] for i in range(0, len(y), 1000)]
    pieces.append(stream.finish()["logmel"])
    streamed = np.concatenate(pieces, axis=-1)
    assert streamed.shape == offline.shape
    np.testing.assert_allclose(streamed, offline, atol=1e-3)


def test_a_stream_refuses_a_preset_that_cannot_stream(source):
    graph = avgraph.Graph(source / "presets/features/logmel.json")  # top_db 80 needs the whole clip
    with pytest.raises(avgraph.Error) as error:
        graph.stream(sample_rate=16000)
    assert "top_db" in str(error.value)


def test_nodes_lists_the_reference_of_avgraph_nodes(source, binary):
    listed = subprocess.run([str(binary / "bin" / "avgraph"), "nodes"], check=True, capture_output=True,
                            text=True).stdout
    nodes = {n["type"]: n for n in avgraph.nodes()}
    for line in listed.splitlines():
        if line.strip() and "." in line.split()[0]:
            assert line.split()[0] in nodes
    logmel = nodes["features.logmel"]
    assert logmel["streams"] and not logmel["trainable"]
    params = {p["name"]: p for p in logmel["params"]}
    assert params["n_mels"]["default"] == 128 and params["top_db"]["default"] == 80.0
    assert [p["name"] for p in logmel["inputs"]] == ["audio"]


def test_arrays_pass_to_the_engine_and_back_without_a_copy():
    # signal.channels hands the left channel on as a view of its input, and mono audio unchanged: the
    # output array is then the caller's memory, which only holds when neither way copied.
    for mode, y, expected in [("left", np.random.rand(2, 1000).astype(np.float32), lambda y: y[0]),
                              ("mono", np.random.rand(1000).astype(np.float32), lambda y: y)]:
        graph = avgraph.Graph({"avgraph": 1, "nodes": {"ch": {"type": "signal.channels", "params": {"mode": mode}}},
                               "edges": [["audio", "ch"]], "outputs": {"out": "ch"}})
        out = graph.run(y, sample_rate=16000)["out"]
        assert np.shares_memory(out, y)
        np.testing.assert_array_equal(out, expected(y))
        del graph, y  # the output keeps the memory alive on its own
        assert np.isfinite(out).all()


def test_a_running_graph_lets_other_python_threads_run(source):
    import threading
    import time
    graph = avgraph.Graph(source / "presets/scene/esc10-logmel-cnn.json", threads=1)
    y = (np.random.default_rng(1).standard_normal(16000 * 60) * 0.1).astype(np.float32)
    started = time.perf_counter()
    graph.run(y, sample_rate=16000)
    alone = time.perf_counter() - started
    worker = threading.Thread(target=graph.run, args=(y,), kwargs={"sample_rate": 16000})
    last, longest_gap = time.perf_counter(), 0.0
    worker.start()  # may already wait here for a worker that holds the GIL
    while worker.is_alive():  # this thread runs Python the whole time, unless the GIL is held
        now = time.perf_counter()
        longest_gap, last = max(longest_gap, now - last), now
    longest_gap = max(longest_gap, time.perf_counter() - last)  # a wait that ended with the run
    worker.join()
    assert longest_gap < alone / 2, f"this thread stood still {longest_gap:.3f} s of a {alone:.3f} s run"
