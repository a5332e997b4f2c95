"""Hyperprune: find the best pruned variant of a recurrent network using the Lyapunov spectrum.

Importing this package (and its torch-free parts: the contract, spec, policy, engines) never
imports torch, so the operator image can stay slim.
"""

from __future__ import annotations

from typing import Any

from hyperprune.contract.api import RELEASE as __version__

__all__ = ["SearchResult", "__version__", "load_model", "run"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that ``import hyperprune`` stays torch-free:
    # ``hyperprune.run(spec, workdir=...)`` runs a local search and returns its ``SearchResult``
    # (torch-free); ``hyperprune.load_model(path)`` loads a promoted model (DIR/best; needs torch).
    if name == "load_model":
        from hyperprune.models.folder import load_model

        return load_model
    if name in ("run", "SearchResult"):
        from hyperprune.session import api

        return getattr(api, name)
    raise AttributeError(f"module 'hyperprune' has no attribute {name!r}")
