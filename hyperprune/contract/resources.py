"""How many CPUs a process may really use. Part of the contract: the local engine sizes its
trials' thread counts with it, and the trial runtime caps torch's threads with it."""

from __future__ import annotations

import math
import os
from pathlib import Path


def cpu_budget() -> int:
    """CPUs this process may really use: its affinity mask, capped by a cgroup v2 CPU quota (a
    Kubernetes CPU limit), which torch's default (all physical cores of the node) ignores."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            n = min(n, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)
