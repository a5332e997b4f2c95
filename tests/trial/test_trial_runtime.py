"""The training loop in-process: reports, final model, resume, divergence, reporters."""

from __future__ import annotations

import json

import pytest
import torch

from hyperprune.data import probe_tokens, synthetic_corpus
from hyperprune.models.folder import load_model
from hyperprune.trial.runtime import run_trial
from hyperprune.trial.checkpoint import load_checkpoint
from hyperprune.trial.export import masked_state_dict
from hyperprune.trial.reporters import register_reporter
from trial_support import read_lines, tiny_config, without_timing

PRUNED = {"method": "selfish", "sparsity": 0.5, "params": {"deathRate": 0.3}}


def test_a_trial_reports_every_epoch_learns_and_writes_a_loadable_final_model(tmp_path):
    config = tiny_config(pruning=PRUNED)
    outcome = run_trial(config, tmp_path)
    assert (outcome.status, outcome.exit_code, outcome.epoch) == ("completed", 0, 3)

    reports = read_lines(tmp_path)
    assert [r.epoch for r in reports] == [1, 2, 3]
    assert [r.status for r in reports] == ["running", "running", "completed"]
    assert all(r.metric == "perplexity" and r.mode == "min" and r.trial_id == "tiny" for r in reports)
    assert all(r.lyapunov is not None and len(r.lyapunov) == 5 for r in reports)  # lyapunov.epochs null: all
    assert all(r.lyapunov == sorted(r.lyapunov, reverse=True) for r in reports)
    assert all(abs(r.sparsity - 0.5) < 0.005 and r.sparsity_per_layer for r in reports)
    assert [r.test_metric is not None for r in reports] == [False, False, True]
    assert reports[-1].wall_seconds >= reports[0].wall_seconds > 0
    # The synthetic source is learnable: perplexity falls well below the vocabulary size (40).
    assert reports[-1].val_metric < 0.6 * 40 and reports[-1].train_loss < reports[0].train_loss

    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 3
    assert json.loads((tmp_path / "trial.json").read_text()) == config.dump()
    assert "epoch 3/3" in (tmp_path / "trial.log").read_text()

    folder = tmp_path / "model"
    assert {p.name for p in folder.iterdir()} == {
        "model.pt", "masks.pt", "config.json", "task.json", "metrics.json", "vocab.json", "compact"
    }
    # What pruning saved, measured after the last epoch only (efficiency.epochs is empty).
    assert [r.efficiency is not None for r in reports] == [False, False, True]
    efficiency = reports[-1].efficiency
    assert efficiency.export_format == "packed-mask" and efficiency.export_bytes < efficiency.dense_bytes
    assert efficiency.export_bytes == (folder / "compact" / "weights.pt").stat().st_size
    assert [t.kernel for t in efficiency.timings] == ["dense-with-zeros", "torch-sparse-csr"]
    assert json.loads((folder / "metrics.json").read_text())["valMetric"] == reports[-1].val_metric
    model, loaded_config = load_model(tmp_path)  # the trial dir or its model/ folder
    assert loaded_config == config and not model.training
    masks = torch.load(folder / "masks.pt")
    weights = model.state_dict()
    for name, mask in masks.items():
        assert mask.dtype == torch.bool and torch.all(weights[name][~mask] == 0)
    kept = sum(int(m.sum()) for m in masks.values()) / sum(m.numel() for m in masks.values())
    assert abs(kept - 0.5) < 0.005
    # The loaded model computes what the trained one did at the end of training.
    trained = load_checkpoint(tmp_path / "checkpoint.pt")["model"]
    assert all(torch.equal(weights[k], v) for k, v in trained.items())
    tokens = torch.randint(0, 40, (7, 2), generator=torch.Generator().manual_seed(0))
    logits, _ = model(tokens)
    assert logits.shape == (7, 2, 40)
    assert json.loads((folder / "vocab.json").read_text())[:2] == ["<eos>", "<unk>"]


def test_continuing_with_until_epoch_gives_exactly_the_uninterrupted_run(tmp_path):
    # Dropout, a dynamic sparse method (random regrowth) and momentum: every kind of hidden state.
    config = tiny_config(
        model={"dropout": 0.3}, training={"epochs": 4, "momentum": 0.5, "lrSchedule": "cosine"}, pruning=PRUNED
    )
    straight, pieces = tmp_path / "straight", tmp_path / "pieces"
    assert run_trial(config, straight).status == "completed"
    assert run_trial(config, pieces, until_epoch=1).status == "paused"
    assert run_trial(config, pieces, until_epoch=3).status == "paused"
    assert run_trial(config, pieces).status == "completed"

    a, b = load_checkpoint(straight / "checkpoint.pt"), load_checkpoint(pieces / "checkpoint.pt")
    assert a["model"].keys() == b["model"].keys()
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
    assert str(a["optimizer"]) == str(b["optimizer"]) and str(a["pruner"]) == str(b["pruner"])
    assert [without_timing(r) for r in read_lines(straight)] == [without_timing(r) for r in read_lines(pieces)]


def test_report_lines_after_the_checkpoint_are_replaced_when_resuming(tmp_path):
    config = tiny_config()
    run_trial(config, tmp_path, until_epoch=1)
    reports = tmp_path / "reports.jsonl"
    ghost = read_lines(tmp_path)[0].model_copy(update={"epoch": 2, "train_loss": 999.0})
    # A run that reported epoch 2, was killed before its checkpoint, and left half a line behind.
    with open(reports, "a") as f:
        f.write(json.dumps(ghost.dump()) + "\n" + '{"trialId": "tiny", "epo')
    run_trial(config, tmp_path)
    lines = read_lines(tmp_path)
    assert [r.epoch for r in lines] == [1, 2, 3]
    assert lines[1].train_loss != 999.0


def test_running_again_after_the_target_epoch_trains_nothing(tmp_path):
    config = tiny_config(training={"epochs": 2})
    run_trial(config, tmp_path)
    checkpoint = (tmp_path / "checkpoint.pt").stat().st_mtime_ns
    before = (tmp_path / "reports.jsonl").read_text()
    outcome = run_trial(config, tmp_path)
    assert (outcome.status, outcome.exit_code) == ("unchanged", 0)
    assert (tmp_path / "checkpoint.pt").stat().st_mtime_ns == checkpoint
    assert (tmp_path / "reports.jsonl").read_text() == before


@pytest.mark.parametrize(
    ("lr", "where"),
    [
        (1e38, "training loss became inf"),  # weights overflow float32: the loss itself is inf/NaN
        (1e30, "validation loss is"),  # finite but absurd: the perplexity overflows
    ],
)
def test_a_diverging_run_ends_with_a_diverged_report_and_no_model(tmp_path, lr, where):
    config = tiny_config(training={"lr": lr, "clip": None})
    outcome = run_trial(config, tmp_path)
    assert (outcome.status, outcome.exit_code) == ("diverged", 0)
    reports = read_lines(tmp_path)
    last = reports[-1]
    assert last.status == "diverged" and [r.epoch for r in reports] == list(range(1, last.epoch + 1))
    assert where in last.message and f"epoch {last.epoch}" in last.message
    assert not (tmp_path / "model").exists()
    # A diverged trial is a result: running it again trains nothing and says so.
    again = run_trial(config, tmp_path)
    assert again.status == "diverged" and read_lines(tmp_path) == reports


def test_the_spectrum_is_computed_at_the_listed_epochs_on_the_same_probe(tmp_path, monkeypatch):
    import hyperprune.trial.runtime as runtime

    seen = []
    real = runtime.probe_spectrum

    def recording(model, probe, layers, cfg):  # records what the probe forward feeds the model
        handle = model.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
        try:
            return real(model, probe, layers, cfg)
        finally:
            handle.remove()

    monkeypatch.setattr(runtime, "probe_spectrum", recording)
    config = tiny_config(training={"epochs": 3}, lyapunov={"epochs": [1, 3]})
    run_trial(config, tmp_path)
    assert [r.lyapunov is not None for r in read_lines(tmp_path)] == [True, False, True]
    corpus = synthetic_corpus(8000, 40, config.data.synthetic_seed)
    expected = probe_tokens(corpus.valid, batch=2, length=3 + 12)
    assert len(seen) == 2 and all(torch.equal(p, expected) for p in seen)


def test_the_digits_classifier_learns(tmp_path):
    config = tiny_config(
        data={"corpus": "digits"},
        model={"hiddenSize": 32},
        training={"epochs": 3, "optimizer": "adam", "lr": 0.01, "batchSize": 32, "maxBatches": None,
                  "evalMaxBatches": None, "evalBatchSize": 64, "clip": 1.0},
        lyapunov={"k": 4, "probeLength": 16},
    )
    run_trial(config, tmp_path)
    reports = read_lines(tmp_path)
    assert all(r.metric == "accuracy" and r.mode == "max" for r in reports)
    assert reports[-1].train_loss < 0.6 * reports[0].train_loss
    assert reports[-1].val_metric > 0.7 and reports[-1].test_metric > 0.7  # chance is 0.1
    model, _ = load_model(tmp_path / "model")
    assert model(torch.zeros(8, 3, 8)).shape == (3, 10)


class MemoryReporter:
    instances: list["MemoryReporter"] = []

    def __init__(self, context):
        self.context, self.reports, self.closed = context, [], False
        MemoryReporter.instances.append(self)

    def report(self, report):
        self.reports.append(report)

    def close(self):
        self.closed = True


class BrokenReporter(MemoryReporter):
    def report(self, report):
        raise ConnectionError("the cluster is unreachable")


def test_an_extra_reporter_sees_every_report_and_a_failing_one_does_not_stop_training(tmp_path):
    register_reporter("memory-test", MemoryReporter)
    register_reporter("broken-test", BrokenReporter)
    config = tiny_config(training={"epochs": 2})
    run_trial(config, tmp_path / "a", reporter="memory-test")
    extra = MemoryReporter.instances[-1]
    assert extra.closed and extra.context.workdir == tmp_path / "a"
    assert extra.reports == read_lines(tmp_path / "a")

    outcome = run_trial(config, tmp_path / "b", reporter="broken-test")
    assert outcome.status == "completed" and len(read_lines(tmp_path / "b")) == 2
    assert "reporter 'broken-test' failed" in (tmp_path / "b" / "trial.log").read_text()


def test_masked_state_dict_zeroes_exactly_the_pruned_weights():
    model = torch.nn.Linear(3, 2)
    mask = torch.tensor([[True, False, True], [False, True, True]])
    state = masked_state_dict(model, {"weight": mask})
    assert torch.equal(state["weight"] != 0, mask & (model.weight != 0))
    assert torch.equal(state["bias"], model.bias.detach())


@pytest.mark.parametrize("arch", ["gru", "rhn"])
def test_other_cores_train_through_the_same_loop(tmp_path, arch):
    config = tiny_config(
        model={"arch": arch, "rhnDepth": 2}, training={"epochs": 1}, pruning={"method": "random", "sparsity": 0.3}
    )
    assert run_trial(config, tmp_path).status == "completed"
    [report] = read_lines(tmp_path)
    assert abs(report.sparsity - 0.3) < 0.005 and len(report.lyapunov) == 5
