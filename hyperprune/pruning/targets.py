"""Which weights a pruner may mask: the core's weight matrices, each split into its gate blocks.

A torch recurrent layer packs its gates row-wise into one matrix (LSTM: input, forget, cell, output;
GRU: reset, update, new), so rows ``[g*H:(g+1)*H]`` belong to gate ``g``; an RHN's matrices hold the
candidate and the transform gate the same way. Rows are contiguous in memory, so ``blocks(t)`` is a
``[G, H*C]`` view whose row ``g`` is gate ``g``'s block: editing it edits the matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hyperprune.models.rhn import RHN

GATE_NAMES: dict[type, tuple[str, ...]] = {
    nn.LSTM: ("input", "forget", "cell", "output"),
    nn.GRU: ("reset", "update", "new"),
    nn.RNN: ("hidden",),
    RHN: ("candidate", "transform"),
}


@dataclass(frozen=True, eq=False)
class PrunableMatrix:
    name: str  # the parameter's name in the model, e.g. "core.weight_hh_l0": the key of its mask
    param: nn.Parameter
    gate_names: tuple[str, ...]
    layer: int  # recurrent layer, 0-based (an RHN has one)
    recurrent: bool  # hidden-to-hidden (True) or input-to-hidden (False)
    step: int | None = None  # RHN micro-step of a recurrent matrix

    @property
    def gates(self) -> int:
        return len(self.gate_names)

    @property
    def hidden(self) -> int:
        return self.param.shape[0] // self.gates

    @property
    def shape(self) -> tuple[int, int]:
        rows, cols = self.param.shape
        return rows, cols

    @property
    def numel(self) -> int:
        return self.param.numel()

    @property
    def block_numel(self) -> int:
        return self.numel // self.gates

    def blocks(self, tensor: Tensor) -> Tensor:
        """``tensor`` (shaped like the matrix) as a [gates, block_numel] view, one row per gate."""
        return tensor.view(self.gates, -1)


def core_of(model: nn.Module) -> nn.Module:
    core = getattr(model, "core", None)
    if core is None:
        raise ValueError("pruning needs a model with a recurrent .core (build it with hyperprune.models.build_model)")
    return core


def prunable_matrices(model: nn.Module) -> list[PrunableMatrix]:
    """The core's weight matrices in layer order (input-to-hidden before hidden-to-hidden)."""
    core = core_of(model)
    if isinstance(core, RHN):
        gates = GATE_NAMES[RHN]
        out = [PrunableMatrix("core.weight_ih", core.weight_ih, gates, 0, False)]
        for d in range(core.depth):
            out.append(PrunableMatrix(f"core.weight_hh_{d}", getattr(core, f"weight_hh_{d}"), gates, 0, True, d))
        return out
    kind = next((k for k in (nn.LSTM, nn.GRU, nn.RNN) if isinstance(core, k)), None)
    if kind is None or not isinstance(core, nn.RNNBase):
        raise ValueError(f"cannot prune a core of type {type(core).__name__}; expected torch RNN/GRU/LSTM or RHN")
    if core.bidirectional or core.proj_size:
        raise ValueError("pruning supports unidirectional cores without projections")
    gates = GATE_NAMES[kind]
    out = []
    for layer in range(core.num_layers):
        out.append(PrunableMatrix(f"core.weight_ih_l{layer}", getattr(core, f"weight_ih_l{layer}"), gates, layer, False))
        out.append(PrunableMatrix(f"core.weight_hh_l{layer}", getattr(core, f"weight_hh_l{layer}"), gates, layer, True))
    return out


def total_weights(matrices: list[PrunableMatrix]) -> int:
    return sum(m.numel for m in matrices)


def masked_abs(matrix: PrunableMatrix, mask: Tensor) -> Tensor:
    """|W| with pruned entries at -1, below every kept weight (so they rank last even at ties with 0)."""
    return torch.where(mask, matrix.param.detach().abs(), torch.full_like(matrix.param, -1.0))
