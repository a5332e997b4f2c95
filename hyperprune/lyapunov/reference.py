"""Independent reference: full autograd Jacobians of the module's own one-step map + QR, per sequence.

Nothing here uses the engine's cell formulas or tangent maps: the one-step map is the module itself
(``torch.nn.RNN/GRU/LSTM`` called for one time step, ``RHN.step``, or ``module.step`` of a registered
extension), its Jacobian comes from ``torch.autograd.functional.jacobian`` (one reverse pass per
state coordinate, the default strategy), and each step is ``Z = J Q`` (``J^T Q`` in the published
convention) followed by ``torch.linalg.qr`` with the sign fix. It shares only the choice of starting
directions (:func:`hyperprune.lyapunov.initial_directions`), the state layout and the resolution
floor rule with the engine, so that both compute the same finite-time quantity.  It is slow (N reverse passes and an N x N product
per sequence and step) and meant for tests and the benchmark.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from hyperprune.lyapunov.engine import initial_directions, resolution_floor
from hyperprune.models.rhn import RHN


@dataclass
class ReferenceRun:
    """Per-sequence spectra (sorted descending) for each requested k, and where the time went."""

    per_sequence: list[Tensor]  # one [B, k] per requested k
    jacobian_seconds: float = 0.0
    propagate_seconds: list[float] = field(default_factory=list)  # QR and J·Q time, per requested k

    def exponents(self, i: int = 0) -> Tensor:
        return self.per_sequence[i].mean(dim=0)


def _per_sequence_map(module: nn.Module, state: str) -> tuple[Callable, Callable, Callable]:
    """(init(h0_b) -> full state, flat(full) -> tracked vector, step(x_t, full, flat_override) -> full).

    The tracked vector uses the engine's layout: layers in order, [h, c] per LSTM layer in full mode.
    """
    if isinstance(module, nn.LSTM):
        L, H = module.num_layers, module.hidden_size
        hidden_only = state == "hidden"

        def init(h0: Any, dtype: torch.dtype) -> Any:
            if h0 is None:
                z = torch.zeros(L, 1, H, dtype=dtype)
                return (z, z.clone())
            return (h0[0].to(dtype), h0[1].to(dtype))

        def flat(full: Any) -> Tensor:
            h, c = full
            if hidden_only:
                return h.reshape(L * H)
            return torch.stack([h[:, 0], c[:, 0]], dim=1).reshape(2 * L * H)

        def step(x: Tensor, full: Any, s: Tensor) -> Any:
            h, c = full
            if hidden_only:
                h = s.reshape(L, 1, H)  # c_{t-1} held fixed (not a function of s)
            else:
                hc = s.reshape(L, 2, H)
                h, c = hc[:, 0].unsqueeze(1), hc[:, 1].unsqueeze(1)
            _, (hn, cn) = module(x.reshape(1, 1, -1), (h, c))
            return (hn, cn)

        return init, flat, step

    if isinstance(module, (nn.RNN, nn.GRU)):
        L, H = module.num_layers, module.hidden_size

        def init(h0: Any, dtype: torch.dtype) -> Any:
            return torch.zeros(L, 1, H, dtype=dtype) if h0 is None else h0.to(dtype)

        def flat(full: Any) -> Tensor:
            return full.reshape(L * H)

        def step(x: Tensor, full: Any, s: Tensor) -> Any:
            _, hn = module(x.reshape(1, 1, -1), s.reshape(L, 1, H))
            return hn

        return init, flat, step

    if isinstance(module, RHN) or hasattr(module, "step"):
        def init(h0: Any, dtype: torch.dtype) -> Any:
            if h0 is not None:
                return h0.to(dtype)
            n = module.hidden_size if isinstance(module, RHN) else int(getattr(module, "state_size"))
            return torch.zeros(1, n, dtype=dtype)

        def flat(full: Any) -> Tensor:
            return full.reshape(-1)

        def step(x: Tensor, full: Any, s: Tensor) -> Any:
            return getattr(module, "step")(x.reshape(1, -1), s.reshape(1, -1))

        return init, flat, step

    raise TypeError(f"the reference does not know how to step {type(module).__name__}")


def _h0_for(model: nn.Module, h0: Any, b: int) -> Any:
    if h0 is None:
        return None
    if isinstance(model, nn.LSTM):
        return (h0[0][:, b : b + 1], h0[1][:, b : b + 1])
    if isinstance(model, (nn.RNN, nn.GRU)):
        return h0[:, b : b + 1]
    return h0[b : b + 1]


def _copy_module(model: nn.Module) -> nn.Module:
    """deepcopy that also works for torch.nn.utils.prune'd modules, whose ``<name>`` attribute is a
    non-leaf tensor (orig * mask) that deepcopy refuses; the pruning pre-hook recomputes it from the
    copied ``<name>_orig`` and ``<name>_mask`` at every call anyway."""
    saved: list[tuple[nn.Module, str, Tensor]] = []
    for mod in model.modules():
        for hook in mod._forward_pre_hooks.values():
            name = getattr(hook, "_tensor_name", None)
            value = getattr(mod, name, None) if name else None
            if name and isinstance(value, Tensor) and not value.is_leaf:
                saved.append((mod, name, value))
                setattr(mod, name, value.detach())
    try:
        return copy.deepcopy(model)
    finally:
        for mod, name, value in saved:
            setattr(mod, name, value)


def reference_run(
    model: nn.Module,
    inputs: Tensor,
    *,
    ks: Sequence[int | None] = (None,),
    warmup: int = 10,
    state: str = "full",
    h0: Any = None,
    convention: Literal["natural", "published"] = "natural",
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
    jacobian_noise: Sequence[float] | None = None,
) -> ReferenceRun:
    """Spectra for each k in ``ks`` from one pass of Jacobians (a Jacobian does not depend on k, so
    several k share it; its time is reported once, the QR propagation time per k). QR every step;
    the warm-up steps are orthonormalised and their R discarded, as in the engine.

    ``jacobian_noise`` (one value per entry of ``ks``, default zeros) multiplies every Jacobian
    entry by (1 + noise·g), g standard normal from a fixed seed, before that entry's propagation: with
    noise ~ 1e-16 (rounding level) and a k repeated in ``ks`` it measures how far rounding alone
    moves the finite-time exponents, i.e. how well float64 determines them."""
    module = _copy_module(model).to(dtype=dtype, device="cpu").eval()
    for p in module.parameters():
        p.requires_grad_(False)
    x_all = inputs.detach().to(dtype=dtype, device="cpu")
    T, B, _ = x_all.shape
    init, flat, step = _per_sequence_map(module, state)
    n = flat(init(_h0_for(module, h0, 0), dtype)).numel()
    kk = [n if k is None else int(k) for k in ks]
    noise = list(jacobian_noise) if jacobian_noise is not None else [0.0] * len(kk)
    if len(noise) != len(kk):
        raise ValueError("jacobian_noise needs one value per entry of ks")
    noise_gen = torch.Generator().manual_seed(12345)
    Q0 = [initial_directions(n, k, seed=seed, convention=convention, dtype=dtype, device=torch.device("cpu")).t() for k in kk]
    out = [torch.zeros(B, k, dtype=dtype) for k in kk]
    run = ReferenceRun(per_sequence=out, propagate_seconds=[0.0] * len(kk))
    for b in range(B):
        full = init(_h0_for(module, h0, b), dtype)
        Qs = [q.clone() for q in Q0]
        logs = [torch.zeros(k, dtype=dtype) for k in kk]
        for t in range(T):
            x = x_all[t, b]
            s = flat(full).detach()
            t0 = time.perf_counter()
            J = torch.autograd.functional.jacobian(lambda v: flat(step(x, full, v)), s)
            run.jacobian_seconds += time.perf_counter() - t0
            with torch.no_grad():
                full = step(x, full, s)
                for i in range(len(kk)):
                    t0 = time.perf_counter()
                    Ji = J
                    if noise[i]:
                        Ji = J * (1 + noise[i] * torch.randn(J.shape, generator=noise_gen, dtype=dtype))
                    Z = (Ji.t() if convention == "published" else Ji) @ Qs[i]
                    q, r = torch.linalg.qr(Z)
                    d = r.diagonal()
                    floor = resolution_floor(d.abs().unsqueeze(0), n)[0, 0]
                    sign = torch.where(d < 0, -1.0, 1.0).to(dtype)
                    Qs[i] = q * sign
                    if t >= warmup:
                        logs[i] += torch.log(torch.maximum(d.abs(), floor))
                    run.propagate_seconds[i] += time.perf_counter() - t0
        for i in range(len(kk)):
            lam = logs[i] / (T - warmup)
            if convention == "published":
                lam = lam / math.log(2.0)
            out[i][b] = torch.sort(lam, descending=True).values
    return run


def reference_spectrum(model: nn.Module, inputs: Tensor, *, k: int | None = None, **kwargs: Any) -> Tensor:
    """The batch-mean spectrum (descending) from :func:`reference_run` for one k."""
    return reference_run(model, inputs, ks=(k,), **kwargs).exponents(0)


def reference_per_sequence(model: nn.Module, inputs: Tensor, *, k: int | None = None, **kwargs: Any) -> Tensor:
    return reference_run(model, inputs, ks=(k,), **kwargs).per_sequence[0]
