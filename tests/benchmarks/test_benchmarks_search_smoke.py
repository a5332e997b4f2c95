"""benchmarks/search.py: the quick mode end to end on the real corpora, and the replay's accounting.

The slow test runs ``benchmarks/search.py --quick`` (every task file in benchmarks/tasks: word and
character language models, LSTM, GRU, tanh RNN, RHN, an accuracy classifier; a live lsh check through
the local engine) and checks what it wrote against what the policy and the recorded trajectories say,
computed here independently: full trains everything, the rung strategies stop candidates, the full
winner is the best final validation metric, the correlations are those of the recorded spectra, the
live run equals the replay, ``hyperprune replay`` on the written trajectories gives the benchmark's
figures, and ``--report-only`` re-renders the same summary. No wall-clock assertions.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "search.py"
STRATEGIES = ["full", "lsh", "lsh-sync", "asha-loss", "median", "random"]
# Five tasks and a live check at the quick scale: a few minutes on 2 free cores, more on a loaded machine.
QUICK_TIMEOUT = 1800
sys.path.insert(0, str(REPO / "benchmarks"))


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, shared_data):
    work = tmp_path_factory.mktemp("bench-search")
    out = work / "results"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--data", str(shared_data), "--workdir", str(work / "runs"),
         "--out", str(out), "--bootstrap", "300"],
        capture_output=True, text=True, cwd=REPO, timeout=QUICK_TIMEOUT - 60,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc.stdout


TASKS = sorted(p.stem for p in (REPO / "benchmarks" / "tasks").glob("*.yaml"))


def _sign(direction):
    return 1.0 if direction == "lower is better" else -1.0


def _final_val(record, sign=1.0):
    return sign * record["epochs"][-1]["valMetric"] if record["status"] == "completed" else math.inf


def _final_test(record, sign=1.0):
    return sign * record["testMetric"] if record["status"] == "completed" and record["testMetric"] is not None else math.inf


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.timeout(QUICK_TIMEOUT)
def test_quick_mode_writes_well_formed_results_that_agree_with_the_trajectories(quick_run):
    out, stdout = quick_run
    summary = json.loads((out / "summary.json").read_text())
    assert "lower is better" in summary["_doc"]["metric"].lower()
    assert set(summary["tasks"]) == {f"{t}-quick" for t in TASKS} and len(TASKS) >= 5
    assert all(f"== {t}-quick" in stdout for t in TASKS)
    assert {h["direction"] for h in summary["tasks"].values()} == {"lower is better", "higher is better"}
    readme = (out / "README.md").read_text()
    for label, head in summary["tasks"].items():
        for name in (f"{label}.json", f"{label}-trajectories.json", f"{label}-ls-vs-final.png",
                     f"{label}-correlation-by-epoch.png", f"{label}-cost-vs-quality.png"):
            assert (out / name).stat().st_size > 0, name
            if name.endswith(".png"):
                assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"## {label}" in readme
        traj = json.loads((out / f"{label}-trajectories.json").read_text())
        cands, dense = traj["candidates"], traj["dense"]
        sign = _sign(head["direction"])
        n, epochs = len(cands), traj["document"]["spec"]["training"]["epochs"]
        assert head["candidates"] == n >= 8
        assert {c["point"]["sparsity"] for c in cands} == {0.5, 0.8}
        assert all(c["status"] == "completed" for c in cands) and dense["status"] == "completed"
        assert all(len(c["epochs"]) == epochs for c in [dense, *cands])

        # Costs as the policy defines them.
        s = head["strategies"]
        assert set(s) == set(STRATEGIES)
        assert s["full"]["trial_epochs"] == (n + 1) * epochs
        assert s["full"]["candidate_trial_epochs"] == n * epochs
        res = json.loads((out / f"{label}.json").read_text())
        for name in STRATEGIES:
            # the dense reference: to the last rung for the LS strategies (what they read), else to the end
            rungs = res["strategies"][name]["rungEpochs"]
            dense_epochs = rungs[-1] if name in ("lsh", "lsh-sync") else epochs
            assert s[name]["trial_epochs"] == s[name]["candidate_trial_epochs"] + dense_epochs
            assert s[name]["wall_seconds"] > 0
            assert s[name]["pick_metric"] is not None
        for name in ("lsh", "asha-loss", "random"):  # halving at rungs: the same rungs, fewer epochs than full
            assert s[name]["trial_epochs"] < s["full"]["trial_epochs"]
        e0 = traj["document"]["spec"]["strategy"]["rungs"]["first"]
        for name in ("lsh", "lsh-sync"):  # every candidate reaches e0 before any LS decision
            assert s[name]["candidate_trial_epochs"] >= n * e0
        # (lsh-sync retrains survivors from scratch, as published: on a short run it may cost more than full)
        assert s["median"]["trial_epochs"] <= s["full"]["trial_epochs"]

        # Full promotes the best final validation metric; its metric is that candidate's test metric.
        winner = min(cands, key=lambda c: (_final_val(c, sign), c["id"]))
        assert head["full_winner_metric"] == pytest.approx(sign * _final_test(winner, sign))
        assert head["dense_metric"] == pytest.approx(dense["testMetric"])
        assert head["best_in_pool_metric"] == pytest.approx(sign * min(_final_test(c, sign) for c in cands))

        # Correlations recomputed here from the recorded spectra.
        e0 = head["e0"]
        ref = np.array(dense["epochs"][e0 - 1]["spectrum"])
        ls = [float(np.linalg.norm(np.array(c["epochs"][e0 - 1]["spectrum"]) - ref)) for c in cands]
        val = [sign * c["epochs"][e0 - 1]["valMetric"] for c in cands]
        final = [_final_test(c, sign) for c in cands]
        assert head["spearman_ls"] == pytest.approx(spearmanr(ls, final).statistic, abs=1e-9)
        assert head["spearman_val"] == pytest.approx(spearmanr(val, final).statistic, abs=1e-9)
        lo, hi = head["spearman_ls_ci95"]
        assert -1 <= lo <= hi <= 1

        assert res["direction"] == head["direction"]
        assert len(res["correlation"]["byEpoch"]) == epochs
        assert res["sensitivity"], "the replayed sensitivity grid is empty"
        assert res["predictors"]["predictors"]["ls"] and res["predictors"]["predictors"]["val"]

        # hyperprune replay on the written trajectories gives the benchmark's own figures.
        replayed = subprocess.run([sys.executable, "-m", "hyperprune.cli", "replay", str(out / f"{label}-trajectories.json"),
                                   "--strategy", "lsh", "--json"], capture_output=True, text=True, cwd=REPO, timeout=120)
        assert replayed.returncode == 0, replayed.stderr
        lsh = json.loads(replayed.stdout)
        assert lsh["trialEpochs"] == s["lsh"]["trial_epochs"]
        assert lsh["pick"]["testMetric"] == pytest.approx(s["lsh"]["pick_metric"])

    rules = json.loads((out / "rules.json").read_text())["quick"]
    assert {f["heldOut"] for f in rules["outOfFold"]} == set(TASKS)
    for fold in rules["outOfFold"]:  # chosen without the held-out task
        assert fold["heldOut"] not in fold["trainedOn"] and fold["chosen"] in rules["rules"]


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.timeout(QUICK_TIMEOUT)
def test_replay_equals_a_live_lsh_run_through_the_local_engine(quick_run):
    out, _ = quick_run
    checked = [json.loads((out / f"{label}-quick.json").read_text())["liveCheck"] for label in TASKS]
    ran = [c for c in checked if c.get("ran")]
    assert len(ran) == 1, checked
    live = ran[0]
    assert live["exitCode"] == 0 and live["liveStatus"] == "succeeded"
    assert live["decisionsEqual"], live["firstDifference"]
    assert live["actionsLive"] == live["actionsReplay"] > 10
    assert live["trialEpochsLive"] == live["trialEpochsReplay"]
    assert live["pickEqual"] and live["equal"]
    # The live trials reproduce the ground truth bit for bit (same config, seed and thread count).
    assert live["reportsCompared"] > 0 and live["spectraCompared"] > 0
    assert live["bitIdentical"], (live["maxAbsMetricDifference"], live["maxAbsSpectrumDifference"])


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.timeout(QUICK_TIMEOUT)
def test_report_only_rerenders_the_same_summary_without_training(quick_run, tmp_path):
    out, _ = quick_run
    copy = tmp_path / "results"
    copy.mkdir()
    for f in out.glob("*-trajectories.json"):
        (copy / f.name).write_bytes(f.read_bytes())
    (copy / "summary.json").write_bytes((out / "summary.json").read_bytes())
    proc = subprocess.run([sys.executable, str(SCRIPT), "--report-only", "--out", str(copy), "--bootstrap", "300"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((copy / "summary.json").read_text()) == json.loads((out / "summary.json").read_text())
    assert (copy / "README.md").read_text() == (out / "README.md").read_text()
    assert not (copy / "runs").exists()


def _synthetic_record(rid, point, seconds, spectrum_seconds, epochs, quality):
    return {
        "id": rid, "point": point, "family": point["method"], "description": rid, "status": "completed",
        "divergedAt": None, "testMetric": 100 + quality, "testLoss": None, "wallSeconds": 0,
        "epochs": [
            {"epoch": e, "valMetric": 100 + quality + 10 / e, "valLoss": 0, "trainLoss": 0, "sparsity": point["sparsity"],
             "epochSeconds": seconds + spectrum_seconds, "lyapunovSeconds": spectrum_seconds, "tokensPerSecond": None,
             "spectrum": [quality * 0.1, -1.0]}
            for e in range(1, epochs + 1)
        ],
    }


def test_replay_schedules_recorded_epoch_seconds_and_charges_spectra_only_where_computed():
    from search_lib.replay import Recorded, replay

    from hyperprune.spec import parse_search

    epochs = 4
    points = [{"method": "magnitude", "sparsity": s, "params": {"scope": "layer", "pruneEpoch": 0}} for s in (0.3, 0.5, 0.7)]
    dense = _synthetic_record("dense", {"method": "none", "sparsity": 0.0}, 1.0, 0.5, epochs, 0)
    cands = [_synthetic_record(f"c{i}", p, 2.0 + i, 0.5, epochs, i + 1) for i, p in enumerate(points)]
    recorded = Recorded(dense, cands)
    doc = {
        "apiVersion": "hyperprune.io/v1alpha1", "kind": "HyperpruneSearch", "metadata": {"name": "t"},
        "spec": {"training": {"epochs": epochs}, "candidates": points, "budget": {"parallelism": 1},
                 "strategy": {"name": "full", "rungs": {"first": 1}}},
    }
    spec = parse_search(doc).spec
    sim = replay(spec, recorded)
    assert sim.state.trial_epochs == 4 * epochs
    # One worker: every epoch in sequence; a spectrum is paid at the epochs full computes one (1 and 4).
    spectra = len(spec.lyapunov_epochs())
    expected = sum((r["epochs"][0]["epochSeconds"] - 0.5) * epochs + 0.5 * spectra for r in [dense, *cands])
    assert sim.clock == pytest.approx(expected)
    # Two workers: the total work is the same, the wall time shorter.
    doc["spec"]["budget"]["parallelism"] = 2
    sim2 = replay(parse_search(doc).spec, recorded)
    assert sim2.state.trial_epochs == sim.state.trial_epochs and sim2.clock < sim.clock
    # lsh on the same records: the best quality (closest spectrum) is promoted.
    doc["spec"]["strategy"] = {"name": "lsh", "rungs": {"first": 1, "step": 1, "finalists": 1}}
    lsh = replay(parse_search(doc).spec, recorded)
    assert lsh.state.trial(lsh.state.promoted).params.sparsity == 0.3
    assert lsh.state.trial_epochs < sim.state.trial_epochs
    # A ground-truth trial that crashed after 2 epochs replays as diverging in its 3rd: never promoted.
    cands[0]["status"], cands[0]["epochs"] = "error", cands[0]["epochs"][:2]
    doc["spec"]["strategy"] = {"name": "full", "rungs": {"first": 1}}
    crashed = replay(parse_search(doc).spec, Recorded(dense, cands))
    by_sparsity = {t.params.sparsity: t for t in crashed.state.candidates}
    assert by_sparsity[0.3].status == "diverged" and by_sparsity[0.3].epochs_spent == 3
    assert crashed.state.trial(crashed.state.promoted).params.sparsity == 0.5
