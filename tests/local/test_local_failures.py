"""Trials that crash: retried from their checkpoints, then failed; the search goes on, or fails clearly."""

from __future__ import annotations

import os
import signal
import threading

import pytest
import torch

from local_support import journal, result, run_engine, start_engine, trial_reports, write_search

pytestmark = pytest.mark.slow


def kill_every_run_of(workdir, trial_id: str, stop: threading.Event) -> list[int]:
    """SIGKILL each process launched for ``trial_id`` (as an OOM killer or a lost machine would)."""
    killed: list[int] = []
    while not stop.is_set():
        running = None  # the pid of the trial's process that has no exit event yet
        for e in journal(workdir):
            if e.get("trial") == trial_id and e["event"] in ("launch", "exit"):
                running = e["pid"] if e["event"] == "launch" else None
        if running is not None and running not in killed:
            try:
                os.kill(running, signal.SIGKILL)
                killed.append(running)
            except ProcessLookupError:
                pass
        stop.wait(0.05)
    return killed


def test_a_trial_killed_every_time_is_retried_then_failed_and_the_search_goes_on(tmp_path):
    search = write_search(tmp_path / "search.yaml", budget={"maxTrials": 3})
    workdir = tmp_path / "run"
    stop = threading.Event()
    killed: list[int] = []
    engine = start_engine(search, workdir, "--quiet")
    killer = threading.Thread(target=lambda: killed.extend(kill_every_run_of(workdir, "t001", stop)))
    killer.start()
    try:
        out, err = engine.communicate(timeout=300)
    finally:
        stop.set()
        killer.join()
    assert engine.returncode == 0, out + err
    res = result(workdir)
    assert res["status"] == "succeeded" and res["best"] is not None
    t001 = next(t for t in res["trials"] if t["id"] == "t001")
    assert t001["status"] == "failed"
    assert t001["failures"] == 2 == len(killed)  # the first run and one retry (budget.retries = 1)
    assert "crashed 2 times" in t001["stopReason"] and "killed by SIGKILL" in t001["stopReason"]
    others = [t for t in res["trials"] if t["id"] not in ("t001", "dense")]
    assert len(others) == 2 and all(t["status"] in ("completed", "stopped") for t in others)
    retry = [e for e in journal(workdir) if e["event"] == "action" and e["action"]["action"] == "continue"
             and e["action"]["trialId"] == "t001"]
    assert len(retry) == 1 and "retry 1 of 1" in retry[0]["action"]["reason"]
    assert "t001 failed" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="the trials refuse device cuda only where there is none")
def test_every_trial_failing_ends_the_search_failed_with_a_clear_message(tmp_path):
    # Every trial refuses its config at set-up (exit code 2): a machine without CUDA cannot honour
    # device cuda, which only the trial (with torch) can find out; every other refusal is caught
    # before any trial starts.
    search = write_search(
        tmp_path / "search.yaml",
        device="cuda",
        strategy={"name": "full", "generation": {"startupTrials": 2}},
        budget={"maxTrials": 2, "parallelism": 2, "retries": 1, "maxFailedTrials": 5},
    )
    workdir = tmp_path / "run"
    completed = run_engine(search, workdir, "--quiet")
    assert completed.returncode == 1, completed.stdout + completed.stderr
    res = result(workdir)
    assert res["status"] == "failed" and res["best"] is None
    assert res["message"].startswith("no candidate completed (2 failed)")
    assert "no CUDA device is available" in res["message"]
    assert [t["status"] for t in res["trials"]] == ["failed"] * 3  # dense, t000, t001
    for t in res["trials"]:
        assert "refused its config (exit code 2)" in t["stopReason"] and t["epochsTrained"] == 0
        # A refused config would be refused again: launched once, not retried (budget.retries = 1).
        assert t["failures"] == 1 and t["stopReason"].startswith("not retried")
        assert not (workdir / "trials" / t["id"] / "checkpoint.pt").exists()
    assert not (workdir / "best").exists()
    assert "Search tiny failed" in completed.stdout and "why: no candidate completed" in completed.stdout
    assert "process.log" in completed.stdout
    assert res["trialEpochs"] == 0 and all(not trial_reports_exist(workdir, t["id"]) for t in res["trials"])


def trial_reports_exist(workdir, trial_id: str) -> bool:
    path = workdir / "trials" / trial_id / "reports.jsonl"
    return path.exists() and bool(trial_reports(workdir, trial_id))
