"""hyperprune replay: a strategy's decisions offline on recorded observations (records files, the
benchmark's trajectories), with bad or missing records named by trial and epoch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hyperprune.cli import main as cli
from hyperprune.replay import RecordGap, RecordsError, outcome_of, read_records, replay
from hyperprune.spec import parse_search

REPO = Path(__file__).resolve().parents[2]
EPOCHS = 6
SPARSITIES = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def point(sparsity: float) -> dict:
    return {"method": "magnitude", "sparsity": sparsity, "params": {"scope": "layer", "pruneEpoch": 0}}


def search_document(strategy: str = "lsh", **rungs) -> dict:
    return {
        "apiVersion": "hyperprune.io/v1alpha1", "kind": "HyperpruneSearch", "metadata": {"name": "r"},
        "spec": {"training": {"epochs": EPOCHS}, "candidates": [point(s) for s in SPARSITIES],
                 "budget": {"parallelism": 1},
                 "strategy": {"name": strategy, "rungs": {"first": 2, "step": 1, "finalists": 1, **rungs}}},
    }


def records(*, distances: bool = False) -> dict:
    """Candidate i ends with validation 100 + 10 i and test 101 + 10 i; its LS distance is i + 1
    (the closest is the best), its early validation inverted (the worst looks best early)."""
    dense = {"id": "dense", "point": {"method": "none", "sparsity": 0.0},
             "epochs": [{"epoch": e, "metric": 90.0, "spectrum": [0.0, -1.0]} for e in range(1, EPOCHS + 1)],
             "testMetric": 91.0}
    trials = []
    for i, s in enumerate(SPARSITIES):
        epochs = []
        for e in range(1, EPOCHS + 1):
            entry: dict = {"epoch": e, "metric": 100.0 + 10 * i if e == EPOCHS else 200.0 - 10 * i}
            entry.update({"distance": float(i + 1)} if distances else {"spectrum": [float(i + 1), -1.0]})
            epochs.append(entry)
        trials.append({"id": f"c{i}", "point": point(s), "epochs": epochs, "testMetric": 101.0 + 10 * i})
    return {"dense": dense, "trials": trials}


def write(tmp_path: Path, data: dict, name: str = "records.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if name.endswith(".yaml") else json.dumps(data))
    return path


@pytest.mark.parametrize("distances", [False, True])
def test_lsh_picks_the_closest_candidate_and_asha_loss_the_early_best(tmp_path, distances):
    recs = read_records(write(tmp_path, records(distances=distances)))
    spec = parse_search(search_document("lsh")).spec
    out = outcome_of(replay(spec, recs), spec, recs)
    assert out.pick.id == "c0" and out.winner.id == "c0" and out.regret == 0.0
    assert out.full_trial_epochs == (len(SPARSITIES) + 1) * EPOCHS
    assert out.trial_epochs < out.full_trial_epochs
    assert out.trial_epochs - out.candidate_trial_epochs == spec.dense_epochs() == 3  # the dense reference, to the last rung
    spec = parse_search(search_document("asha-loss")).spec
    loss = outcome_of(replay(spec, recs), spec, recs)
    assert loss.pick.id == "c5"
    assert loss.regret == pytest.approx((151.0 - 101.0) / 101.0)  # on the test metric


def test_cli_prints_cost_pick_and_regret(tmp_path, capsys):
    path = write(tmp_path, records(), "records.json")
    spec = write(tmp_path, search_document("full"), "search.yaml")
    assert cli(["replay", str(path), "--spec", str(spec), "--strategy", "asha-loss", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["strategy"] == "asha-loss" and out["pick"]["id"] == "c5" and out["fullWinner"]["id"] == "c0"
    assert out["regretOn"] == "test" and out["regret"] > 0.4
    assert cli(["replay", str(path), "--spec", str(spec)]) == 0
    text = capsys.readouterr().out
    assert "trial-epochs: 42 (candidates 36, dense reference 6)" in text and "regret (test metric): +0.00 %" in text


def test_lsh_sync_takes_explicit_round_epochs(tmp_path, capsys):
    path = write(tmp_path, records())
    spec = write(tmp_path, search_document("full"), "search.yaml")
    assert cli(["replay", str(path), "--spec", str(spec), "--strategy", "lsh-sync", "--rung-epochs", "2,4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pick"]["id"] == "c0"
    sim_spec = parse_search({**search_document("lsh-sync", epochs=[2, 4])}).spec
    sim = replay(sim_spec, read_records(path))
    rounds = sorted({a.until_epoch for _, a in sim.log if type(a).__name__ == "Continue"})
    assert rounds == [4, EPOCHS]  # survivors of round 1 retrain to 4, the finalists to the end


def test_a_rung_epoch_the_records_lack_is_named_by_trial_and_epoch(tmp_path, capsys):
    data = records()
    data["trials"][3]["epochs"][1] = {"epoch": 2, "recorded": False}
    path = write(tmp_path, data)
    spec = parse_search(search_document("lsh")).spec
    with pytest.raises(RecordGap, match="trial c3, epoch 2: recorded: false"):
        replay(spec, read_records(path))
    # full reads no metric there: the same records replay
    full = parse_search(search_document("full")).spec
    assert outcome_of(replay(full, read_records(path)), full, read_records(path)).pick.id == "c0"
    spec_file = write(tmp_path, search_document("lsh"), "search.yaml")
    assert cli(["replay", str(path), "--spec", str(spec_file)]) == 2
    assert "trial c3, epoch 2" in capsys.readouterr().err


def test_records_of_a_stopped_trial_name_the_epoch_a_strategy_would_train_further(tmp_path):
    data = records()
    data["trials"][2]["status"], data["trials"][2]["epochs"] = "stopped", data["trials"][2]["epochs"][:2]
    spec = parse_search(search_document("full")).spec
    with pytest.raises(RecordGap, match="trial c2, epoch 3: not recorded .the recorded search stopped it after epoch 2"):
        replay(spec, read_records(write(tmp_path, data)))


@pytest.mark.parametrize("edit, expected", [
    (lambda d: d["trials"][1]["epochs"].pop(2), "trial c1, epoch 4: listed as entry 3"),
    (lambda d: d["trials"][1]["epochs"][2].update(spectrum=[1.0, 2.0, 3.0]), "trial c1, epoch 3: 3 exponents, the dense reference's spectrum has 2"),
    (lambda d: d["trials"][1]["epochs"][2].update(recorded=False), "trial c1, epoch 3: recorded: false, yet it gives"),
    (lambda d: d["trials"][1]["epochs"][2].update(distance=1.0), "trial c1, epoch 3: gives both a spectrum and a distance"),
    (lambda d: d["trials"][1].update(point=point(0.3)), "trial c1: the same candidate as trial c0"),
    (lambda d: d["trials"][1]["epochs"][0].update(metric="high"), "trial c1, epoch 1: metric: Input should be a valid number"),
    (lambda d: d["dense"]["epochs"][3].update(spectrum=None), "trial c0, epoch 4: a spectrum, but the dense reference recorded none"),
])
def test_inconsistent_records_are_named_by_trial_and_epoch(tmp_path, capsys, edit, expected):
    data = records()
    edit(data)
    path = write(tmp_path, data)
    with pytest.raises(RecordsError) as err:
        read_records(path)
    assert any(expected in line for line in err.value.errors), err.value.errors
    spec = write(tmp_path, search_document("lsh"), "search.yaml")
    assert cli(["replay", str(path), "--spec", str(spec)]) == 2
    assert expected in capsys.readouterr().err


def test_bad_input_exits_2_without_a_traceback(tmp_path):
    garbage = tmp_path / "x.json"
    garbage.write_text("{not json")
    cases = [[str(garbage)], [str(tmp_path / "missing.yaml")], [str(tmp_path)],
             [str(write(tmp_path, records())), "--first", "9", "--spec", str(write(tmp_path, search_document(), "s.yaml"))],
             [str(write(tmp_path, records()))]]
    for argv in cases:
        proc = subprocess.run([sys.executable, "-m", "hyperprune.cli", "replay", *argv], capture_output=True, text=True)
        assert proc.returncode == 2, (argv, proc.stderr)
        assert "Traceback" not in proc.stderr and proc.stderr.startswith("error"), proc.stderr


@pytest.mark.parametrize("task", ["ptb", "shakespeare"])
def test_the_benchmarks_trajectories_replay_to_the_benchmarks_own_figures(task, capsys):
    results = REPO / "benchmarks" / "results"
    figures = json.loads((results / f"{task}.json").read_text())["strategies"]
    for strategy in ("lsh", "asha-loss", "lsh-sync"):
        assert cli(["replay", str(results / f"{task}-trajectories.json"), "--strategy", strategy, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["trialEpochs"] == figures[strategy]["trialEpochs"]
        assert out["pick"]["id"] == figures[strategy]["pick"]
