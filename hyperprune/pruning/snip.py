"""SNIP (Lee et al. 2019): prune at initialisation by connection sensitivity |dL/dW * W|."""

from __future__ import annotations

import itertools

import torch

from hyperprune.contract.pruning import SnipParams
from hyperprune.pruning.base import Pruner
from hyperprune.pruning.selection import keep_top


class SnipPruner(Pruner[SnipParams]):
    """``snip``: the gradients of the training loss over ``batches`` training batches are summed;
    each weight scores |g * w| and the top (1 - s) of the whole core are kept (one global ranking,
    as published). The model is scored in eval mode (no dropout, so the score depends on the seed
    only through the initial weights and the batches), with cuDNN off because cuDNN RNNs cannot
    back-propagate in eval mode."""

    method = "snip"

    def _at_start(self, batches, loss_fn) -> None:
        if batches is None or loss_fn is None:
            raise ValueError("SNIP scores weights on training data: call before_training(batches, loss_fn)")
        self._set_masks(keep_top(self.matrices, self.scores(batches, loss_fn), self.target_sparsity, scope="global"))

    def scores(self, batches, loss_fn) -> dict[str, torch.Tensor]:
        weights = [m.param for m in self.matrices]
        grads = [torch.zeros_like(w) for w in weights]
        was_training = self.model.training
        self.model.eval()
        used = 0
        try:
            with torch.backends.cudnn.flags(enabled=False):
                for batch in itertools.islice(batches, self.params.batches):
                    loss = loss_fn(self.model, batch)
                    for acc, g in zip(grads, torch.autograd.grad(loss, weights, allow_unused=True)):
                        if g is not None:
                            acc += g
                    used += 1
        finally:
            self.model.train(was_training)
        if used == 0:
            raise ValueError("SNIP got no training batches to score the weights with")
        return {m.name: (g * m.param.detach()).abs() for m, g in zip(self.matrices, grads)}
