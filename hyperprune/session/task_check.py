"""Checking a search's task without training, from the torch-free control side.

``hyperprune validate`` cannot import the user's code (nor torch) itself: the control side never
does. It runs ``hyperprune trial --check`` in a separate process on the dense reference's trial
config, which imports and calls the entry point, builds the model, finds its recurrent layers, puts
one training and one validation batch through it and captures the probe, exactly as a trial's
set-up does, and reports each problem as a line naming the field.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field

from hyperprune.spec.models import HyperpruneSearch

CONFIG_VAR = "HYPERPRUNE_CHECK_CONFIG"


@dataclass
class TaskCheck:
    problems: list[str] = field(default_factory=list)  # each naming a field; the trials would be refused
    skipped: str | None = None  # why the check could not run here (no torch, ...)


def check_task(search: HyperpruneSearch, timeout: float = 600.0) -> TaskCheck:
    """Run the trial set-up's checks on the dense reference's config in a subprocess."""
    config = search.spec.trial_config("check")
    env = dict(os.environ)
    env[CONFIG_VAR] = config.model_dump_json(by_alias=True)
    command = [sys.executable, "-m", "hyperprune.cli", "trial", "--config-env", CONFIG_VAR, "--check"]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return TaskCheck(skipped=f"the task check did not finish: {exc}")
    lines = done.stderr.splitlines()
    if done.returncode == 0:
        return TaskCheck()
    errors = [line.removeprefix("error: ").split(" — ")[0] for line in lines if line.startswith("error: ")]
    if done.returncode == 2 and errors:
        return TaskCheck(problems=[f"spec.{line}" for line in errors])
    if any("No module named 'torch'" in line for line in lines):
        return TaskCheck(skipped="torch is not installed here (pip install 'hyperprune[torch]'), so the task was not checked")
    tail = next((line for line in reversed(lines) if line.strip()), f"exit code {done.returncode}")
    return TaskCheck(skipped=f"the task check crashed: {tail}")
