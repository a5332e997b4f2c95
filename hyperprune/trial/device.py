"""Device choice ("auto" = CUDA when available, else CPU) and a sane number of CPU threads."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' was asked for but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(name)


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


def configure_threads() -> int:
    """Respect OMP_NUM_THREADS when set (torch reads it at start-up); otherwise use the CPU budget."""
    if not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(min(torch.get_num_threads(), cpu_budget()))
    return torch.get_num_threads()
