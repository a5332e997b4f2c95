"""Dynamic sparse training with topology updates at epoch ends: Selfish-RNN and SET.

The sparse topology is drawn at initialisation (uniform or Erdos-Renyi densities), kept through
every optimiser step, and at the end of every epoch but the last some kept weights die and as many
pruned ones are regrown, so the sparsity stays exactly at the target. Regrown weights start at zero
with cleared optimiser state. "layer" is a gate block: death and growth counts are per block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from hyperprune.contract.pruning import SelfishParams, SetParams
from hyperprune.pruning.allocation import apportion
from hyperprune.pruning.base import P, Pruner
from hyperprune.pruning.schedules import cosine_decay
from hyperprune.pruning.selection import keep_global, keep_top
from hyperprune.pruning.targets import PrunableMatrix
from hyperprune.pruning import topology

# sparselearning's CosineDecay (used by Selfish-RNN) anneals the death rate to this floor.
DEATH_RATE_FLOOR = 0.005


@dataclass(frozen=True)
class DynamicSettings:
    init: str  # uniform | er
    death: str  # magnitude | global_magnitude | threshold | set
    growth: str  # random | gradient
    redistribution: str  # none | magnitude | nonzeros
    death_rate: float
    death_rate_schedule: str  # cosine | constant
    threshold: float = 0.0


class DynamicSparsePruner(Pruner[P]):
    """Shared by ``selfish`` and ``set``; subclasses say which settings they run with."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.settings = self._settings()
        self._dense_grads: dict[str, Tensor] = {}

    def _settings(self) -> DynamicSettings:
        raise NotImplementedError

    def death_rate(self, epoch: int) -> float:
        s = self.settings
        if s.death_rate_schedule == "constant":
            return s.death_rate
        return cosine_decay(s.death_rate, epoch, self.total_epochs, floor=min(DEATH_RATE_FLOOR, s.death_rate))

    def _at_start(self, batches, loss_fn) -> None:
        scores = {m.name: torch.rand(m.param.shape, generator=self.generator).to(m.param.device) for m in self.matrices}
        self._set_masks(keep_top(self.matrices, scores, self.target_sparsity, scope="layer", distribution=self.settings.init))

    def before_step(self, step, optimizer=None) -> None:
        if self.settings.growth == "gradient":
            # The epoch-end growth ranks pruned positions by the last batch's dense gradient,
            # which masking is about to erase.
            for m in self.matrices:
                if m.param.grad is not None:
                    self._dense_grads.setdefault(m.name, torch.empty_like(m.param)).copy_(m.param.grad)
        super().before_step(step, optimizer)

    def on_epoch_end(self, epoch, optimizer=None) -> None:
        if epoch < self.total_epochs:
            self.update_topology(self.death_rate(epoch), optimizer)

    # -- the update -------------------------------------------------------------------------------

    @torch.no_grad()
    def update_topology(self, death_rate: float, optimizer: torch.optim.Optimizer | None = None) -> None:
        stats = self._redistribution_stats()
        died = self._death(death_rate)
        survivors = {n: self._masks[n] & ~died[n] for n in self._masks}
        regrow = self._regrowth_counts(died, survivors, stats)
        new_masks, i = {}, 0
        for m in self.matrices:
            mask = survivors[m.name].clone()
            blocks = m.blocks(mask)
            scores = self._growth_scores(m)
            for g in range(m.gates):
                blocks[g] |= topology.grow(blocks[g], regrow[i], scores[g])
                i += 1
            new_masks[m.name] = mask
        self._dense_grads.clear()
        self._set_masks(new_masks, optimizer, restarted=died)

    def _death(self, rate: float) -> dict[str, Tensor]:
        s = self.settings
        if s.death == "global_magnitude":
            active = sum(int(mask.sum()) for mask in self._masks.values())
            scores = {
                m.name: torch.where(self._masks[m.name], -m.param.detach().abs(), float("-inf"))
                for m in self.matrices
            }
            return keep_global(self.matrices, scores, math.ceil(rate * active))
        died = {}
        for m in self.matrices:
            out = torch.zeros_like(self._masks[m.name])
            w, mask = m.blocks(m.param.detach()), m.blocks(self._masks[m.name])
            for g in range(m.gates):
                k = math.ceil(rate * int(mask[g].sum()))
                if s.death == "magnitude":
                    m.blocks(out)[g] = topology.drop_smallest(w[g], mask[g], k)
                elif s.death == "set":
                    m.blocks(out)[g] = topology.drop_set(w[g], mask[g], k)
                elif s.death == "threshold":
                    m.blocks(out)[g] = topology.drop_below(w[g], mask[g], s.threshold)
                else:
                    raise ValueError(f"unknown death criterion {s.death!r}")
            died[m.name] = out
        return died

    def _redistribution_stats(self) -> list[float]:
        """Per gate block, before death: mean |w| of kept weights (magnitude) or their count
        (nonzeros); regrowth is shared out in proportion to it."""
        stats = []
        for m in self.matrices:
            w, mask = m.blocks(m.param.detach().abs()), m.blocks(self._masks[m.name])
            for g in range(m.gates):
                kept = int(mask[g].sum())
                if self.settings.redistribution == "magnitude":
                    stats.append(float(w[g][mask[g]].sum()) / kept if kept else 0.0)
                else:
                    stats.append(float(kept))
        return stats

    def _regrowth_counts(self, died: dict[str, Tensor], survivors: dict[str, Tensor], stats: list[float]) -> list[int]:
        removed, room = [], []
        for m in self.matrices:
            d, s = m.blocks(died[m.name]).sum(1), m.blocks(survivors[m.name]).sum(1)
            removed += [int(x) for x in d]
            room += [m.block_numel - int(x) for x in s]
        if self.settings.redistribution == "none":
            return removed
        return apportion(stats, sum(removed), room)

    def _growth_scores(self, m: PrunableMatrix) -> Tensor:
        if self.settings.growth == "random":
            return m.blocks(torch.rand(m.param.shape, generator=self.generator).to(m.param.device))
        grad = self._dense_grads.get(m.name)
        if grad is None:
            raise RuntimeError(
                "gradient growth needs the dense gradients seen by before_step(step) during the epoch; "
                "call it after every backward"
            )
        return m.blocks(grad.abs())


class SelfishPruner(DynamicSparsePruner[SelfishParams]):
    """``selfish``: Selfish-RNN style dynamic sparse training (Liu et al. 2021)."""

    method = "selfish"

    def _settings(self) -> DynamicSettings:
        p = self.params
        return DynamicSettings(
            init=p.init,
            death=p.death,
            growth=p.growth,
            redistribution=p.redistribution,
            death_rate=p.death_rate,
            death_rate_schedule=p.death_rate_schedule,
            threshold=p.threshold,
        )


class SetPruner(DynamicSparsePruner[SetParams]):
    """``set``: Sparse Evolutionary Training (Mocanu et al. 2018): a fraction ``zeta`` of each
    block's kept weights dies by SET's criterion at every epoch end and as many are regrown at
    random positions."""

    method = "set"

    def _settings(self) -> DynamicSettings:
        p = self.params
        return DynamicSettings(
            init=p.init,
            death="set",
            growth="random",
            redistribution="none",
            death_rate=p.zeta,
            death_rate_schedule="constant",
        )
