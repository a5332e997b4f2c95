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


def sessions(workdir) -> int:
    return sum(1 for e in journal(workdir) if e["event"] == "session")


def test_a_search_failed_by_a_damaged_checkpoint_resumes_with_retry_failed_once_it_is_deleted(tmp_path):
    search = write_search(tmp_path / "search.yaml", **{**ONE_CANDIDATE, "budget": {**ONE_CANDIDATE["budget"], "retries": 1}})
    workdir = tmp_path / "run"
    checkpoint = workdir / "trials" / "t000" / "checkpoint.pt"
    engine = start_engine(search, workdir, "--quiet", "--workers", "1")
    wait_for(checkpoint.exists, engine)
    trial = launches(workdir)[0]["pid"]
    os.kill(trial, signal.SIGSTOP)  # between epochs: the checkpoint is damaged, the process lost
    checkpoint.write_bytes(b"\0garbage")
    os.kill(trial, signal.SIGKILL)
    out, err = engine.communicate(timeout=300)
    assert engine.returncode == 1, out + err
    res = result(workdir)
    reached = res["trials"][0]["epochReached"]
    assert res["status"] == "failed" and "checkpoint.pt is unreadable" in res["message"]
    assert "delete it to train this trial from scratch" in res["message"]
    assert f"--workers 1 --quiet --retry-failed" in out

    plain = run_engine(search, workdir, "--quiet", "--workers", "1")  # without the flag: nothing to do
    assert plain.returncode == 1 and "has finished (failed)" in plain.stdout and "--retry-failed" in plain.stdout
    assert sessions(workdir) == 1  # a run that does nothing is no session

    checkpoint.unlink()
    retried = run_engine(search, workdir, "--quiet", "--workers", "1", "--retry-failed")
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert "retrying t000 of search" in retried.stdout and "t000 has no checkpoint" in retried.stdout
    res = result(workdir)
    t000 = res["trials"][0]
    assert res["status"] == "succeeded" and t000["status"] == "completed" and res["sessions"] == 2
    assert t000["epochsTrained"] == reached + 3  # the epochs trained again from scratch count

    import shutil
    shutil.rmtree(workdir / "best")  # the user deletes the promoted model, then asks again
    again = run_engine(search, workdir, "--quiet")
    assert again.returncode == 0 and "was missing: copied the model of t000 there again" in again.stdout
    assert (workdir / "best" / "model.pt").is_file() and result(workdir)["best"]["model"] == str(workdir / "best")
    assert sessions(workdir) == 2 and len(launches(workdir)) == 3


def test_a_search_that_failed_on_a_full_disk_resumes_with_retry_failed_once_there_is_room(tmp_path):
    import resource
    import subprocess

    from local_support import run_command

    search = write_search(tmp_path / "search.yaml", **ONE_CANDIDATE)
    workdir = tmp_path / "run"

    def small_disk() -> None:  # files stop growing at 16 kB (EFBIG), as a full disk stops them (ENOSPC)
        resource.setrlimit(resource.RLIMIT_FSIZE, (16_384, 16_384))

    full = subprocess.run(run_command(search, workdir, "--quiet"), capture_output=True, text=True, timeout=300,
                          preexec_fn=small_disk)
    assert full.returncode == 1, full.stdout + full.stderr
    res = result(workdir)
    assert res["status"] == "failed" and "File too large" in res["message"]
    assert "--retry-failed" in full.stdout and "Traceback" not in full.stderr

    retried = run_engine(search, workdir, "--quiet", "--retry-failed")
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert result(workdir)["best"]["id"] == "t000"


def test_a_disk_full_before_the_search_is_written_is_an_error_not_a_traceback_and_leaves_the_dir_reusable(tmp_path):
    import resource
    import subprocess

    from local_support import run_command

    search = write_search(tmp_path / "search.yaml", **ONE_CANDIDATE)
    workdir = tmp_path / "run"
    full = subprocess.run(run_command(search, workdir, "--quiet"), capture_output=True, text=True, timeout=120,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024)))
    assert full.returncode == 1 and "Traceback" not in full.stderr, full.stderr
    assert full.stderr.startswith("error: File too large") and f"resume with: hyperprune run {search}" in full.stderr
    assert [p.name for p in workdir.iterdir()] == [".lock"]  # no half-written search.json to trip the next run
