"""Masks fixed before training: the dense reference and random pruning."""

from __future__ import annotations

import torch

from hyperprune.contract.pruning import NoParams, RandomParams
from hyperprune.pruning.base import Pruner
from hyperprune.pruning.selection import keep_top


class DensePruner(Pruner[NoParams]):
    """``none``: every mask is all True; the hooks only keep the interface uniform."""

    method = "none"

    def before_step(self, step, optimizer=None) -> None:
        pass

    def after_step(self, step) -> None:
        pass


class RandomPruner(Pruner[RandomParams]):
    """``random``: a random mask drawn before training from the pruner's generator, then fixed.

    Every gate block of a matrix keeps the matrix's density: the target (uniform) or its
    Erdos-Renyi share (er)."""

    method = "random"

    def _at_start(self, batches, loss_fn) -> None:
        scores = {m.name: torch.rand(m.param.shape, generator=self.generator).to(m.param.device) for m in self.matrices}
        self._set_masks(keep_top(self.matrices, scores, self.target_sparsity, scope="layer", distribution=self.params.distribution))
