"""The same model run by another kernel: torch sparse CSR products in place of the recurrent core's
dense matrices, to measure whether skipping zeros pays.

``sparse_variant(model)`` is a copy of a (masked) language model or classifier whose ``core`` is a
``SparseCore``: per layer, W_ih and W_hh as CSR tensors; the input products of all time steps in one
sparse product per layer, then one sparse product with W_hh per time step, and the gate arithmetic of
torch's own LSTM / GRU / RNN cells (gate order as torch packs them). Embedding, decoder and head stay
dense. Outputs equal the dense model's up to float rounding (tested).
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import Tensor, nn

from hyperprune.models.rhn import RHN

Layer = tuple[Tensor, Tensor, Tensor | None, Tensor | None]  # W_ih (CSR), W_hh (CSR), b_ih, b_hh


def supports_sparse(model: nn.Module) -> bool:
    core = getattr(model, "core", None)
    return isinstance(core, (nn.LSTM, nn.GRU, nn.RNN)) and not isinstance(core, RHN)


class SparseCore(nn.Module):
    """A torch recurrent core (eval semantics, zero or given state) with CSR weight matrices."""

    def __init__(self, core: nn.RNNBase) -> None:
        super().__init__()
        self.kind = "lstm" if isinstance(core, nn.LSTM) else "gru" if isinstance(core, nn.GRU) else core.nonlinearity
        self.hidden_size = core.hidden_size
        self.num_layers = core.num_layers
        self.layers: list[Layer] = []
        for l in range(core.num_layers):
            with warnings.catch_warnings():  # "sparse CSR support is in beta": measuring it is the point
                warnings.simplefilter("ignore", UserWarning)
                w_ih = getattr(core, f"weight_ih_l{l}").detach().to_sparse_csr()
                w_hh = getattr(core, f"weight_hh_l{l}").detach().to_sparse_csr()
            b_ih = getattr(core, f"bias_ih_l{l}", None)
            b_hh = getattr(core, f"bias_hh_l{l}", None)
            self.layers.append((w_ih, w_hh, None if b_ih is None else b_ih.detach(), None if b_hh is None else b_hh.detach()))

    def forward(self, x: Tensor, state: Tensor | tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, object]:
        steps, batch = x.shape[0], x.shape[1]
        H = self.hidden_size
        lstm = self.kind == "lstm"
        if state is None:
            zeros = x.new_zeros(self.num_layers, batch, H)
            h0, c0 = zeros, zeros
        elif isinstance(state, tuple):
            h0, c0 = state
        else:
            h0, c0 = state, state
        finals_h, finals_c = [], []
        for l, (w_ih, w_hh, b_ih, b_hh) in enumerate(self.layers):
            inputs = torch.sparse.mm(w_ih, x.reshape(steps * batch, -1).t()).t().reshape(steps, batch, -1)
            if b_ih is not None:
                inputs = inputs + b_ih
            h, c = h0[l], c0[l]
            outputs = []
            for t in range(steps):
                hidden = torch.sparse.mm(w_hh, h.t()).t()
                if b_hh is not None:
                    hidden = hidden + b_hh
                h, c = self._cell(inputs[t], hidden, h, c, H)
                outputs.append(h)
            x = torch.stack(outputs)
            finals_h.append(h)
            finals_c.append(c)
        h_n = torch.stack(finals_h)
        return x, ((h_n, torch.stack(finals_c)) if lstm else h_n)

    def _cell(self, gi: Tensor, gh: Tensor, h: Tensor, c: Tensor, H: int) -> tuple[Tensor, Tensor]:
        if self.kind == "lstm":
            gates = gi + gh
            i, f, g, o = torch.sigmoid(gates[:, :H]), torch.sigmoid(gates[:, H : 2 * H]), torch.tanh(
                gates[:, 2 * H : 3 * H]), torch.sigmoid(gates[:, 3 * H :])
            c = f * c + i * g
            return o * torch.tanh(c), c
        if self.kind == "gru":
            r = torch.sigmoid(gi[:, :H] + gh[:, :H])
            z = torch.sigmoid(gi[:, H : 2 * H] + gh[:, H : 2 * H])
            n = torch.tanh(gi[:, 2 * H :] + r * gh[:, 2 * H :])
            return (1 - z) * n + z * h, c
        pre = gi + gh
        return (torch.tanh(pre) if self.kind == "tanh" else torch.relu(pre)), c


def sparse_variant(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (eval mode) whose core runs on CSR matrices; the model keeps its own core."""
    if not supports_sparse(model):
        raise ValueError(f"no sparse kernel for a {type(getattr(model, 'core', model)).__name__} core")
    variant = copy.copy(model)  # shares embedding and decoder; only the core is replaced
    variant._modules = dict(model._modules)
    core = model.core
    assert isinstance(core, nn.RNNBase)  # supports_sparse
    variant._modules["core"] = SparseCore(core)
    return variant.eval()
