"""Sequence classifier: a recurrent core over feature vectors, its last output -> linear -> classes."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hyperprune.models.cores import State, core_hidden_size, zero_state


class SequenceClassifier(nn.Module):
    """``forward(x[T, B, F], state=None) -> logits[B, C]``, read from the top layer's output at the
    last time step (the 8x8 digits are 8 steps of 8 pixel features)."""

    def __init__(self, core: nn.Module, num_classes: int, *, dropout: float = 0.0) -> None:
        super().__init__()
        self.core = core
        self.num_classes = num_classes
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(core_hidden_size(core), num_classes)

    def forward(self, x: Tensor, state: State | None = None) -> Tensor:
        out, _ = self.core(self.core_inputs(x), state)
        return self.head(self.dropout(out[-1]))

    def core_inputs(self, x: Tensor) -> Tensor:
        """The core's input for ``x``: the features themselves, as floats of the model's dtype."""
        return x.to(dtype=self.head.weight.dtype)

    def init_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        return zero_state(self.core, batch_size, device)
