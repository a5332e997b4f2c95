"""Helpers of the local-engine tests: tiny searches (a few seconds of training each; most of the cost
is starting a Python process with torch per trial run) and a way to run `hyperprune run` for real."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import yaml

from hyperprune.contract.report import TrialReport

# A 1 x 12 LSTM on a small synthetic corpus: 3 epochs of 6 optimiser steps; rungs at epochs 1 and 2.
TINY_SEARCH: dict[str, Any] = {
    "apiVersion": "hyperprune.io/v1alpha1",
    "kind": "HyperpruneSearch",
    "metadata": {"name": "tiny"},
    "spec": {
        "seed": 0,
        "data": {"corpus": "synthetic", "syntheticTokens": 3000, "syntheticVocab": 24},
        "model": {"arch": "lstm", "hiddenSize": 12},
        "training": {"epochs": 3, "lr": 5.0, "batchSize": 8, "bptt": 10, "maxBatches": 6, "evalMaxBatches": 3},
        "device": "cpu",
        "lyapunov": {"probeLength": 8, "warmup": 2, "batch": 1},
        "space": {
            "methods": [
                {"method": "magnitude", "params": {"scope": ["layer", "global"], "pruneEpoch": 0}},  # pruned before rung 1
                {"method": "random"},
                {"method": "set", "params": {"zeta": [0.2, 0.4]}},
            ],
            "sparsity": [0.5, 0.75],
        },
        "budget": {"maxTrials": 4, "parallelism": 2, "maxFailedTrials": 2, "retries": 1},
        "strategy": {
            "name": "lsh",
            "rungs": {"first": 1, "step": 1, "keepFraction": 0.5, "finalists": 1},
            "generation": {"startupTrials": 2},
        },
        "dense": {"compare": True},  # to the end, for the 'vs dense' the tests read (default: the last rung)
    },
}


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def write_search(path: Path, **spec_over: Any) -> Path:
    path.write_text(yaml.safe_dump(merge(TINY_SEARCH, {"spec": spec_over})))
    return path


def run_command(search: Path, workdir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "hyperprune.cli", "run", str(search), "--workdir", str(workdir), *extra]


def start_engine(search: Path, workdir: Path, *extra: str) -> subprocess.Popen:
    """`hyperprune run` in its own process group (its trials join that group)."""
    return subprocess.Popen(
        run_command(search, workdir, *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def run_engine(search: Path, workdir: Path, *extra: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(run_command(search, workdir, *extra), capture_output=True, text=True, timeout=timeout)


def journal(workdir: Path) -> list[dict[str, Any]]:
    path = workdir / "events.jsonl"
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            pass  # a line being written
    return events


def wait_for(predicate: Callable[[], bool], process: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the engine ended (rc {process.returncode}) before the awaited moment:\n{out}\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the engine")
        time.sleep(0.05)


def kill_group(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def result(workdir: Path) -> dict[str, Any]:
    return json.loads((workdir / "result.json").read_text())


def trial_reports(workdir: Path, trial_id: str) -> list[TrialReport]:
    path = workdir / "trials" / trial_id / "reports.jsonl"
    return [TrialReport.model_validate_json(line) for line in path.read_text().splitlines()]


def outcome_view(res: dict[str, Any]) -> dict[str, Any]:
    """What must not depend on timing or restarts: every trial's fate and numbers, and the winner."""
    return {
        "status": res["status"],
        "best": res["best"]["id"] if res["best"] else None,
        "trialEpochs": res["trialEpochs"],
        "trials": [
            {k: t[k] for k in ("id", "params", "status", "epochReached", "epochsTrained", "stopReason", "valMetric", "rungs")}
            for t in res["trials"]
        ],
    }
