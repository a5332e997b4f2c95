"""RigL (Evci et al. 2020): sparse from the start, topology updated every few steps by dropping the
smallest weights and growing where the dense gradient is largest."""

from __future__ import annotations

import torch

from hyperprune.contract.pruning import RiglParams
from hyperprune.pruning import topology
from hyperprune.pruning.base import Pruner
from hyperprune.pruning.schedules import cosine_decay
from hyperprune.pruning.selection import keep_top


class RiglPruner(Pruner[RiglParams]):
    """``rigl``: initial random mask (ER or uniform densities). Every ``updateFrequency`` steps
    until step t_end = endFraction x total steps, each gate block drops the fraction
    f(t) = dropFraction / 2 (1 + cos(pi t / t_end)) of its kept weights with the smallest magnitude
    (rounded) and grows as many pruned positions with the largest dense gradient magnitude (the
    just-dropped ones included). The update runs in ``before_step``, where the dense gradient of the
    current batch is visible; grown weights start at zero with cleared optimiser state and take the
    current step's gradient like every kept weight."""

    method = "rigl"

    @property
    def end_step(self) -> int:
        return self.params.end_step(self.total_steps)

    def drop_fraction(self, step: int) -> float:
        return cosine_decay(self.params.drop_fraction, step, self.end_step)

    def _at_start(self, batches, loss_fn) -> None:
        scores = {m.name: torch.rand(m.param.shape, generator=self.generator).to(m.param.device) for m in self.matrices}
        self._set_masks(keep_top(self.matrices, scores, self.target_sparsity, scope="layer", distribution=self.params.init))

    def is_update_step(self, step: int) -> bool:
        return step % self.params.update_frequency == 0 and step < self.end_step

    def before_step(self, step, optimizer=None) -> None:
        if self.is_update_step(step):
            self.update_topology(step, optimizer)
        super().before_step(step, optimizer)

    @torch.no_grad()
    def update_topology(self, step: int, optimizer: torch.optim.Optimizer | None = None) -> None:
        fraction = self.drop_fraction(step)
        new_masks, restarted = {}, {}
        for m in self.matrices:
            if m.param.grad is None:
                raise RuntimeError(f"RigL grows by gradient but {m.name} has none: call before_step after backward")
            mask = self._masks[m.name].clone()
            blocks, weights, grads = m.blocks(mask), m.blocks(m.param.detach()), m.blocks(m.param.grad.abs())
            dropped = torch.zeros_like(mask)
            for g in range(m.gates):
                k = round(fraction * int(blocks[g].sum()))
                m.blocks(dropped)[g] = topology.drop_smallest(weights[g], blocks[g], k)
                blocks[g] &= ~m.blocks(dropped)[g]
                blocks[g] |= topology.grow(blocks[g], k, grads[g])
            new_masks[m.name], restarted[m.name] = mask, dropped
        self._set_masks(new_masks, optimizer, restarted=restarted)
