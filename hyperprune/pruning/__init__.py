"""Pruning catalogue (torch-free names and settings) and its implementations (torch).

Import ``hyperprune.pruning.catalog`` for names and typed settings. ``build_pruner`` and ``Pruner``
are importable from here too, but lazily: importing this package does not import torch.
"""

from typing import Any

from hyperprune.pruning.catalog import METHODS, PruningConfig, method_names, parse_pruning_config
from hyperprune.pruning.errors import PruningConfigError

__all__ = ["METHODS", "Pruner", "PruningConfig", "PruningConfigError", "build_pruner", "method_names", "parse_pruning_config"]


def __getattr__(name: str) -> Any:
    if name == "build_pruner":
        from hyperprune.pruning.build import build_pruner

        return build_pruner
    if name == "Pruner":
        from hyperprune.pruning.base import Pruner

        return Pruner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
