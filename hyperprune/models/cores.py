"""Recurrent cores: construction and the few operations every model needs on any of them.

A core is a ``torch.nn.RNN`` / ``GRU`` / ``LSTM`` (``batch_first=False``, any number of layers) or a
:class:`hyperprune.models.rhn.RHN`. All of them are called the same way, ``core(x[T, B, I], state)``
with ``state=None`` meaning zeros, and return ``(outputs[T, B, H], state)``; only the state's shape
differs (``[L, B, H]``, an LSTM's ``(h, c)`` pair of those, or an RHN's ``[B, H]``).
"""

from __future__ import annotations

from typing import Union

import torch
from torch import Tensor, nn

from hyperprune.models.errors import ModelConfigError
from hyperprune.contract.trial import RHN_LAYERS
from hyperprune.models.rhn import RHN

State = Union[Tensor, tuple[Tensor, Tensor]]
CoreModule = Union[nn.RNN, nn.GRU, nn.LSTM, RHN]

CORE_ARCHS = ("rnn_tanh", "rnn_relu", "gru", "lstm", "rhn")


def build_core(
    arch: str,
    input_size: int,
    hidden_size: int,
    *,
    num_layers: int = 1,
    dropout: float = 0.0,
    rhn_depth: int = 3,
) -> nn.Module:
    """A fresh core with torch's default initialisation (uniform in +-1/sqrt(hidden_size)).

    ``dropout`` is applied between stacked layers (torch semantics: training mode only, not after the
    last layer); an RHN, which has one layer, uses it as its variational dropout on the input and on
    the state entering each micro-step.
    """
    if arch in ("rnn_tanh", "rnn_relu"):
        return nn.RNN(
            input_size,
            hidden_size,
            num_layers=num_layers,
            nonlinearity=arch.removeprefix("rnn_"),
            dropout=dropout if num_layers > 1 else 0.0,
        )
    if arch == "gru":
        return nn.GRU(input_size, hidden_size, num_layers=num_layers, dropout=dropout if num_layers > 1 else 0.0)
    if arch == "lstm":
        return nn.LSTM(input_size, hidden_size, num_layers=num_layers, dropout=dropout if num_layers > 1 else 0.0)
    if arch == "rhn":
        if num_layers != 1:
            raise ModelConfigError("model.numLayers", f"{RHN_LAYERS}; got numLayers={num_layers}")
        return RHN(input_size, hidden_size, rhn_depth, dropout=dropout)
    raise ModelConfigError("model.arch", f"unknown recurrent core {arch!r}; choose one of {', '.join(CORE_ARCHS)}")


def core_hidden_size(core: nn.Module) -> int:
    if not isinstance(core, (nn.RNNBase, RHN)):
        raise TypeError(f"not a recurrent core: {type(core).__name__}")
    return core.hidden_size


def core_num_layers(core: nn.Module) -> int:
    if not isinstance(core, (nn.RNNBase, RHN)):
        raise TypeError(f"not a recurrent core: {type(core).__name__}")
    return 1 if isinstance(core, RHN) else core.num_layers


def zero_state(core: nn.Module, batch_size: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> State:
    """The all-zeros state the core starts from (what ``state=None`` means)."""
    ref = next(core.parameters())
    device = ref.device if device is None else device
    dtype = ref.dtype if dtype is None else dtype
    H = core_hidden_size(core)
    if isinstance(core, RHN):
        return torch.zeros(batch_size, H, device=device, dtype=dtype)
    h = torch.zeros(core_num_layers(core), batch_size, H, device=device, dtype=dtype)
    if isinstance(core, nn.LSTM):
        return (h, torch.zeros_like(h))
    return h


def detach_state(state: State | None) -> State | None:
    """Cut the autograd history of a carried state (truncated back-propagation through time)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)  # type: ignore[return-value]
    return state.detach()
