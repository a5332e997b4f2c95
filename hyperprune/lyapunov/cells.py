"""Per-cell forward steps and analytic tangent maps, and the registry of supported modules.

Every supported module is turned into a :class:`Network`: a list of :class:`Layer` objects, each of
which advances its own forward state one time step and returns the :class:`~.tangent.Stage` list
that describes its Jacobian at that step (see :mod:`hyperprune.lyapunov.tangent`). Weights are read
once, as the module computes with them: zeros written into the parameters by pruning code are used
as they are, and ``torch.nn.utils.prune`` reparametrisations (``<name>_orig`` + ``<name>_mask``) are
applied (``orig * mask``) so a stale ``<name>`` attribute is never used.

State layout (the coordinates the exponents refer to): layers in order, and within a layer the
tracked parts in this order -- ``h`` (RNN, GRU, LSTM in ``state="hidden"`` mode), ``h, c`` (LSTM in
``state="full"`` mode), ``s`` (RHN). The size N is the sum of the parts.

Extension point: :func:`register_cell` maps a module class to a builder returning a
:class:`Network`; the engine then handles that module like the built-in ones (tests use it for a
linear recurrence with a known spectrum). The reference implementation
(:mod:`hyperprune.lyapunov.reference`) needs such a module to have ``step(x_t[B, I], s[B, N]) ->
s[B, N]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from hyperprune.lyapunov.tangent import Output, Stage
from hyperprune.models.rhn import RHN, rhn_micro_step

StateMode = Literal["full", "hidden"]


def effective_weight(module: nn.Module, name: str) -> Tensor | None:
    """The tensor ``module`` computes with for parameter ``name`` (``orig * mask`` under
    torch.nn.utils.prune), detached; None when the module has no such parameter (bias=False)."""
    orig = getattr(module, name + "_orig", None)
    mask = getattr(module, name + "_mask", None)
    if isinstance(orig, Tensor) and isinstance(mask, Tensor):
        return (orig * mask).detach()
    value = getattr(module, name, None)
    return value.detach() if isinstance(value, Tensor) else None


def _cast(t: Tensor | None, dtype: torch.dtype, device: torch.device, what: str) -> Tensor | None:
    if t is None:
        return None
    if not t.is_floating_point():
        raise TypeError(f"{what} must be a floating-point tensor, got {t.dtype}")
    out = t.to(device=device, dtype=dtype)
    if not bool(torch.isfinite(out).all()):
        raise ValueError(f"{what} contains NaN or inf; the spectrum of such a model is undefined")
    return out


@dataclass
class Part:
    name: str  # global name, e.g. "0.h"
    size: int


class Layer:
    """One recurrent layer as the engine sees it.

    ``parts``: tracked perturbation parts (global names, sizes) in state order; ``output``: the
    global name of the part the next layer reads as its input (its perturbation is that part's new
    value); ``output_size``: its width.
    """

    parts: list[Part]
    output: str
    output_size: int
    input_size: int

    def step(self, x: Tensor, state: Any, x_source: str | None) -> tuple[Any, Tensor, list[Stage]]:
        """Advance ``state`` with input ``x`` [B, I]. Returns (new state, output [B, H] for the next
        layer, stages of the Jacobian at this step). ``x_source`` names the perturbation of ``x``
        (None: the external input, which is not perturbed)."""
        raise NotImplementedError

    def forward_flops(self, batch: int) -> int:
        """Multiply-add flops of one forward step (for the GFLOP/s figure)."""
        return 0


@dataclass
class Network:
    """The stacked layers of a module plus the conversion of a user's ``h0`` into per-layer states."""

    layers: list[Layer]
    input_size: int
    initial_state: Callable[[int, Any], list[Any]]  # (batch, h0 or None) -> per-layer states

    @property
    def parts(self) -> list[Part]:
        return [p for layer in self.layers for p in layer.parts]

    @property
    def size(self) -> int:
        return sum(p.size for p in self.parts)

    def step_layers(self, x: Tensor, states: list[Any]) -> tuple[list[Any], list[list[Stage]]]:
        """Advance every layer; the Jacobian's stages per layer (layer l > 0 reads layer l-1's new
        output as its input source: the block lower-triangular structure)."""
        new_states, stages = [], []
        inp, src = x, None
        for layer, st in zip(self.layers, states):
            st2, out, layer_stages = layer.step(inp, st, src)
            new_states.append(st2)
            stages.append(layer_stages)
            inp, src = out, layer.output
        return new_states, stages

    def step(self, x: Tensor, states: list[Any]) -> tuple[list[Any], list[Stage]]:
        """Advance every layer; all stages of the one-step Jacobian in order."""
        new_states, stages = self.step_layers(x, states)
        return new_states, [s for layer_stages in stages for s in layer_stages]


# --------------------------------------------------------------------------------------------
# torch.nn.RNN / GRU / LSTM


def _rnn_weights(module: nn.RNNBase, layer: int, dtype, device) -> tuple[Tensor, Tensor, tuple[Tensor | None, Tensor | None] | None]:
    w_ih = _cast(effective_weight(module, f"weight_ih_l{layer}"), dtype, device, f"weight_ih_l{layer}")
    w_hh = _cast(effective_weight(module, f"weight_hh_l{layer}"), dtype, device, f"weight_hh_l{layer}")
    bias = None
    if module.bias:
        b_ih = _cast(effective_weight(module, f"bias_ih_l{layer}"), dtype, device, f"bias_ih_l{layer}")
        b_hh = _cast(effective_weight(module, f"bias_hh_l{layer}"), dtype, device, f"bias_hh_l{layer}")
        bias = (b_ih, b_hh)
    assert w_ih is not None and w_hh is not None
    return w_ih, w_hh, bias


class _TorchLayer(Layer):
    gates = 1

    def __init__(self, module: nn.RNNBase, index: int, dtype, device) -> None:
        self.index = index
        self.w_ih, self.w_hh, bias = _rnn_weights(module, index, dtype, device)
        self.b_ih: Tensor | None
        self.b_hh: Tensor | None
        self.b_ih, self.b_hh = bias if bias is not None else (None, None)
        self.hidden = module.hidden_size
        self.input_size = self.w_ih.shape[1]
        self.output = f"{index}.h"
        self.output_size = self.hidden
        self.parts = [Part(f"{index}.h", self.hidden)]

    def _pre(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        gi = x @ self.w_ih.t() if self.b_ih is None else torch.addmm(self.b_ih, x, self.w_ih.t())
        gh = h @ self.w_hh.t() if self.b_hh is None else torch.addmm(self.b_hh, h, self.w_hh.t())
        return gi, gh

    def _sources(self, x_source: str | None) -> dict[str, Tensor]:
        src = {f"{self.index}.h": self.w_hh}
        if x_source is not None:
            src[x_source] = self.w_ih
        return src

    def forward_flops(self, batch: int) -> int:
        return 2 * batch * self.gates * self.hidden * (self.input_size + self.hidden)


class RNNLayer(_TorchLayer):
    def __init__(self, module: nn.RNNBase, index: int, dtype, device) -> None:
        super().__init__(module, index, dtype, device)
        self.relu = module.mode == "RNN_RELU"

    def step(self, x, state, x_source):
        gi, gh = self._pre(x, state)
        a = gi + gh
        if self.relu:
            h = torch.relu(a)
            # autograd's relu derivative: 1 where a > 0, else 0 (also at a == 0)
            coef = (a > 0).to(a.dtype)
        else:
            h = torch.tanh(a)
            coef = 1 - h * h
        name = f"{self.index}.h"
        terms = [(0, coef)]
        gates = {name: terms}
        if x_source is not None:
            gates[x_source] = terms
        return h, h, [Stage(self._sources(x_source), self.hidden, [Output(name, gates)])]


class GRULayer(_TorchLayer):
    gates = 3

    def step(self, x, state, x_source):
        h = state
        H = self.hidden
        gi, gh = self._pre(x, h)
        r = torch.sigmoid(gi[:, :H] + gh[:, :H])
        z = torch.sigmoid(gi[:, H : 2 * H] + gh[:, H : 2 * H])
        hn = gh[:, 2 * H :]
        n = torch.tanh(gi[:, 2 * H :] + r * hn)
        h_new = n + z * (h - n)
        # h' = (1-z) n + z h;  dh' = (h-n) dz + (1-z) dn + z dh,
        # dz = z(1-z) (W_iz dx + W_hz dh),  dr = r(1-r) (W_ir dx + W_hr dh),
        # dn = (1-n^2) (W_in dx + r W_hn dh + hn dr)
        dn = (1 - z) * (1 - n * n)
        rho = dn * hn * r * (1 - r)
        zeta = (h - n) * z * (1 - z)
        name = f"{self.index}.h"
        gates = {name: [(0, rho), (1, zeta), (2, dn * r)]}
        if x_source is not None:
            gates[x_source] = [(0, rho), (1, zeta), (2, dn)]
        out = Output(name, gates, diag=[(name, z)])
        return h_new, h_new, [Stage(self._sources(x_source), H, [out])]


class LSTMLayer(_TorchLayer):
    gates = 4

    def __init__(self, module: nn.LSTM, index: int, dtype, device, mode: StateMode) -> None:
        super().__init__(module, index, dtype, device)
        self.full = mode == "full"
        if self.full:
            self.parts = [Part(f"{index}.h", self.hidden), Part(f"{index}.c", self.hidden)]

    def step(self, x, state, x_source):
        h, c = state
        H = self.hidden
        gi, gh = self._pre(x, h)
        a = gi + gh
        i = torch.sigmoid(a[:, :H])
        f = torch.sigmoid(a[:, H : 2 * H])
        g = torch.tanh(a[:, 2 * H : 3 * H])
        o = torch.sigmoid(a[:, 3 * H :])
        c_new = f * c + i * g
        tc = torch.tanh(c_new)
        h_new = o * tc
        # dc' = i(1-i) g da_i + f(1-f) c da_f + i (1-g^2) da_g + f dc
        # dh' = o(1-o) tanh(c') da_o + o (1 - tanh^2 c') dc'
        alpha_i = i * (1 - i) * g
        alpha_f = f * (1 - f) * c
        alpha_g = i * (1 - g * g)
        gamma = o * (1 - o) * tc
        delta = o * (1 - tc * tc)
        hname, cname = f"{self.index}.h", f"{self.index}.c"
        h_terms = [(0, delta * alpha_i), (1, delta * alpha_f), (2, delta * alpha_g), (3, gamma)]
        outputs = []
        if self.full:
            c_terms = [(0, alpha_i), (1, alpha_f), (2, alpha_g)]
            c_gates = {hname: c_terms}
            h_gates = {hname: h_terms}
            if x_source is not None:
                c_gates[x_source] = c_terms
                h_gates[x_source] = h_terms
            outputs.append(Output(hname, h_gates, diag=[(cname, delta * f)]))
            outputs.append(Output(cname, c_gates, diag=[(cname, f)]))
        else:
            # Published h-only mode: c_{t-1} is held fixed, so there is no dc term.
            h_gates = {hname: h_terms}
            if x_source is not None:
                h_gates[x_source] = h_terms
            outputs.append(Output(hname, h_gates))
        return (h_new, c_new), h_new, [Stage(self._sources(x_source), H, outputs)]


def _check_rnn_module(module: nn.RNNBase) -> None:
    kind = type(module).__name__
    if module.bidirectional:
        raise ValueError(
            f"{kind} is bidirectional: a bidirectional network is not a causal recurrent map, so it has "
            "no Lyapunov spectrum; use bidirectional=False"
        )
    if getattr(module, "proj_size", 0):
        raise ValueError(f"{kind} with proj_size={module.proj_size} is not supported; use proj_size=0")


def _torch_initial_state(module: nn.RNNBase, layers: list[_TorchLayer], lstm: bool, dtype, device):
    L, H = module.num_layers, module.hidden_size
    kind = type(module).__name__

    def check(t: Any, what: str, batch: int) -> Tensor:
        if not isinstance(t, Tensor):
            raise TypeError(f"{what} must be a tensor [num_layers={L}, batch={batch}, hidden={H}], got {type(t).__name__}")
        if tuple(t.shape) != (L, batch, H):
            raise ValueError(f"{what} must have shape [{L}, {batch}, {H}] (num_layers, batch, hidden), got {list(t.shape)}")
        out = _cast(t, dtype, device, what)
        assert out is not None
        return out

    def initial(batch: int, h0: Any) -> list[Any]:
        if lstm:
            if h0 is None:
                z = torch.zeros(L, batch, H, dtype=dtype, device=device)
                h, c = z, z
            else:
                if not (isinstance(h0, (tuple, list)) and len(h0) == 2):
                    raise TypeError(f"h0 for {kind} must be a pair (h0, c0) of tensors [{L}, {batch}, {H}]")
                h, c = check(h0[0], "h0[0] (h)", batch), check(h0[1], "h0[1] (c)", batch)
            return [(h[i], c[i]) for i in range(L)]
        if h0 is None:
            return [torch.zeros(batch, H, dtype=dtype, device=device) for _ in range(L)]
        h = check(h0, "h0", batch)
        return [h[i] for i in range(L)]

    return initial


def _build_torch(module: nn.Module, mode: StateMode, dtype: torch.dtype, device: torch.device) -> Network:
    if not isinstance(module, nn.RNNBase):
        raise TypeError(f"expected a torch.nn.RNN, GRU or LSTM, got {type(module).__name__}")
    _check_rnn_module(module)
    if isinstance(module, nn.LSTM):
        layers: list[_TorchLayer] = [LSTMLayer(module, i, dtype, device, mode) for i in range(module.num_layers)]
    elif isinstance(module, nn.GRU):
        layers = [GRULayer(module, i, dtype, device) for i in range(module.num_layers)]
    else:
        if module.mode not in ("RNN_TANH", "RNN_RELU"):
            raise TypeError(f"unsupported torch.nn.RNN mode {module.mode!r}")
        layers = [RNNLayer(module, i, dtype, device) for i in range(module.num_layers)]
    return Network(
        layers=list(layers),
        input_size=module.input_size,
        initial_state=_torch_initial_state(module, layers, isinstance(module, nn.LSTM), dtype, device),
    )


# --------------------------------------------------------------------------------------------
# Recurrent highway network


class RHNLayer(Layer):
    def __init__(self, module: RHN, dtype, device) -> None:
        w_ih, w_hh, b = module.weights()
        self.w_ih = _cast(w_ih.detach(), dtype, device, "weight_ih")
        self.w_hh = [_cast(w.detach(), dtype, device, f"weight_hh_{d}") for d, w in enumerate(w_hh)]
        self.b = [_cast(v.detach(), dtype, device, f"bias_{d}") for d, v in enumerate(b)]
        self.hidden = module.hidden_size
        self.depth = module.depth
        self.input_size = module.input_size
        self.output = "0.s"
        self.output_size = self.hidden
        self.parts = [Part("0.s", self.hidden)]

    def step(self, x, state, x_source):
        # The Jacobian of one time step is the product of the D micro-step Jacobians: one stage per
        # micro-step, each overwriting "0.s". ds' = (1-t) ds + t(1-h^2) da_H + (h-s) t(1-t) da_T.
        s = state
        u = x @ self.w_ih.t()
        stages = []
        for d in range(self.depth):
            s_new, h, t = rhn_micro_step(s, self.w_hh[d], self.b[d], u if d == 0 else None)
            gates = {"0.s": [(0, t * (1 - h * h)), (1, (h - s) * t * (1 - t))]}
            sources = {"0.s": self.w_hh[d]}
            if d == 0 and x_source is not None:
                gates[x_source] = gates["0.s"]
                sources[x_source] = self.w_ih
            stages.append(Stage(sources, self.hidden, [Output("0.s", gates, diag=[("0.s", 1 - t)])]))
            s = s_new
        return s, s, stages

    def forward_flops(self, batch: int) -> int:
        return 2 * batch * 2 * self.hidden * (self.input_size + self.depth * self.hidden)


def _build_rhn(module: nn.Module, mode: StateMode, dtype: torch.dtype, device: torch.device) -> Network:
    if not isinstance(module, RHN):
        raise TypeError(f"expected an RHN, got {type(module).__name__}")
    layer = RHNLayer(module, dtype, device)
    H = module.hidden_size

    def initial(batch: int, h0: Any) -> list[Any]:
        if h0 is None:
            return [torch.zeros(batch, H, dtype=dtype, device=device)]
        if not isinstance(h0, Tensor):
            raise TypeError(f"h0 for an RHN must be a tensor [batch={batch}, hidden={H}], got {type(h0).__name__}")
        if tuple(h0.shape) != (batch, H):
            raise ValueError(f"h0 for an RHN must have shape [{batch}, {H}] (batch, hidden), got {list(h0.shape)}")
        return [_cast(h0, dtype, device, "h0")]

    return Network(layers=[layer], input_size=module.input_size, initial_state=initial)


# --------------------------------------------------------------------------------------------
# Registry

Builder = Callable[[nn.Module, StateMode, torch.dtype, torch.device], Network]
_REGISTRY: dict[type, Builder] = {}


def register_cell(module_type: type, builder: Builder) -> None:
    """Support ``module_type`` (and its subclasses) through ``builder(module, state, dtype, device)
    -> Network``. Registering a type again replaces its builder."""
    if not (isinstance(module_type, type) and issubclass(module_type, nn.Module)):
        raise TypeError(f"register_cell needs a torch.nn.Module subclass, got {module_type!r}")
    _REGISTRY[module_type] = builder


def unregister_cell(module_type: type) -> None:
    _REGISTRY.pop(module_type, None)


register_cell(nn.RNN, _build_torch)
register_cell(nn.GRU, _build_torch)
register_cell(nn.LSTM, _build_torch)
register_cell(RHN, _build_rhn)


def supported_types() -> list[str]:
    return [t.__module__ + "." + t.__qualname__ for t in _REGISTRY]


def build_network(module: Any, mode: StateMode, dtype: torch.dtype, device: torch.device) -> Network:
    if isinstance(module, nn.Module):
        for cls in type(module).__mro__:
            if cls in _REGISTRY:
                return _REGISTRY[cls](module, mode, dtype, device)
    raise TypeError(
        f"unsupported model type {type(module).__module__}.{type(module).__qualname__}: the Lyapunov engine "
        "takes the recurrent core itself -- torch.nn.RNN (tanh/relu), torch.nn.GRU, torch.nn.LSTM or "
        "hyperprune.models.rhn.RHN (pass model.core for a Hyperprune model)"
    )
