"""Hyperprune: find the best pruned variant of a recurrent network using the Lyapunov spectrum.

Importing this package (and its torch-free parts: spec, policy, pruning catalogue, trial config)
never imports torch, so the operator image can stay slim.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "load_model"]


def __getattr__(name: str) -> Any:
    # ``hyperprune.load_model(path)`` loads a promoted model (DIR/best); imported on first use so
    # that ``import hyperprune`` stays torch-free.
    if name == "load_model":
        from hyperprune.trial.export import load_model

        return load_model
    raise AttributeError(f"module 'hyperprune' has no attribute {name!r}")
