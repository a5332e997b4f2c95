"""The predictor comparison and the leave-one-task-out choice of lsh's score rule (benchmarks/search_lib):
predictors computed from what a search has seen by an epoch, the choice made without the held-out
task, accuracy oriented like perplexity."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

from search_lib import rules as R  # noqa: E402
from search_lib.evaluate import _rel, orient  # noqa: E402
from search_lib.predictors import extrapolate, side_by_side  # noqa: E402

EPOCHS = 8


def trajectories(n: int = 8, *, mode_sign: float = 1.0) -> dict:
    """Candidate i ends at 100 + 10 i (test = val + 1); its spectrum sits i + 1 from the dense one,
    its validation curve decays to its end value, its sparsity is unrelated to the end."""
    def record(rid, point, end, shift):
        return {"id": rid, "point": point, "description": rid, "status": "completed", "testMetric": mode_sign * (end + 1),
                "epochs": [{"epoch": e, "valMetric": mode_sign * (end * (1 + 2 / e)), "trainLoss": 5 - e * 0.1 + shift * 0.01,
                            "spectrum": [shift, -1.0], "epochSeconds": 1.0, "lyapunovSeconds": 0.1}
                           for e in range(1, EPOCHS + 1)]}
    dense = record("dense", {"method": "none", "sparsity": 0.0}, 90.0, 0.0)
    cands = [record(f"c{i}", {"method": "magnitude", "sparsity": [0.3, 0.9, 0.5, 0.7][i % 4] + i * 0.001,
                                "params": {"scope": "layer", "pruneEpoch": 0}}, 100.0 + 10 * i, float(i + 1))
             for i in range(n)]
    corpus = {"corpus": "digits"} if mode_sign < 0 else {"corpus": "synthetic"}
    doc = {"apiVersion": "hyperprune.io/v1alpha1", "kind": "HyperpruneSearch", "metadata": {"name": "t"},
           "spec": {"data": corpus, "training": {"epochs": EPOCHS}, "candidates": [c["point"] for c in cands],
                    "budget": {"parallelism": 2}, "strategy": {"name": "full", "rungs": {"first": 2, "finalists": 1}}}}
    return {"task": "t", "label": "t", "scale": "cpu", "document": doc, "dense": dense, "candidates": cands}


def test_predictors_side_by_side_score_ls_and_validation_against_the_end():
    out = side_by_side(trajectories(), "min", bootstrap_n=50)
    ls = {r["epoch"]: r for r in out["predictors"]["ls"]}
    assert ls[2]["spearman"] == pytest.approx(1.0) and ls[2]["top1Regret"] == 0.0
    assert -1 <= ls[2]["ci95"][0] <= ls[2]["ci95"][1] <= 1
    val = {r["epoch"]: r for r in out["predictors"]["val"]}
    assert val[3]["spearman"] == pytest.approx(1.0)
    assert abs(out["predictors"]["sparsity"][0]["spearman"]) < 0.9
    assert set(out["predictors"]) >= {"ls", "ls-top8", "ls-top32", "val", "train-sum", "extrapolated", "sparsity",
                                      "blend-ls-val", "blend-ls-train"}


def test_accuracy_is_oriented_like_perplexity():
    # "Accuracies" -101, -111, ...: the highest (c0's) is the best and c0 is also the closest in LS,
    # so oriented the correlation is +1 (read as lower-is-better it would be -1).
    acc = trajectories(mode_sign=-1.0)
    out = side_by_side(acc, "max", bootstrap_n=0)
    ls2 = {r["epoch"]: r for r in out["predictors"]["ls"]}[2]
    assert ls2["spearman"] == pytest.approx(1.0) and ls2["top1Regret"] == 0.0
    assert side_by_side(acc, "min", bootstrap_n=0)["predictors"]["ls"][1]["spearman"] == pytest.approx(-1.0)
    flipped = orient(acc, "max")
    assert flipped["candidates"][0]["testMetric"] == -acc["candidates"][0]["testMetric"]
    assert acc["candidates"][0]["testMetric"] < 0  # the input is left alone
    assert _rel(0.90, 0.95, "max") == pytest.approx(0.05 / 0.95)  # lower accuracy = worse (positive)
    assert _rel(110.0, 100.0, "min") == pytest.approx(0.10)


def test_the_power_law_extrapolation_reads_a_curve_at_the_final_epoch():
    curve = [2.0 + 3.0 * t ** -0.7 for t in range(1, 7)]
    assert extrapolate(curve, 60) == pytest.approx(2.0 + 3.0 * 60 ** -0.7, rel=1e-3)
    assert extrapolate(curve[:2], 60) == curve[1]  # too few points: the last value


def test_every_rule_replays_on_recorded_trajectories():
    traj = trajectories()
    for rule in R.RULES:
        row = R.replay_rule(traj, rule)
        if "invalid" in row:  # rungs past this short run's end, or epochs it never recorded
            continue
        assert row["pick"] is not None and row["trialEpochs"] > 0


def test_the_held_out_task_never_influences_its_own_choice():
    def row(regret, reduction):
        return {"regret": regret, "reduction": reduction, "trialEpochs": 100, "pick": "x"}

    names = list(R.RULES)
    a, b = names[0], names[1]
    table = {
        "t1": {n: row(0.05, 12.0) for n in names} | {a: row(0.0, 12.0)},
        "t2": {n: row(0.05, 12.0) for n in names} | {a: row(0.0, 12.0)},
        "t3": {n: row(0.05, 12.0) for n in names} | {b: row(0.0, 12.0), a: row(0.5, 12.0)},
    }
    assert R.choose(table, ["t1", "t2"]) == a  # t3 prefers b, but t3 is held out
    assert R.choose(table, ["t1", "t2", "t3"]) != a  # with t3 in, a's worst regret is 0.5
    cheap = {"t1": {n: row(0.0, 5.0) for n in names} | {b: row(0.1, 11.0)}}
    assert R.choose(cheap, ["t1"]) == b  # the cost target comes first


@pytest.mark.parametrize("task", ["ptb", "shakespeare"])
def test_the_recorded_rule_table_is_what_replaying_the_trajectories_gives(task):
    results = REPO / "benchmarks" / "results"
    recorded = json.loads((results / "rules.json").read_text())["cpu"]["inSample"][task]
    traj = json.loads((results / f"{task}-trajectories.json").read_text())
    for rule in ("published", "ls-top32"):
        again = R.replay_rule(traj, rule)
        assert again["trialEpochs"] == recorded[rule]["trialEpochs"]
        assert math.isclose(again["regret"], recorded[rule]["regret"])
