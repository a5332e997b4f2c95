"""Checkpoints: one file, replaced atomically after every epoch.

``checkpoint.pt`` holds everything a resumed run needs to continue exactly where an uninterrupted
run would be: model, optimiser, learning-rate scheduler and pruner state, every random generator
(torch CPU and CUDA, numpy, python), the epoch it was taken after, the optimiser steps done and
the cumulative wall time. It is written to a temporary file in the same directory, fsynced and
renamed over the old one, so a crash or a kill at any moment leaves either the old or the new
checkpoint, never a torn one.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT = 1


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(file_object)`` on a temporary sibling of ``path``, fsync it, rename it over
    ``path`` and fsync the directory, so readers only ever see a complete file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    payload = {"format": FORMAT, **payload, "rng": rng_state()}
    atomic_write(path, lambda f: torch.save(payload, f))


class CheckpointError(Exception):
    """A checkpoint exists but cannot be used."""


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The checkpoint's contents, or ``None`` when there is none."""
    if not path.exists():
        return None
    try:
        # Our own file: it holds numpy/python RNG states, which the weights-only loader refuses.
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torn or foreign file: say which and why
        raise CheckpointError(f"{path} is unreadable ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a hyperprune trial checkpoint (format {FORMAT})")
    return payload
