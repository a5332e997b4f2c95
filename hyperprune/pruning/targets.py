"""Which weights a pruner may mask: the recurrent layers' weight matrices, each split into its gate blocks.

The recurrent layers are those ``hyperprune.models.recurrent.recurrent_layers`` finds: a built-in
model's ``core``, or every ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` / ``RHN`` of a task's own model (or
those its task names). Masks are keyed by the parameter's real name in the model
(``core.weight_hh_l0``, ``encoder.rnn.weight_ih_l1``).

A torch recurrent layer packs its gates row-wise into one matrix (LSTM: input, forget, cell, output;
GRU: reset, update, new), so rows ``[g*H:(g+1)*H]`` belong to gate ``g``; an RHN's matrices hold the
candidate and the transform gate the same way. Rows are contiguous in memory, so ``blocks(t)`` is a
``[G, H*C]`` view whose row ``g`` is gate ``g``'s block: editing it edits the matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hyperprune.models.recurrent import RecurrentLayer, recurrent_layers
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
    layer: int  # layer inside its module, 0-based (an RHN has one)
    recurrent: bool  # hidden-to-hidden (True) or input-to-hidden (False)
    step: int | None = None  # RHN micro-step of a recurrent matrix
    module: str = "core"  # the recurrent module's path in the model

    @property
    def rhn(self) -> bool:
        return self.gate_names == GATE_NAMES[RHN]

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


def prunable_matrices(model: nn.Module, layers: list[str] | None = None) -> list[PrunableMatrix]:
    """The weight matrices of the recurrent layers (``layers``: their module paths; None: every
    recurrent layer), module by module in registration order, within a module in layer order
    (input-to-hidden before hidden-to-hidden). Raises ``RecurrentLayerError`` naming the layer for a
    model without one or a layer pruning cannot treat (bidirectional, proj_size)."""
    return [m for layer in recurrent_layers(model, layers) for m in _matrices(layer)]


def _matrices(layer: RecurrentLayer) -> list[PrunableMatrix]:
    core, name = layer.module, layer.parameter_name
    if isinstance(core, RHN):
        gates = GATE_NAMES[RHN]
        out = [PrunableMatrix(name("weight_ih"), core.weight_ih, gates, 0, False, module=layer.path)]
        for d in range(core.depth):
            out.append(
                PrunableMatrix(name(f"weight_hh_{d}"), getattr(core, f"weight_hh_{d}"), gates, 0, True, d, module=layer.path)
            )
        return out
    assert isinstance(core, nn.RNNBase)
    kind = next(k for k in (nn.LSTM, nn.GRU, nn.RNN) if isinstance(core, k))
    gates = GATE_NAMES[kind]
    out = []
    for i in range(core.num_layers):
        for recurrent, kind_name in ((False, "ih"), (True, "hh")):
            param = getattr(core, f"weight_{kind_name}_l{i}")
            out.append(PrunableMatrix(name(f"weight_{kind_name}_l{i}"), param, gates, i, recurrent, module=layer.path))
    return out


def total_weights(matrices: list[PrunableMatrix]) -> int:
    return sum(m.numel for m in matrices)


def masked_abs(matrix: PrunableMatrix, mask: Tensor) -> Tensor:
    """|W| with pruned entries at -1, below every kept weight (so they rank last even at ties with 0)."""
    return torch.where(mask, matrix.param.detach().abs(), torch.full_like(matrix.param, -1.0))
