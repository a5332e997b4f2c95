"""hyperprune.run: a local search from Python (a notebook, a script) on a task's own model, returning
a typed result; the same session as `hyperprune run`."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

import hyperprune
from hyperprune.session.search import SearchInputError

SPEC = {
    "apiVersion": "hyperprune.io/v1alpha1",
    "kind": "HyperpruneSearch",
    "metadata": {"name": "from-python"},
    "spec": {
        "task": {"entryPoint": "usertasks:stacked", "metric": "mae", "mode": "min", "params": {"hidden": 6}},
        "training": {"epochs": 3, "optimizer": "adam", "lr": 0.02},
        "device": "cpu",
        "lyapunov": {"probeLength": 10, "warmup": 2, "batch": 2},
        "space": {"methods": [{"method": "magnitude", "params": {"pruneEpoch": [0]}}, {"method": "random"}],
                  "sparsity": [0.5]},
        "budget": {"maxTrials": 2, "parallelism": 2},
        "strategy": {"name": "lsh", "rungs": {"first": 1, "step": 1, "keepFraction": 0.5, "finalists": 1},
                     "generation": {"sampler": "random"}},
    },
}


@pytest.mark.slow
def test_run_returns_the_winner_its_metrics_the_trial_table_and_the_model(tmp_path):
    progress = io.StringIO()
    result = hyperprune.run(SPEC, workdir=tmp_path / "w", stream=progress)
    assert isinstance(result, hyperprune.SearchResult) and result.succeeded
    assert (result.metric, result.mode) == ("mae", "min")
    assert result.best is not None and result.best.role == "candidate" and result.best.status == "completed"
    assert result.best.val_metric is not None and result.dense is not None and result.dense.id == "dense"
    assert {t.id for t in result.trials} == {"dense", "t000", "t001"}
    assert result.model_path == tmp_path / "w" / "best" and (result.model_path / "model.pt").exists()
    table = result.table()
    assert table.splitlines()[0].split()[:4] == ["trial", "candidate", "status", "epochs"] and "t001" in table
    assert "<table>" in result._repr_html_()  # how a notebook shows it
    assert "promote" in progress.getvalue()  # progress lines while it ran (not a terminal)
    import usertasks

    model, config = hyperprune.load_model(result.model_path)
    assert type(model) is usertasks.Stacked and config.task.params == {"hidden": 6}
    # Running it again finds the finished search in the same work dir, as `hyperprune run` does.
    again = hyperprune.run(SPEC, workdir=tmp_path / "w", stream=io.StringIO())
    assert again.best == result.best


def test_bad_input_raises_naming_every_field_before_anything_trains(tmp_path):
    bad = {**SPEC, "spec": {**SPEC["spec"], "model": {"hiddenSize": 4}, "budget": {"parallelism": 0}}}
    with pytest.raises(SearchInputError) as exc:
        hyperprune.run(bad, workdir=tmp_path / "w")
    assert [line.split(":")[0] for line in exc.value.lines] == ["spec.model", "spec.budget.parallelism"]
    assert not (tmp_path / "w").exists()
    with pytest.raises(SearchInputError, match="cannot read"):
        hyperprune.run(tmp_path / "missing.yaml")


def test_hyperprune_run_is_importable_without_torch():
    code = "import sys, hyperprune; hyperprune.run; hyperprune.SearchResult; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
