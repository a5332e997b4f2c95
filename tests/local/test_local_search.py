"""End to end: `hyperprune run` on a tiny LS-halving search, uninterrupted and interrupted twice
(Ctrl-C to the process group, then SIGKILL to it), with real trial processes."""

from __future__ import annotations

import json
import os
import runpy
import signal
import time
from pathlib import Path

import pytest
import torch

from local_support import (
    journal,
    kill_group,
    outcome_view,
    result,
    run_engine,
    start_engine,
    trial_reports,
    wait_for,
    write_search,
)

pytestmark = pytest.mark.slow


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie (an orphan's zombie may wait long for its reaper)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One uninterrupted search, one worker (so its decisions do not depend on timing)."""
    root = tmp_path_factory.mktemp("search")
    search = write_search(root / "search.yaml")
    workdir = root / "run"
    completed = run_engine(search, workdir, "--workers", "1")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return search, workdir, completed


def test_lsh_stops_some_candidates_at_rungs_and_promotes_the_best(finished):
    _, workdir, completed = finished
    res = result(workdir)
    assert res["status"] == "succeeded" and res["strategy"] == "lsh"
    candidates = [t for t in res["trials"] if t["role"] == "candidate"]
    assert len(candidates) == 4
    stopped = [t for t in candidates if t["status"] == "stopped"]
    assert stopped, "LS-halving stopped no candidate"
    for t in stopped:
        assert t["epochReached"] < res["finalEpoch"]
        assert "LS distance" in t["stopReason"] and "ranked" in t["stopReason"]
    completed_ids = [t["id"] for t in candidates if t["status"] == "completed"]
    assert res["best"]["id"] in completed_ids
    # Every rung a candidate reached has its validation metric and LS distance to the dense model.
    for t in candidates:
        assert [r["epoch"] for r in t["rungs"]] == [e for e in (1, 2, 3) if e <= t["epochReached"]]
        assert all(r["valMetric"] is not None and r["lsDistance"] is not None for r in t["rungs"])
    assert res["dense"]["status"] == "completed" and res["dense"]["valMetric"] is not None
    assert res["dense"]["testMetric"] is not None
    assert res["wallSeconds"] > 0


def test_survivors_continue_from_checkpoints_without_retraining(finished):
    _, workdir, _ = finished
    res = result(workdir)
    total = 0
    for t in res["trials"]:
        epochs = [r.epoch for r in trial_reports(workdir, t["id"])]
        # one line per epoch trained, never an epoch twice: nothing was retrained
        assert epochs == list(range(1, t["epochReached"] + 1)), t["id"]
        assert t["epochsTrained"] == t["epochReached"]
        total += t["epochReached"]
    assert res["trialEpochs"] == total < res["fullTrialEpochs"]
    launches = [e for e in journal(workdir) if e["event"] == "launch"]
    continued = [e for e in launches if e["fromEpoch"] > 0]
    assert continued, "no survivor was continued"
    for launch in continued:  # each continuation starts where the trial's previous run stopped
        before = [e for e in launches if e["trial"] == launch["trial"] and e["time"] < launch["time"]]
        assert before and before[-1]["untilEpoch"] == launch["fromEpoch"]


def test_promoted_model_loads_with_one_call_and_evaluates_to_the_reported_metric(finished):
    from hyperprune import load_model
    from hyperprune.trial.tasks import make_task

    _, workdir, completed = finished
    best = result(workdir)["best"]
    assert Path(best["model"]) == workdir / "best"
    model, config = load_model(best["model"])
    assert config.trial_id == best["id"]
    masks = torch.load(workdir / "best" / "masks.pt", weights_only=True)
    weights = model.state_dict()
    for name, mask in masks.items():  # weights with the masks applied: pruned ones are exact zeros
        assert torch.all(weights[name][~mask] == 0)
    task = make_task(config, torch.device("cpu"))
    with torch.no_grad():
        assert task.evaluate(model, "valid").metric == pytest.approx(best["valMetric"], rel=1e-6)
    assert best["testMetric"] is not None and best["sparsity"] == pytest.approx(best["params"]["sparsity"], abs=0.02)
    # Its compact export loads with torch alone and computes what the masked model does.
    load = runpy.run_path(str(workdir / "best" / "compact" / "load.py"))["load"]
    tokens = torch.randint(0, model.vocab_size, (7, 2), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(load(workdir / "best" / "compact")(tokens)[0], model(tokens)[0], rtol=0, atol=1e-6)


def test_what_the_winner_saves_is_measured_against_the_dense_model(finished):
    _, workdir, completed = finished
    res = result(workdir)
    best, dense = res["best"], res["dense"]
    winner = best["efficiency"]
    assert winner["exportBytes"] == (workdir / "best" / "compact" / "weights.pt").stat().st_size
    assert winner["nonzeroParameters"] < dense["efficiency"]["nonzeroParameters"] == winner["parameters"]
    assert [t["kernel"] for t in dense["efficiency"]["timings"]] == ["dense"]
    assert {t["kernel"] for t in winner["timings"]} >= {"dense-with-zeros"}
    savings = best["savings"]
    assert savings["nonzeroParameters"] == pytest.approx(winner["nonzeroParameters"] / winner["parameters"])
    assert savings["speedup"] > 0 and savings["kernel"] in {t["kernel"] for t in winner["timings"]}
    assert "exported as " + winner["exportFormat"] in completed.stdout and "ms/step with" in completed.stdout
    assert "what it saves" in (workdir / "report.html").read_text()


def test_summary_names_the_winner_the_model_the_load_call_and_the_report(finished):
    _, workdir, completed = finished
    out = completed.stdout
    best = result(workdir)["best"]
    assert "Search tiny succeeded (strategy lsh)" in out
    assert "4 candidates" in out and "trial-epochs" in out and "'full' would spend" in out
    assert f"best: {best['id']}" in out and "vs dense" in out
    assert f"model: {workdir / 'best'}" in out
    assert f"load_model('{workdir / 'best'}')" in out
    assert f"report: {workdir / 'report.html'}" in out
    html = (workdir / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4 and "Spearman ρ" in html


def test_resume_after_ctrl_c_and_kill_gives_the_uninterrupted_outcome(finished, tmp_path):
    search, reference_dir, _ = finished
    workdir = tmp_path / "run"

    def launches() -> list[dict]:
        return [e for e in journal(workdir) if e["event"] == "launch"]

    # 1. Ctrl-C in a terminal: SIGINT to the whole process group, mid-search.
    engine = start_engine(search, workdir, "--workers", "1", "--quiet")
    wait_for(lambda: len(launches()) >= 3, engine)
    os.killpg(engine.pid, signal.SIGINT)
    out, err = engine.communicate(timeout=120)
    assert engine.returncode == 130, out + err
    assert f"hyperprune run {search} --workdir {workdir} --workers 1 --quiet" in err  # the same command, whole
    exits = [e for e in journal(workdir) if e["event"] == "exit" and e.get("message") == "interrupted"]
    # Stopped by SIGTERM (-15: still starting up, before training), or it had reached its target: never SIGKILL.
    assert exits and all(e["code"] in (0, 143, -signal.SIGTERM) for e in exits), exits
    assert not (workdir / "result.json").exists()

    # The report works on an interrupted search.
    from hyperprune.report import write_report

    html = write_report(workdir).read_text()
    assert "interrupted" in html and "Timeline" in html

    # 2. kill -9 of the engine's process group while a trial trains.
    engine = start_engine(search, workdir, "--workers", "1", "--quiet")
    seen = len(launches())
    wait_for(lambda: len(launches()) >= seen + 2, engine)
    time.sleep(1.0)  # into the trial's start-up or training
    kill_group(engine)
    assert not (workdir / "result.json").exists()

    # 3. kill -9 of the engine alone: its trial process gets SIGTERM and stops by itself.
    engine = start_engine(search, workdir, "--workers", "1", "--quiet")
    seen = len(launches())
    wait_for(lambda: len(launches()) > seen, engine)
    orphan = launches()[-1]["pid"]
    time.sleep(1.0)
    os.kill(engine.pid, signal.SIGKILL)
    engine.wait(timeout=30)
    deadline = time.monotonic() + 60
    while alive(orphan) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(orphan), "a trial outlived its engine"

    # 4. Resume to the end.
    completed = run_engine(search, workdir, "--workers", "1", "--quiet")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    res = result(workdir)
    assert res["sessions"] == 4
    assert all(t["failures"] == 0 for t in res["trials"])  # interruptions are not crashes
    ids = [t["id"] for t in res["trials"]]
    assert ids == ["dense", "t000", "t001", "t002", "t003"]  # none lost, none duplicated
    assert outcome_view(res) == outcome_view(result(reference_dir))
    for t in res["trials"]:  # the trials' records are whole: one report per epoch
        assert [r.epoch for r in trial_reports(workdir, t["id"])] == list(range(1, t["epochReached"] + 1))


def test_replay_of_the_finished_work_dir_repeats_its_decisions_and_names_what_it_lacks(finished, capsys):
    """hyperprune replay DIR: the search's own strategy, replayed on what its trials reported, makes
    the same decisions; a strategy that needs what was never trained is told what the records lack."""
    from hyperprune.cli import main as cli

    _, workdir, _ = finished
    res = result(workdir)
    assert cli(["replay", str(workdir), "--parallelism", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["outcome"] == "succeeded"
    assert out["trialEpochs"] == res["trialEpochs"]
    assert out["pick"]["id"] == res["best"]["id"]
    assert out["pick"]["testMetric"] == pytest.approx(res["best"]["testMetric"])
    # full trains every candidate to the end, or proposes others: either way the gap is named
    stopped = [f"trial {t['id']}, epoch {t['epochReached'] + 1}: not recorded" for t in res["trials"] if t["status"] == "stopped"]
    assert cli(["replay", str(workdir), "--strategy", "full"]) == 2
    err = capsys.readouterr().err
    assert any(s in err for s in stopped) or "not recorded (the replayed search proposed it)" in err, err
