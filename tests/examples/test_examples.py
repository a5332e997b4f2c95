"""The examples of a task's own model and data (examples/), each run for real with `hyperprune run`
from the examples folder (where their packages are importable): a GRU forecaster of a real time
series (regression, lower error is better) and an LSTM digit classifier in plain PyTorch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
pytestmark = pytest.mark.slow


def _run(spec: str, workdir: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "hyperprune.cli", "run", spec, "--workdir", str(workdir), "--quiet"],
        cwd=EXAMPLES, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((workdir / "result.json").read_text())


def _load(model_path: str, module: str):
    code = (
        f"import sys; sys.path.insert(0, {str(EXAMPLES)!r}); import hyperprune; "
        f"m, c = hyperprune.load_model({model_path!r}); print(type(m).__module__, type(m).__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=EXAMPLES)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_co2_forecaster_finds_a_pruned_model_that_beats_persistence(tmp_path):
    result = _run("co2-forecaster.yaml", tmp_path / "co2")
    assert result["status"] == "succeeded" and (result["metric"], result["mode"]) == ("mae", "min")
    best = result["best"]
    assert best["sparsity"] >= 0.5
    # Predicting last month's value (persistence) errs by 1.13 ppm on the test months.
    assert best["testMetric"] < 0.8
    assert _load(best["model"], "co2_forecaster") == ["co2_forecaster.task", "Forecaster"]
    # tensorboard: true: each trial's metric and spectrum, and the engine's LS distances beside them.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = EventAccumulator(str(tmp_path / "co2" / "trials" / best["id"] / "tensorboard"))
    board.Reload()
    assert {"valid/mae", "lyapunov/max", "lyapunov/distance"} <= set(board.Tags()["scalars"])


def test_the_digits_lstm_classifier_in_plain_pytorch(tmp_path):
    result = _run("digits-lstm.yaml", tmp_path / "digits")
    assert result["status"] == "succeeded" and (result["metric"], result["mode"]) == ("accuracy", "max")
    best = result["best"]
    assert best["testMetric"] > 0.7 and best["sparsity"] >= 0.5
    assert sorted(best["sparsityPerLayer"]) == ["lstm.weight_hh_l0", "lstm.weight_ih_l0"]
    assert _load(best["model"], "digits_lstm") == ["digits_lstm.task", "RowReader"]
