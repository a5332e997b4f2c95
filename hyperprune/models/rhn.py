"""Recurrent highway network (Zilly et al. 2017, "Recurrent Highway Networks").

One time step is ``depth`` (D) highway micro-steps applied to the state ``s`` (size H). With the
coupled carry gate (c = 1 - t) micro-step d (0-based) computes

    a_d = R_d s_{d-1} + b_d + [d == 0] * W x_t          (pre-activations, size 2H)
    h_d = tanh(a_d[:H])                                  (candidate, "H" transform)
    t_d = sigmoid(a_d[H:])                               (transform gate "T")
    s_d = h_d * t_d + s_{d-1} * (1 - t_d)

with s_{-1} = s_{t-1} (the previous time step's state) and s_t = s_{D-1}. The input enters the first
micro-step only.

Parameter layout (every matrix and bias is its own named ``Parameter`` so that pruning masks can
address each matrix, and biases are never part of a weight matrix):

- ``weight_ih``      [2H, I]  input weights W; rows ``[0:H]`` feed the candidate h, rows ``[H:2H]``
                              the transform gate t (gate-aware pruning can mask the two blocks apart).
- ``weight_hh_{d}``  [2H, H]  recurrent weights R_d of micro-step d = 0..D-1, same row blocks.
- ``bias_{d}``       [2H]     bias b_d of micro-step d, same blocks.

``torch.nn.utils.prune``-style reparametrisation (``weight_hh_0_orig`` + ``weight_hh_0_mask``) is
honoured: :meth:`RHN.weights` returns ``orig * mask`` for such parameters, and ``forward`` /
``step`` use :meth:`RHN.weights`, so a stale attribute can never be used.

Dropout (training only) is variational as in the paper: one Bernoulli mask per sequence on the input
and one per sequence and micro-step on the state entering that micro-step, shared across time.
In eval mode there is no dropout; the Lyapunov engine always uses eval semantics.

The transform-gate biases start negative (``transform_bias_init``, -2 by default) so that an untrained
network mostly carries its state, as the paper recommends for deep transitions.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def rhn_micro_step(s: Tensor, weight_hh: Tensor, bias: Tensor, u: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """One highway micro-step. ``s`` [B, H]; ``weight_hh`` [2H, H]; ``bias`` [2H]; ``u`` [B, 2H] the
    input contribution ``W x_t`` (first micro-step only, else None). Returns (s_new, h, t).

    Shared by :class:`RHN` and the Lyapunov tangent map so that both use exactly one definition.
    """
    a = torch.addmm(bias, s, weight_hh.t())
    if u is not None:
        a = a + u
    hidden = s.shape[-1]
    h = torch.tanh(a[:, :hidden])
    t = torch.sigmoid(a[:, hidden:])
    s_new = s + t * (h - s)  # = h * t + s * (1 - t)
    return s_new, h, t


def _effective(module: nn.Module, name: str) -> Tensor:
    """``name`` as the network computes with it: ``orig * mask`` under torch.nn.utils.prune."""
    orig = getattr(module, name + "_orig", None)
    mask = getattr(module, name + "_mask", None)
    if orig is not None and mask is not None:
        return orig * mask
    return getattr(module, name)


class RHN(nn.Module):
    """Single-layer recurrent highway network with coupled carry gate (see the module docstring).

    ``forward(x[T, B, I], s0=None) -> (out[T, B, H], s_T[B, H])``; ``s0`` defaults to zeros.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        depth: int,
        dropout: float = 0.0,
        *,
        transform_bias_init: float = -2.0,
    ) -> None:
        super().__init__()
        if input_size < 1 or hidden_size < 1 or depth < 1:
            raise ValueError(
                f"RHN needs positive sizes, got input_size={input_size}, hidden_size={hidden_size}, depth={depth}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"RHN dropout must be in [0, 1), got {dropout}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.depth = depth
        self.dropout = dropout
        self.transform_bias_init = transform_bias_init
        H = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(2 * H, input_size))
        for d in range(depth):
            self.register_parameter(f"weight_hh_{d}", nn.Parameter(torch.empty(2 * H, H)))
            self.register_parameter(f"bias_{d}", nn.Parameter(torch.empty(2 * H)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Same scale as torch's recurrent layers; uses the global RNG like torch.nn.LSTM does, so
        # callers seed model construction with torch.manual_seed / torch.random.fork_rng.
        bound = 1.0 / math.sqrt(self.hidden_size)
        H = self.hidden_size
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("_orig"):
                    name = name[: -len("_orig")]
                p.uniform_(-bound, bound)
                if name.startswith("bias_"):
                    p[H:].fill_(self.transform_bias_init)

    def weights(self) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """(weight_ih, [weight_hh_d], [bias_d]) as used in the computation (masks applied)."""
        w_ih = _effective(self, "weight_ih")
        w_hh = [_effective(self, f"weight_hh_{d}") for d in range(self.depth)]
        b = [_effective(self, f"bias_{d}") for d in range(self.depth)]
        return w_ih, w_hh, b

    def step(self, x_t: Tensor, s: Tensor, *, masks: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """One time step: ``x_t`` [B, I], ``s`` [B, H] -> new state [B, H] (D micro-steps).

        ``masks`` = (input mask [B, I], state masks [D, B, H]) applies variational dropout; it is
        None in eval mode.
        """
        w_ih, w_hh, b = self.weights()
        return self._step(x_t, s, w_ih, w_hh, b, masks)

    def _step(self, x_t, s, w_ih, w_hh, b, masks):
        if masks is not None:
            x_t = x_t * masks[0]
        u = x_t @ w_ih.t()
        for d in range(self.depth):
            if masks is None:
                s, _, _ = rhn_micro_step(s, w_hh[d], b[d], u if d == 0 else None)
            else:
                # Dropout only on what feeds the candidate and the gate; the carried state itself
                # is not scaled by the dropout mask.
                _, h, t = rhn_micro_step(s * masks[1][d], w_hh[d], b[d], u if d == 0 else None)
                s = s + t * (h - s)
        return s

    def _dropout_masks(self, B: int, ref: Tensor) -> tuple[Tensor, Tensor] | None:
        if not self.training or self.dropout == 0.0:
            return None
        keep = 1.0 - self.dropout
        x_mask = torch.empty(B, self.input_size, dtype=ref.dtype, device=ref.device).bernoulli_(keep) / keep
        s_mask = torch.empty(self.depth, B, self.hidden_size, dtype=ref.dtype, device=ref.device).bernoulli_(keep) / keep
        return x_mask, s_mask

    def forward(self, x: Tensor, s0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"RHN expects input [T, B, {self.input_size}], got {list(x.shape)}")
        T, B, _ = x.shape
        w_ih, w_hh, b = self.weights()
        s = x.new_zeros(B, self.hidden_size) if s0 is None else s0
        masks = self._dropout_masks(B, x)
        outs = []
        for t in range(T):
            s = self._step(x[t], s, w_ih, w_hh, b, masks)
            outs.append(s)
        return torch.stack(outs, 0), s

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, depth={self.depth}, dropout={self.dropout}"
