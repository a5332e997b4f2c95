"""SynFlow (Tanaka et al. 2020) for recurrent cores: iterative, data-free pruning at initialisation.

SynFlow scores a weight by the "synaptic flow" through it: with every weight replaced by |W| and an
all-ones input, R = 1^T f(1) and score(w) = |w * dR/dw|. That needs a network that is linear in its
positive weights; a recurrent cell is not (sigmoid and tanh gates, multiplicative gating), so the
score is computed on the cell's *linearised unrolled graph*:

- every gate row is a neuron whose pre-activation is |W_ih| u_t + |W_hh| h_{t-1} (biases dropped);
- a hidden unit sums its gates' neurons (the multiplicative gate interactions become sums, the
  nonlinearities identity): h_t = sum_g (|W_ih^g| u_t + |W_hh^g| h_{t-1});
- weight-free paths (an LSTM's cell carry, an RHN's carry) are left out: they carry no weight;
- layer l's input u_t is layer l-1's h_t; the first layer's input is all ones; h_0 = 0;
- separate recurrent modules (a task's own model) chain in registration order when a module's input
  width equals the previous module's hidden size (a stack with dropout between); a module of any
  other input width starts from all ones, since SynFlow cannot see through the map before it;
- an RHN step chains its micro-steps: s_0 = sum_g (|W^g| 1 + |R_0^g| s_prev),
  s_d = sum_g |R_d^g| s_{d-1};
- R sums the top layer's outputs over ``unrollSteps`` time steps (what a decoder reads).

It runs in float64. The scores are recomputed ``iterations`` times while the kept fraction shrinks
exponentially, (1 - s)^(k / iterations) at iteration k, over one global ranking, as published.
"""

from __future__ import annotations

import torch
from torch import Tensor

import itertools

from hyperprune.contract.pruning import SynflowParams
from hyperprune.pruning.base import Pruner
from hyperprune.pruning.selection import keep_top
from hyperprune.pruning.targets import PrunableMatrix


def _gate_sum(matrix: PrunableMatrix, weight: Tensor) -> Tensor:
    """[G*H, C] -> [H, C]: the gate rows of each unit added together."""
    return weight.view(matrix.gates, matrix.hidden, -1).sum(0)


def synaptic_flow(modules: list[tuple[list[Tensor], bool]], *, unroll_steps: int) -> Tensor:
    """R for the linearised unrolled recurrent modules, each given as (its gate-summed non-negative
    matrices in the order of :func:`prunable_matrices`, whether it is an RHN), in model order."""
    total = modules[0][0][0].new_zeros(())
    top: list[Tensor] | None = None  # the previous module's top-layer outputs, per step
    for weights, rhn in modules:
        width = weights[0].shape[1]
        inputs = top if top is not None and top[0].shape[0] == width else [weights[0].new_ones(width)] * unroll_steps
        top = _module_flow(weights, inputs, rhn)
    assert top is not None
    for u in top:
        total = total + u.sum()
    return total


def _module_flow(weights: list[Tensor], inputs: list[Tensor], rhn: bool) -> list[Tensor]:
    """The top layer's output at every unrolled step of one module driven by ``inputs``."""
    outputs = []
    if rhn:
        w_in, recurrent = weights[0], weights[1:]
        s = w_in.new_zeros(w_in.shape[0])
        for u in inputs:
            drive = w_in @ u
            for d, r in enumerate(recurrent):
                s = r @ s + (drive if d == 0 else 0.0)
            outputs.append(s)
        return outputs
    layers = len(weights) // 2
    hidden = [weights[2 * l].new_zeros(weights[2 * l].shape[0]) for l in range(layers)]
    for u in inputs:
        for l in range(layers):
            hidden[l] = weights[2 * l] @ u + weights[2 * l + 1] @ hidden[l]
            u = hidden[l]
        outputs.append(u)
    return outputs


def synflow_scores(matrices: list[PrunableMatrix], masks: dict[str, Tensor], *, unroll_steps: int) -> dict[str, Tensor]:
    """score(w) = |w| * dR/d|w| with the masked |W|; pruned weights score -1 (below every kept one).

    Every gate row of a unit enters R only through the gate sum A = sum_g |W^g|, so dR/d|W^g| =
    dR/dA: the gradient is taken on the (G times smaller) summed matrices and broadcast back."""
    kept = [(m.param.detach().abs() * masks[m.name]).to(torch.float64) for m in matrices]
    summed = [_gate_sum(m, w).requires_grad_(True) for m, w in zip(matrices, kept)]
    modules, start = [], 0
    for _, group in itertools.groupby(matrices, key=lambda m: m.module):
        size = len(list(group))
        modules.append((summed[start : start + size], matrices[start].rhn))
        start += size
    flow = synaptic_flow(modules, unroll_steps=unroll_steps)
    if not torch.isfinite(flow):
        raise FloatingPointError(
            f"the synaptic flow overflowed float64 over {unroll_steps} unrolled steps; lower pruning.params.unrollSteps"
        )
    grads = torch.autograd.grad(flow, summed)
    scores = {}
    for m, w, g in zip(matrices, kept, grads):
        score = w.view(m.gates, m.hidden, -1).mul_(g.unsqueeze(0)).view_as(w)
        scores[m.name] = score.masked_fill_(~masks[m.name], -1.0)
    return scores


class SynflowPruner(Pruner[SynflowParams]):
    """``synflow``: see the module docstring."""

    method = "synflow"

    def _at_start(self, batches, loss_fn) -> None:
        n = self.params.iterations
        for k in range(1, n + 1):
            sparsity = 1.0 - (1.0 - self.target_sparsity) ** (k / n)
            scores = synflow_scores(self.matrices, self._masks, unroll_steps=self.params.unroll_steps)
            self._set_masks(keep_top(self.matrices, scores, sparsity, scope="global"))
