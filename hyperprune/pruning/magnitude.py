"""Magnitude pruning: one-shot, gradual (cubic schedule) and lottery-ticket rounds with rewinding.

"layer" scope ranks weights within each gate block and gives every block the same sparsity, so a
gate with small weights is not emptied by a gate with large ones; "global" ranks all core weights
together. Pruned weights rank below every kept one, so masks only shrink as sparsity grows.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import torch

from hyperprune.contract.pruning import GradualMagnitudeParams, LotteryParams, MagnitudeParams
from hyperprune.pruning.base import Pruner
from hyperprune.pruning.schedules import cubic_sparsity, lottery_round_sparsity
from hyperprune.pruning.selection import keep_top
from hyperprune.pruning.targets import masked_abs


_Scoped = TypeVar("_Scoped", MagnitudeParams, GradualMagnitudeParams, LotteryParams)


class _MagnitudeBase(Pruner[_Scoped]):
    def _prune_to(self, sparsity: float, optimizer: torch.optim.Optimizer | None = None) -> None:
        scores = {m.name: masked_abs(m, self._masks[m.name]) for m in self.matrices}
        self._set_masks(keep_top(self.matrices, scores, sparsity, scope=self.params.scope), optimizer)


class MagnitudePruner(_MagnitudeBase[MagnitudeParams]):
    """``magnitude``: after ``pruneEpoch`` dense epochs (0 = at initialisation) the smallest weights
    are pruned once to the target; the mask is then fixed and the model fine-tuned."""

    method = "magnitude"

    @property
    def final_sparsity_epoch(self) -> int:
        return self.params.prune_epoch

    def _at_start(self, batches, loss_fn) -> None:
        if self.params.prune_epoch == 0:
            self._prune_to(self.target_sparsity)

    def on_epoch_end(self, epoch, optimizer=None) -> None:
        if epoch == self.params.prune_epoch:
            self._prune_to(self.target_sparsity, optimizer)


class GradualMagnitudePruner(_MagnitudeBase[GradualMagnitudeParams]):
    """``gmp`` (Zhu & Gupta 2017): every ``frequency`` optimiser steps from ``startEpoch`` the
    sparsity rises along s_t = s_f + (s_i - s_f)(1 - (t - t0)/(t_end - t0))^3 until step
    t_end = endFraction x total steps, then stays at the target."""

    method = "gmp"

    @property
    def start_step(self) -> int:
        return self.params.start_step(self.steps_per_epoch)

    @property
    def end_step(self) -> int:
        return self.params.end_step(self.total_steps)

    @property
    def final_sparsity_epoch(self) -> int:
        return math.ceil(self.end_step / self.steps_per_epoch)

    def scheduled_sparsity(self, step: int) -> float:
        p = self.params
        return cubic_sparsity(
            step, initial=p.initial_sparsity, final=self.target_sparsity, start_step=self.start_step, end_step=self.end_step
        )

    def _is_update_step(self, step: int) -> bool:
        if step < self.start_step or step > self.end_step:
            return False
        return step == self.end_step or (step - self.start_step) % self.params.frequency == 0

    def _last_update_step(self, step: int) -> int:
        """The latest scheduled update at or before ``step``."""
        if step >= self.end_step:
            return self.end_step
        return self.start_step + (step - self.start_step) // self.params.frequency * self.params.frequency

    def _at_start(self, batches, loss_fn) -> None:
        if self.start_step == 0 and self.params.initial_sparsity > 0:
            self._prune_to(self.scheduled_sparsity(0))

    def after_step(self, step) -> None:
        if self._is_update_step(step):
            self._prune_to(self.scheduled_sparsity(step))
        else:
            self.apply_masks()

    def on_epoch_end(self, epoch, optimizer=None) -> None:
        # Catch up when an epoch had fewer steps than steps_per_epoch said (a short last batch
        # dropped, a capped epoch): the sparsity due by this epoch's end is reached regardless.
        # With the promised number of steps this repeats the last update and changes nothing.
        t = epoch * self.steps_per_epoch
        if t >= self.start_step:
            self._prune_to(self.scheduled_sparsity(self._last_update_step(t)), optimizer)


class LotteryPruner(_MagnitudeBase[LotteryParams]):
    """``lottery`` (Frankle & Carbin 2019; rewinding: Frankle et al. 2020): ``rounds`` rounds of
    ``roundEpochs`` epochs; at the end of round r the smallest surviving weights are pruned to
    1 - (1 - s)^(r / rounds), every model parameter is rewound to its value after ``rewindEpoch``
    epochs (0 = initialisation) and the optimiser state is cleared. After the last round the
    ticket trains to the end. The learning-rate schedule is not rewound (it belongs to the
    training loop and follows the epoch count)."""

    method = "lottery"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.rounds_done = 0
        self._rewind_weights: dict[str, torch.Tensor] | None = None
        super().__init__(*args, **kwargs)

    @property
    def final_sparsity_epoch(self) -> int:
        return self.params.rounds * self.params.round_epochs

    def _snapshot(self) -> None:
        self._rewind_weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def _at_start(self, batches, loss_fn) -> None:
        if self.params.rewind_epoch == 0:
            self._snapshot()

    def on_epoch_end(self, epoch, optimizer=None) -> None:
        p = self.params
        if epoch == p.rewind_epoch and epoch > 0:
            self._snapshot()
        if epoch % p.round_epochs or self.rounds_done >= p.rounds:
            return
        if self._rewind_weights is None:
            raise RuntimeError("lottery pruning needs its rewind snapshot: call before_training before the first epoch")
        self.rounds_done += 1
        self._prune_to(lottery_round_sparsity(self.target_sparsity, self.rounds_done, p.rounds))
        # In place, so that the optimiser keeps pointing at the model's parameters.
        self.model.load_state_dict(self._rewind_weights)
        self.apply_masks()
        if optimizer is not None:
            optimizer.state.clear()
        if self.rounds_done == p.rounds:
            self._rewind_weights = None  # the final ticket is fixed; free the snapshot

    def _extra_state(self) -> dict[str, Any]:
        return {"rounds_done": self.rounds_done, "rewind_weights": self._rewind_weights}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.rounds_done = int(state["rounds_done"])
        weights = state["rewind_weights"]
        self._rewind_weights = None if weights is None else {k: v.clone() for k, v in weights.items()}
