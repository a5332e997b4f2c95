"""The trial runtime: what one candidate (a trial pod, or a local process) does.

``config`` and ``report`` are torch-free (the operator reads and writes them); the training loop is
in ``runtime`` and needs torch. ``load_model`` and ``run_trial`` are imported lazily so that importing
this package (for the config models) never imports torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_model", "run_trial"]


def __getattr__(name: str) -> Any:
    if name == "load_model":
        from hyperprune.trial.export import load_model

        return load_model
    if name == "run_trial":
        from hyperprune.trial.runtime import run_trial

        return run_trial
    raise AttributeError(f"module 'hyperprune.trial' has no attribute {name!r}")
