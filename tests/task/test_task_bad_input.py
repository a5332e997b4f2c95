"""A task that cannot be trained is refused before training, with a message that names the entry
point (or the field) and the problem: by the trial (exit 2, nothing written but trial.log), by
`hyperprune trial --check` and by `hyperprune validate`; a search whose trials are all refused fails
under maxFailedTrials as any other, and names the problem."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hyperprune.trial.runtime import TrialSetupError, run_trial

from task_support import task_config

REFUSED = [
    ("nosuch.module:make", r"task\.entryPoint: nosuch\.module:make: cannot import module nosuch\.module \(no module named 'nosuch'"),
    ("usertasks:missing", r"task\.entryPoint: usertasks:missing: usertasks has no attribute 'missing'"),
    ("usertasks:raises", r"task\.entryPoint: usertasks:raises: raised KeyError: 'width' \(.*usertasks\.py, line \d+\)"),
    ("usertasks:returns_a_dict", r"usertasks:returns_a_dict: returned dict, expected a hyperprune\.task\.Task"),
    ("usertasks:model_not_a_module", r"Task\.model is str, not a torch\.nn\.Module"),
    ("usertasks:one_shot_train", r"Task\.train is an iterator that can be read only once"),
    ("usertasks:wrong_metric", r"task\.metric: usertasks:wrong_metric: its Metric is 'rmse' \(min\) but the spec says task\.metric: mae"),
    ("usertasks:no_recurrent_layer", r"task\.entryPoint: usertasks:no_recurrent_layer: the model \(Sequential\) holds no recurrent layer"),
    ("usertasks:bidirectional", r"usertasks:bidirectional: recurrent layer 'upper' is a bidirectional LSTM"),
    ("usertasks:wrong_shapes", r"usertasks:wrong_shapes: the first training batch does not go through the model and the loss: RuntimeError"),
    ("usertasks:nan_metric", r"usertasks:nan_metric: the metric of the first validation batch is nan before any training"),
    ("usertasks:stepped", r"usertasks:stepped: recurrent layer 'rnn' is called 16 times in one forward of the probe batch"),
    ("usertasks:packed", r"usertasks:packed: recurrent layer 'rnn' gets a PackedSequence on the probe batch"),
]


@pytest.mark.parametrize("entry_point,message", REFUSED, ids=[e for e, _ in REFUSED])
def test_a_broken_task_is_refused_before_training_naming_the_entry_point(tmp_path, entry_point, message):
    config = task_config()
    config = config.model_copy(update={"task": config.task.model_copy(update={"entry_point": entry_point})})
    with pytest.raises(TrialSetupError) as refused:
        run_trial(config, tmp_path)
    assert any(__import__("re").search(message, line) for line in refused.value.lines), refused.value.lines
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "trial.log"]  # nothing trained or reported


def test_layers_the_task_names_must_be_recurrent_modules_of_the_model(tmp_path):
    config = task_config(task={"recurrentLayers": ["upper", "head"]})
    with pytest.raises(TrialSetupError, match=r"task\.recurrentLayers: 'head' is a Linear, not nn\.RNN.*'encoder\.rnn', 'upper'"):
        run_trial(config, tmp_path)


def test_a_probe_shorter_than_the_settings_is_refused_naming_them(tmp_path):
    config = task_config(lyapunov={"probeLength": 20, "warmup": 3})
    with pytest.raises(TrialSetupError, match=r"receives 16 time steps on the probe batch, but lyapunov\.warmup \+ lyapunov\.probeLength = 23"):
        run_trial(config, tmp_path)
    with pytest.raises(TrialSetupError, match=r"lyapunov\.k: 100 exponents requested but the recurrent layers' state has 32"):
        run_trial(task_config(lyapunov={"k": 100}), tmp_path / "k")


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hyperprune.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_the_trial_command_exits_2_and_check_reports_the_same_without_a_workdir(tmp_path):
    config = task_config("raises").dump()
    (tmp_path / "trial.json").write_text(json.dumps(config))
    run = _cli("trial", "--config", str(tmp_path / "trial.json"), "--workdir", str(tmp_path / "t"))
    assert run.returncode == 2
    assert "error: task.entryPoint: usertasks:raises: raised KeyError: 'width'" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "t" / "reports.jsonl").exists() and not (tmp_path / "t" / "trial.json").exists()
    check = _cli("trial", "--config", str(tmp_path / "trial.json"), "--check")
    assert check.returncode == 2 and "raised KeyError: 'width'" in check.stderr
    good = tmp_path / "good.json"
    good.write_text(json.dumps(task_config().dump()))
    assert _cli("trial", "--config", str(good), "--check").returncode == 0


def _search(tmp_path: Path, function: str, **spec: object) -> Path:
    body = {
        "apiVersion": "hyperprune.io/v1alpha1",
        "kind": "HyperpruneSearch",
        "metadata": {"name": "user"},
        "spec": {
            "task": {"entryPoint": f"usertasks:{function}", "metric": "mae", "mode": "min"},
            "training": {"epochs": 2, "optimizer": "adam", "lr": 0.01},
            "device": "cpu",
            "lyapunov": {"probeLength": 10, "warmup": 2, "batch": 2},
            "space": {"methods": [{"method": "random"}], "sparsity": [0.5, 0.7]},
            "budget": {"maxTrials": 2, "parallelism": 2, "maxFailedTrials": 1},
            "strategy": {"name": "full"},
            **spec,
        },
    }
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def test_validate_imports_and_calls_the_entry_point_and_names_the_problem(tmp_path):
    bad = _cli("validate", str(_search(tmp_path, "wrong_shapes")))
    assert bad.returncode == 2
    assert "spec.task.entryPoint: usertasks:wrong_shapes: the first training batch does not go through" in bad.stderr
    ok = _cli("validate", str(_search(tmp_path, "stacked")))
    assert ok.returncode == 0, ok.stderr
    assert "task: usertasks:stacked" in ok.stdout and "metric: mae (min)" in ok.stdout
    skipped = _cli("validate", "--no-task-check", str(_search(tmp_path, "wrong_shapes")))
    assert skipped.returncode == 0


def test_spec_settings_a_task_cannot_use_are_refused_by_validate_naming_the_field(tmp_path):
    run = _cli("validate", "--no-task-check", str(_search(tmp_path, "stacked", data={"corpus": "digits"},
                                                         model={"hiddenSize": 8}, training={"epochs": 2, "bptt": 5})))
    assert run.returncode == 2
    for line in ("spec.data: the task's entry point supplies the data", "spec.model: the task's entry point supplies the model",
                 "spec.training.bptt: only the built-in data reads it"):
        assert line in run.stderr


@pytest.mark.slow
def test_a_search_whose_trials_are_refused_fails_and_names_the_problem(tmp_path):
    run = _cli("run", str(_search(tmp_path, "nan_metric")), "--workdir", str(tmp_path / "w"), "--quiet")
    assert run.returncode == 1, run.stderr
    result = json.loads((tmp_path / "w" / "result.json").read_text())
    assert result["status"] == "failed"
    failed = [t for t in result["trials"] if t["status"] == "failed"]
    assert failed and all("usertasks:nan_metric: the metric of the first validation batch is nan" in t["message"] for t in failed)
    assert all(t["epochsTrained"] == 0 for t in result["trials"])
