"""A task's own model trains like a built-in one: pruned by the real paths of its recurrent layers,
its own metric and direction in every report, the spectrum of all its recurrent layers, a bit-exact
resume, TensorBoard event files, and load_model returning the user's own class with the pruned weights."""

from __future__ import annotations

import json

import pytest
import torch

from hyperprune import load_model
from hyperprune.contract.report import TrialReport
from hyperprune.trial.runtime import run_trial

from task_support import task_config


def _reports(workdir) -> list[TrialReport]:
    return [TrialReport.model_validate(json.loads(line)) for line in (workdir / "reports.jsonl").read_text().splitlines()]


def _without_timing(report: TrialReport) -> dict:
    return report.model_dump(exclude={"time", "epoch_seconds", "wall_seconds", "tokens_per_second", "lyapunov_seconds"})


PRUNED = {"method": "magnitude", "sparsity": 0.5, "params": {"pruneEpoch": 0}}


def test_a_two_module_model_is_pruned_measured_and_reported_by_its_own_metric(tmp_path):
    outcome = run_trial(task_config(pruning=PRUNED, tensorboard=True), tmp_path)
    assert outcome.status == "completed"
    reports = _reports(tmp_path)
    assert [r.epoch for r in reports] == [1, 2, 3]
    assert all(r.metric == "mae" and r.mode == "min" for r in reports)
    last = reports[-1]
    assert last.test_metric is not None and last.val_metric < reports[0].val_metric
    # Masks keyed by the real module paths: both LSTMs, input and recurrent matrices, at the target.
    assert sorted(last.sparsity_per_layer) == [
        "encoder.rnn.weight_hh_l0", "encoder.rnn.weight_ih_l0", "upper.weight_hh_l0", "upper.weight_ih_l0"]
    assert last.sparsity == pytest.approx(0.5, abs=1e-3)
    # The spectrum of both modules: (h, c) of 8 units each = 32 exponents, descending.
    assert all(r.lyapunov is not None and len(r.lyapunov) == 32 for r in reports)
    assert last.lyapunov == sorted(last.lyapunov, reverse=True)
    # TensorBoard: the trial's metric, losses, sparsity and spectrum summary per epoch.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = EventAccumulator(str(tmp_path / "tensorboard"))
    board.Reload()
    assert {"valid/mae", "train/loss", "sparsity", "lyapunov/max", "test/mae"} <= set(board.Tags()["scalars"])
    assert [e.step for e in board.Scalars("valid/mae")] == [1, 2, 3]


def test_load_model_returns_the_users_own_class_with_the_pruned_weights(tmp_path):
    run_trial(task_config(pruning=PRUNED), tmp_path)
    model, config = load_model(tmp_path)
    import usertasks

    assert type(model) is usertasks.Stacked and not model.training
    assert config.task is not None and config.task.entry_point == "usertasks:stacked"
    saved = torch.load(tmp_path / "model" / "model.pt", weights_only=True)
    masks = torch.load(tmp_path / "model" / "masks.pt", weights_only=True)
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in saved.items())
    for name, mask in masks.items():
        assert bool((state[name][~mask] == 0).all()) and name in ("encoder.rnn.weight_ih_l0", "encoder.rnn.weight_hh_l0",
                                                                   "upper.weight_ih_l0", "upper.weight_hh_l0")
    x = usertasks.series_data()["test"].tensors[0]
    assert model(x).shape == (x.shape[0], 1)


def test_a_resumed_task_trial_is_bit_for_bit_an_uninterrupted_one(tmp_path):
    config = task_config(pruning={"method": "set", "sparsity": 0.5, "params": {"zeta": 0.3}})
    run_trial(config, tmp_path / "straight")
    run_trial(config, tmp_path / "resumed", until_epoch=1)
    run_trial(config, tmp_path / "resumed")
    a = torch.load(tmp_path / "straight" / "model" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "model" / "model.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [_without_timing(r) for r in _reports(tmp_path / "straight")] == [
        _without_timing(r) for r in _reports(tmp_path / "resumed")]


def test_dict_batches_own_forward_and_training_step_and_an_initial_state(tmp_path):
    config = task_config("dict_batches", metric="rmse", lyapunov={"warmup": 2, "probeLength": 10, "batch": 3},
                         pruning={"method": "random", "sparsity": 0.4})
    run_trial(config, tmp_path)
    reports = _reports(tmp_path)
    assert all(r.metric == "rmse" for r in reports)
    assert reports[-1].test_metric is None  # the task has no test split
    assert len(reports[-1].lyapunov) == 6  # the GRU's 6 units
    assert sorted(reports[-1].sparsity_per_layer) == ["gru.weight_hh_l0", "gru.weight_ih_l0"]


def test_only_the_layers_the_task_names_are_pruned_and_measured(tmp_path):
    run_trial(task_config(pruning=PRUNED, task={"recurrentLayers": ["upper"]}), tmp_path)
    last = _reports(tmp_path)[-1]
    assert sorted(last.sparsity_per_layer) == ["upper.weight_hh_l0", "upper.weight_ih_l0"]
    assert len(last.lyapunov) == 16


def test_an_iss_task_trial_completes_with_its_removed_units_dead_in_each_module_and_no_efficiency(tmp_path):
    # The compact export and its measurement know Hyperprune's own models only: a task's model is
    # trained, pruned and saved, but neither exported compact nor measured, and its reports say so.
    pruning = {"method": "iss", "sparsity": 0.6, "params": {"pruneEpoch": 1}}
    outcome = run_trial(task_config(pruning=pruning), tmp_path)
    assert outcome.status == "completed"
    reports = _reports(tmp_path)
    assert [r.status for r in reports] == ["running", "running", "completed"]
    assert all(r.efficiency is None for r in reports)
    assert "efficiency not measured" in (reports[-1].message or "")
    assert reports[-1].sparsity == pytest.approx(0.6, abs=5e-3)
    assert (tmp_path / "model" / "model.pt").exists() and not (tmp_path / "model" / "compact").exists()
    # ISS removes whole units in each LSTM module separately, their biases zeroed with their weights.
    saved = torch.load(tmp_path / "model" / "model.pt", weights_only=True)
    masks = torch.load(tmp_path / "model" / "masks.pt", weights_only=True)
    for module, removed_count in (("encoder.rnn", 3), ("upper", 4)):
        rows = masks[f"{module}.weight_hh_l0"].view(4, 8, 8)
        removed = ~rows.any(dim=2).any(dim=0)
        assert int(removed.sum()) == removed_count
        for bias in ("bias_ih_l0", "bias_hh_l0"):
            entries = saved[f"{module}.{bias}"].view(4, 8)
            assert bool((entries[:, removed] == 0).all()) and bool((entries[:, ~removed] != 0).any())
