"""Device choice ("auto" = CUDA when available, else CPU) and a sane number of CPU threads."""

from __future__ import annotations

import os

import torch

from hyperprune.contract.resources import cpu_budget


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' was asked for but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(name)


def configure_threads() -> int:
    """Respect OMP_NUM_THREADS when set (torch reads it at start-up); otherwise use the CPU budget."""
    if not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(min(torch.get_num_threads(), cpu_budget()))
    return torch.get_num_threads()
