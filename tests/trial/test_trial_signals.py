"""Real processes, real signals: SIGTERM stops cleanly with 143, SIGKILL loses at most an epoch, and
the resumed run ends with exactly the weights of an uninterrupted one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from hyperprune.trial.checkpoint import load_checkpoint
from process_support import wait_for_disposition
from trial_support import read_lines, tiny_dict, without_timing

# Epochs long enough (a few tenths of a second each) that a signal sent right after a report lands
# in the middle of the next epoch, short enough that the test stays quick.
CONFIG = tiny_dict(
    training={"epochs": 6, "maxBatches": 60, "momentum": 0.5},
    model={"dropout": 0.2},
    pruning={"method": "set", "sparsity": 0.5, "params": {"zeta": 0.2}},
)


def start(config_path: Path, workdir: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # same threads in every run: same floating point
    return subprocess.Popen(
        [sys.executable, "-m", "hyperprune.cli", "trial", "--config", str(config_path), "--workdir", str(workdir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_for_reports(proc: subprocess.Popen, workdir: Path, count: int, timeout: float = 120.0) -> None:
    reports = workdir / "reports.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reports.exists() and len(reports.read_text().splitlines()) >= count:
            return
        assert proc.poll() is None, proc.stdout.read().decode()
        time.sleep(0.02)
    proc.kill()
    raise AssertionError(f"no {count} reports within {timeout} s")


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=300)
    return proc.returncode, out.decode()


def test_sigterm_then_sigkill_then_resume_gives_the_uninterrupted_weights(write_config, tmp_path):
    config_path = write_config(CONFIG)
    reference = start(config_path, tmp_path / "reference")  # runs alongside the interrupted one
    workdir = tmp_path / "interrupted"

    first = start(config_path, workdir)
    wait_for_reports(first, workdir, 1)
    first.send_signal(signal.SIGTERM)
    code, out = finish(first)
    assert code == 143, out
    assert "received SIGTERM" in out
    stopped_at = load_checkpoint(workdir / "checkpoint.pt")["epoch"]
    assert 1 <= stopped_at < 6
    assert [r.epoch for r in read_lines(workdir)] == list(range(1, stopped_at + 1))

    second = start(config_path, workdir)
    wait_for_reports(second, workdir, stopped_at + 1)
    second.kill()  # SIGKILL: no chance to clean up; the atomic checkpoint must still be usable
    second.wait()
    # Killed after its report of epoch stopped_at + 1, perhaps before that epoch's checkpoint.
    assert load_checkpoint(workdir / "checkpoint.pt")["epoch"] in (stopped_at, stopped_at + 1)

    code, out = finish(start(config_path, workdir))
    assert code == 0, out
    code, out = finish(reference)
    assert code == 0, out

    a = load_checkpoint(tmp_path / "reference" / "checkpoint.pt")
    b = load_checkpoint(workdir / "checkpoint.pt")
    assert a["epoch"] == b["epoch"] == 6
    for name, weights in a["model"].items():
        assert torch.equal(weights, b["model"][name]), name
    final_a = torch.load(tmp_path / "reference" / "model" / "model.pt")
    final_b = torch.load(workdir / "model" / "model.pt")
    assert all(torch.equal(final_a[k], final_b[k]) for k in final_a)
    assert [without_timing(r) for r in read_lines(tmp_path / "reference")] == [
        without_timing(r) for r in read_lines(workdir)
    ]


def test_sigterm_while_torch_is_still_loading_exits_143_with_nothing_written(write_config, tmp_path):
    # An engine or a pod eviction may stop a trial right after starting it. The handler goes in
    # before the slow torch import, so that stop is a clean 143 and not a bare -15.
    workdir = tmp_path / "early"
    proc = start(write_config(CONFIG), workdir)
    wait_for_disposition(proc.pid, signal.SIGTERM, "caught")
    proc.send_signal(signal.SIGTERM)
    code, out = finish(proc)
    assert code == 143, out
    assert not (workdir / "reports.jsonl").exists() or read_lines(workdir / "reports.jsonl") == []
