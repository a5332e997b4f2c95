"""ISS-style structured pruning (Wen et al. 2018, "Learning Intrinsic Sparse Structures within LSTMs").

An Intrinsic Sparse Structure is everything tied to one hidden unit j of a recurrent layer l:

- its rows in every gate of the layer's input matrix W_ih^l and recurrent matrix W_hh^l
  (what computes the unit),
- its column in W_hh^l (what it feeds back into every gate of its layer),
- its column in the next layer's W_ih^{l+1} (what it feeds upwards);

for an RHN: its candidate and transform rows in W and in every micro-step's R_d, and its column in
every R_d; and the unit's entries in the biases of those rows (b_ih and b_hh of every gate, an RHN's b_d).
Training adds a group lasso, lambda * sum over units of the L2 norm of the unit's group (its weights),
that pushes whole groups towards zero; after ``pruneEpoch`` epochs the units with the smallest group
norm in each layer are removed (masks zero their weights, and their biases are zeroed and held at zero)
and the network is fine-tuned without the penalty.

A removed unit is dead: with no weight and no bias its pre-activations are 0 at every step, so from a
zero state its output stays exactly 0 (LSTM: c = sigmoid(0) c + sigmoid(0) tanh(0) = 0; GRU: h = h/2;
RHN: s = s/2). Its column in the decoder / classifier head therefore multiplies zeros, and the units
can be deleted physically: ``hyperprune.deploy.compact`` exports the winner as a smaller standard
``nn.LSTM``/``nn.GRU``/``nn.RNN`` whose outputs equal the masked model's. (Keeping the biases, as an
earlier version did, left every removed unit a time-varying input-independent signal the decoder read,
which no smaller network reproduces exactly.)

How many units each layer loses is fixed when the pruner is built: the counts whose exact weight
sparsity is closest to the target, searched around an even split
(every layer losing the same fraction of its units), each layer keeping at least one. If no such counts land within 0.5% of the target (a small layer, where one
unit is a large share of the weights), the pruner refuses to be built. That arithmetic is the
contract's (hyperprune.contract.units), so the spec refuses such a sparsity before any trial.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

from hyperprune.models.rhn import RHN
from hyperprune.contract.pruning import IssParams, PruningConfigError
from hyperprune.contract.units import UnitLayer, pruned_weight_count, reach_problem, unit_layers, units_to_remove
from hyperprune.pruning.base import Pruner
from hyperprune.pruning.targets import PrunableMatrix

__all__ = [
    "IssPruner", "UnitLayer", "module_unit_layers", "pruned_weight_count", "unit_layers", "unit_masks", "units_to_remove",
]


def module_unit_layers(matrices: list[PrunableMatrix]) -> list[UnitLayer[PrunableMatrix]]:
    """The unit layers of every recurrent module, module by module (the contract's ``unit_layers``
    on each). Inside a module, layer l+1 reads layer l's units directly (their columns in
    W_ih^{l+1} belong to the group); a separate module reads them through whatever the model puts
    between (dropout, a linear map), so, like a decoder, its input columns are left out of the group."""
    layers: list[UnitLayer[PrunableMatrix]] = []
    for _, group in itertools.groupby(matrices, key=lambda m: m.module):
        module = list(group)
        layers += unit_layers(module, module[0].rhn)
    return layers


def row_biases(model: nn.Module, layers: list[UnitLayer[PrunableMatrix]]) -> list[list[Tensor]]:
    """Per unit layer, the bias vectors of the rows that compute its units ([gates * H] each), found
    in the layer's own recurrent module: a torch layer's b_ih and b_hh, an RHN's b_d of every micro-step."""
    out = []
    for layer in layers:
        first = layer.row_matrices[0]
        module = model.get_submodule(first.module)
        if isinstance(module, RHN):
            names = [f"bias_{d}" for d in range(module.depth)]
        else:
            names = [f"bias_ih_l{first.layer}", f"bias_hh_l{first.layer}"]
        out.append([b for name in names if (b := getattr(module, name, None)) is not None])
    return out


def unit_masks(matrices: list[PrunableMatrix], layers: list[UnitLayer[PrunableMatrix]], removed: list[Tensor]) -> dict[str, Tensor]:
    """Masks that zero the groups of the units flagged in ``removed[l]`` (bool [H_l])."""
    masks = {m.name: torch.ones_like(m.param, dtype=torch.bool) for m in matrices}
    for layer, units in zip(layers, removed):
        for m in layer.row_matrices:
            masks[m.name].view(m.gates, m.hidden, -1)[:, units, :] = False
        for m in layer.column_matrices:
            masks[m.name][:, units] = False
    return masks


class IssPruner(Pruner[IssParams]):
    """``iss``: see the module docstring."""

    method = "iss"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.units_removed = False
        super().__init__(*args, **kwargs)
        self.layers = module_unit_layers(self.matrices)
        self.biases = row_biases(self.model, self.layers)
        self._removed: list[Tensor] | None = None  # per layer, the removed units (once removed)
        self.removal_counts, self.planned_sparsity = units_to_remove(self.matrices, self.layers, self.target_sparsity)
        problem = reach_problem(self.layers, self.planned_sparsity, self.target_sparsity)  # the spec checks it too
        if problem:
            raise PruningConfigError("pruning.sparsity", problem)

    @property
    def final_sparsity_epoch(self) -> int:
        return self.params.prune_epoch

    def group_norms(self) -> list[Tensor]:
        """L2 norm of every unit's group, per layer (each weight counted once)."""
        return [self._group_squares(layer).clamp_min(0).sqrt() for layer in self.layers]

    def _group_squares(self, layer: UnitLayer) -> Tensor:
        total = layer.row_matrices[0].param.new_zeros(layer.hidden)
        for m in layer.row_matrices:
            total = total + m.param.pow(2).view(m.gates, m.hidden, -1).sum(dim=(0, 2))
        for m in layer.column_matrices:
            total = total + m.param.pow(2).sum(dim=0)
        for m in layer.row_matrices:
            if m in layer.column_matrices:  # entries (gate row of j, column j) were counted twice
                diag = m.param.view(m.gates, m.hidden, m.hidden).diagonal(dim1=1, dim2=2)
                total = total - diag.pow(2).sum(0)
        return total

    def regularization(self) -> Tensor | None:
        if self.units_removed or self.params.group_lasso == 0.0:
            return None
        # sqrt(x + eps) keeps the gradient finite for a group that reached zero.
        norms = [(self._group_squares(layer).clamp_min(0) + 1e-12).sqrt().sum() for layer in self.layers]
        return self.params.group_lasso * torch.stack(norms).sum()

    def _remove_units(self, optimizer: torch.optim.Optimizer | None) -> None:
        removed = []
        with torch.no_grad():
            for layer, norms, k in zip(self.layers, self.group_norms(), self.removal_counts):
                flags = torch.zeros(layer.hidden, dtype=torch.bool, device=norms.device)
                if k:
                    flags[torch.topk(norms, k, largest=False).indices] = True
                removed.append(flags)
        self._set_masks(unit_masks(self.matrices, self.layers, removed), optimizer)
        self.units_removed = True
        self._removed = None
        self.apply_masks()

    def _removed_flags(self) -> list[Tensor]:
        if self._removed is None:
            self._removed = self.removed_units()
        return self._removed

    def _removed_bias_entries(self, tensors: str) -> Iterator[tuple[Tensor, Tensor]]:
        """(bias or its gradient, [gates, H] view index of the removed units) for every row bias of a
        layer that lost units; ``tensors`` is "data" or "grad"."""
        if not self.units_removed:
            return
        for biases, flags in zip(self.biases, self._removed_flags()):
            for bias in biases:
                tensor = bias if tensors == "data" else bias.grad
                if tensor is not None:
                    yield tensor.view(-1, flags.numel()), flags.to(tensor.device)

    @torch.no_grad()
    def apply_masks(self) -> None:
        """The weight masks, then the removed units' biases held at zero (their units stay dead)."""
        super().apply_masks()
        for rows, flags in self._removed_bias_entries("data"):
            rows[:, flags] = 0.0

    @torch.no_grad()
    def _mask_gradients(self) -> None:
        super()._mask_gradients()
        for rows, flags in self._removed_bias_entries("grad"):
            rows[:, flags] = 0.0

    def removed_units(self) -> list[Tensor]:
        """Per layer, bool [H]: True for units whose rows are masked."""
        out = []
        for layer in self.layers:
            m = layer.row_matrices[-1]
            out.append(~self._masks[m.name].view(m.gates, m.hidden, -1).any(dim=2).any(dim=0))
        return out

    def _at_start(self, batches, loss_fn) -> None:
        if self.params.prune_epoch == 0:
            self._remove_units(None)

    def on_epoch_end(self, epoch, optimizer=None) -> None:
        if epoch == self.params.prune_epoch:
            self._remove_units(optimizer)

    def _extra_state(self) -> dict[str, Any]:
        return {"units_removed": self.units_removed}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.units_removed = bool(state["units_removed"])
        self._removed = None
