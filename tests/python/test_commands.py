"""avgraph.train and avgraph.evaluate: the avgraph commands in the Python process, their metrics as
dicts, their errors as avgraph.Error."""

import json

import pytest

import avgraph
from conftest import SHARED


def two_class_list(folder):
    """The ESC-10 dog barks and rain clips (80 real clips; folds from the file names) as a CSV list."""
    lines = ["path,label,fold"]
    for cls, label in (("001 - Dog bark", "dog"), ("002 - Rain", "rain")):
        for clip in sorted((SHARED / "data/esc10" / cls).glob("*.ogg")):
            lines.append(f'"{clip}",{label},{clip.name[0]}')
    path = folder / "dog-rain.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_evaluate_scores_the_shipped_model_as_avgraph_eval_does(source, tmp_path):
    metrics = avgraph.evaluate(source / "presets/scene/esc10-logmel-cnn.json", SHARED / "data/esc10",
                               tmp_path / "eval", fold=5, plots=False)
    # The shipped model's fold-5 figures (docs/results.md).
    assert metrics["overall"]["accuracy"]["overall"] == pytest.approx(0.9125)
    assert metrics["overall"]["log_loss"]["overall"] == pytest.approx(0.336148, abs=1e-6)
    assert metrics == json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert (tmp_path / "eval" / "predictions.csv").exists() and (tmp_path / "eval" / "report.md").exists()


def test_train_fits_a_fold_and_returns_its_test_metrics(source, tmp_path):
    data = two_class_list(tmp_path)
    run = tmp_path / "run"
    metrics = avgraph.train(source / "tests/data/presets/train-cnn9-tiny.json", data, run, fold=5, epochs=1,
                            threads=2, plots=False)
    assert metrics["classes"] == ["dog", "rain"]
    assert metrics["overall"]["clips"] == 16
    assert metrics == json.loads((run / "eval" / "metrics.json").read_text())
    assert len((run / "log.jsonl").read_text().splitlines()) == 1
    assert (run / "weights.pt").exists()
    with pytest.raises(avgraph.Error) as error:  # the run folder is the user's: never overwritten
        avgraph.train(source / "tests/data/presets/train-cnn9-tiny.json", data, run, fold=5, epochs=1)
    assert "already holds a training run" in str(error.value) and "--resume" in str(error.value)


def test_command_errors_are_avgraph_errors(source, tmp_path):
    with pytest.raises(avgraph.Error) as error:
        avgraph.evaluate(source / "presets/scene/esc10-logmel-cnn.json", tmp_path / "no such data", tmp_path / "e")
    assert "no such data" in str(error.value)
    with pytest.raises(avgraph.Error) as error:
        avgraph.train(source / "tests/data/presets/train-cnn9-tiny.json", tmp_path, tmp_path / "r", epochs=0)
    assert "--epochs" in str(error.value)
    assert isinstance(error.value, ValueError)
