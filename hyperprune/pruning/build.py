"""``build_pruner``: a pruning setting from the catalogue -> the Pruner that implements it."""

from __future__ import annotations

from typing import Any

from torch import nn

from hyperprune.pruning.base import Pruner
from hyperprune.contract.pruning import METHODS, PruningConfig
from hyperprune.pruning.dynamic import SelfishPruner, SetPruner
from hyperprune.pruning.iss import IssPruner
from hyperprune.pruning.magnitude import GradualMagnitudePruner, LotteryPruner, MagnitudePruner
from hyperprune.pruning.rigl import RiglPruner
from hyperprune.pruning.snip import SnipPruner
from hyperprune.pruning.static import DensePruner, RandomPruner
from hyperprune.pruning.synflow import SynflowPruner

IMPLEMENTATIONS: dict[str, type[Pruner[Any]]] = {
    cls.method: cls
    for cls in (
        DensePruner,
        RandomPruner,
        MagnitudePruner,
        GradualMagnitudePruner,
        LotteryPruner,
        SnipPruner,
        SynflowPruner,
        SetPruner,
        RiglPruner,
        SelfishPruner,
        IssPruner,
    )
}
assert set(IMPLEMENTATIONS) == set(METHODS), "every catalogue method needs an implementation"


def build_pruner(
    model: nn.Module,
    config: PruningConfig,
    *,
    steps_per_epoch: int,
    total_epochs: int,
    seed: int,
    layers: list[str] | None = None,
) -> Pruner[Any]:
    """The pruner of ``config`` (a pruning setting of the catalogue, as the trial config holds it) for
    ``model``'s recurrent layers (``layers``: their module paths; None: every recurrent layer).

    ``steps_per_epoch`` x ``total_epochs`` is the horizon of every step schedule; ``seed`` seeds the
    pruner's own generator (random masks, random growth), never the global RNG. Raises
    :class:`~hyperprune.pruning.errors.PruningConfigError` (a ValueError whose message starts with
    the field, e.g. ``pruning.params.pruneEpoch: ...``) when the setting cannot run here.
    """
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be at least 1, got {steps_per_epoch}")
    if total_epochs < 1:
        raise ValueError(f"total_epochs must be at least 1, got {total_epochs}")
    return IMPLEMENTATIONS[config.method](
        model, config, steps_per_epoch=steps_per_epoch, total_epochs=total_epochs, seed=seed, layers=layers
    )
