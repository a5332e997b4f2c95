"""A search that failed, or could not finish, for a cause the user can fix resumes once it is fixed;
and nothing of the user's is ever deleted on the way. Real `hyperprune run` sessions on the smallest
search there is (one candidate, no dense reference, `full`): a few seconds each."""

from __future__ import annotations

import os
import signal

import pytest

from local_support import journal, result, run_engine, start_engine, wait_for, write_search

pytestmark = pytest.mark.slow

ONE_CANDIDATE = dict(
    strategy={"name": "full", "rungs": {"first": 1}, "generation": {"sampler": "random"}},
    budget={"maxTrials": 1, "parallelism": 1, "retries": 0, "maxFailedTrials": 0},
    dense={"enabled": False},
)


def launches(workdir) -> list[dict]:
    return [e for e in journal(workdir) if e["event"] == "launch"]


def test_a_promotion_onto_a_folder_that_appeared_is_refused_and_resumes_once_it_is_moved(tmp_path):
    search = write_search(tmp_path / "search.yaml", **ONE_CANDIDATE)
    workdir = tmp_path / "run"
    engine = start_engine(search, workdir, "--quiet")
    wait_for(lambda: bool(launches(workdir)), engine)
    trial = launches(workdir)[0]["pid"]
    os.kill(trial, signal.SIGSTOP)  # the trial cannot finish while the user's folder appears
    try:
        (workdir / "best").mkdir()
        (workdir / "best" / "notes.txt").write_text("mine")
    finally:
        os.kill(trial, signal.SIGCONT)
    out, err = engine.communicate(timeout=300)
    assert engine.returncode == 1, out + err
    assert f"error: could not promote t000 to {workdir / 'best'}" in err
    assert "Hyperprune did not write (no PROMOTED.json in it)" in err
    assert "run the same command again" in err and "Traceback" not in err
    assert [p.name for p in (workdir / "best").iterdir()] == ["notes.txt"]  # untouched
    assert not (workdir / "result.json").exists()

    (workdir / "best").rename(tmp_path / "my-notes")
    again = run_engine(search, workdir, "--quiet")
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(launches(workdir)) == 1  # nothing trained again: the model was there
    assert (workdir / "best" / "PROMOTED.json").is_file() and (workdir / "best" / "model.pt").is_file()
    assert result(workdir)["best"]["id"] == "t000"
