"""The discrete QR method over analytic tangent maps, batched over sequences and directions.

See :func:`lyapunov_result` for the conventions and ``docs/lyapunov.md`` for the reasoning and
measured figures.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from hyperprune.lyapunov import orth
from hyperprune.lyapunov.cells import Network, build_network
from hyperprune.lyapunov.tangent import FlopCounter, TangentMode, apply_adjoint, apply_forward

Convention = Literal["natural", "published"]

# Resolution of one QR step. A direction that the step contracts to below the rounding level of
# Z = J Q cannot be told apart from one that is annihilated: its computed R_ii is rounding noise
# (Householder's backward error is ~eps·||Z||). That happens whenever the Jacobian is singular --
# dead relu units, a hidden unit whose outgoing weights are all pruned, tanh/sigmoid saturated
# beyond the dtype -- and the exact value would be log 0 = -inf. Each step's |R_ii| is therefore
# floored at eps·sqrt(N)·max_j |R_jj| (per sequence; the scale of the step's largest growth), and
# at the smallest normal float32 when every R_jj is exactly zero. Such exponents are then finite,
# deterministic and equal in every implementation that applies the same rule (the reference does).
# The rule needs only diag R, so it costs nothing and is the same for any orthonormalisation.
R_FLOOR = float(torch.finfo(torch.float32).tiny)
LOG_R_FLOOR = math.log(R_FLOOR)


def resolution_floor(r: Tensor, n: int) -> Tensor:
    """eps·sqrt(n)·max_j |R_jj| per sequence, [B, 1], from |diag R| [B, k] (n: the state size)."""
    eps = torch.finfo(r.dtype).eps
    return torch.clamp_min(r.amax(dim=-1, keepdim=True) * (eps * math.sqrt(n)), R_FLOOR)


@dataclass
class LyapunovResult:
    """Everything one spectrum computation produced.

    ``exponents`` [k]: descending, the rank-wise mean over the batch of each sequence's sorted
    spectrum (natural log per time step, or log2 under ``convention="published"``).
    ``per_sequence`` [B, k]: each sequence's spectrum, sorted descending.
    ``std`` [k]: rank-wise standard deviation over the batch (unbiased; zeros for B = 1).
    ``steps``: time steps averaged (T - warmup). ``n``: state size N. ``flops``: floating-point
    operations issued (tangent maps, orthonormalisation, forward), counted from shapes.
    """

    exponents: Tensor
    per_sequence: Tensor
    std: Tensor
    steps: int
    warmup: int
    k: int
    n: int
    state: str
    convention: str
    qr_interval: int
    orthonormalization: str
    flops: FlopCounter


def _int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _resolve_dtype(dtype: Any, model: nn.Module) -> torch.dtype:
    if dtype is None:
        for p in model.parameters():
            if p.is_floating_point():
                dtype = p.dtype
                break
        else:
            dtype = torch.get_default_dtype()
        if dtype not in (torch.float32, torch.float64):
            dtype = torch.float32  # half/bfloat16 weights: the QR method needs at least float32
        return dtype
    if isinstance(dtype, str):
        dtype = {"float32": torch.float32, "float64": torch.float64}.get(dtype, dtype)
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype must be torch.float32 or torch.float64 (or None: the model's), got {dtype!r}")
    return dtype


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def initial_directions(
    n: int, k: int, *, seed: int, convention: Convention, dtype: torch.dtype, device: torch.device
) -> Tensor:
    """The k starting directions as rows [k, N] (coordinates in state order).

    k = N: the identity, in state order (layers first to last). k < N: a random orthonormal basis
    drawn from ``seed`` (QR of a Gaussian matrix, on the CPU in float64 so that every device and
    dtype starts from the same directions); the first k identity columns would span k coordinate
    axes, which the dynamics can leave invariant (e.g. a diagonal map), so they would not find the
    top-k directions. The published convention starts from the first k identity columns, as the
    public implementation does.
    """
    if k == n or convention == "published":
        return torch.eye(n, dtype=dtype, device=device)[:k]
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    z = torch.randn(n, k, generator=g, dtype=torch.float64)
    q, r = torch.linalg.qr(z)
    q = q * torch.where(r.diagonal() < 0, -1.0, 1.0)
    return q.t().contiguous().to(device=device, dtype=dtype)


def _check_inputs(inputs: Any, net: Network, warmup: int) -> tuple[int, int]:
    if not isinstance(inputs, Tensor):
        raise TypeError(f"inputs must be a tensor [T, B, input_size], got {type(inputs).__name__}")
    if inputs.dim() != 3:
        raise ValueError(
            f"inputs must have shape [T, B, input_size={net.input_size}] (time first), got {list(inputs.shape)}"
        )
    if not inputs.is_floating_point():
        raise TypeError(
            f"inputs must be floating point [T, B, input_size] (what the recurrent core sees, e.g. "
            f"embeddings: model.core_inputs(x)), got dtype {inputs.dtype}"
        )
    T, B, I = inputs.shape
    if I != net.input_size:
        raise ValueError(f"inputs have {I} features in their last dimension but the model expects input_size={net.input_size}")
    if B < 1:
        raise ValueError("inputs have an empty batch (B = 0)")
    if T <= warmup:
        raise ValueError(
            f"inputs have T={T} time steps but warmup={warmup}: the exponents average over the T - warmup "
            "steps after the warm-up, so T must exceed warmup"
        )
    if not bool(torch.isfinite(inputs).all()):
        raise ValueError("inputs contain NaN or inf")
    return T, B


def lyapunov_result(
    model: nn.Module,
    inputs: Tensor,
    *,
    k: int | None = None,
    warmup: int = 10,
    qr_interval: int = 1,
    state: Literal["full", "hidden"] = "full",
    h0: Any = None,
    convention: Convention = "natural",
    dtype: torch.dtype | str | None = None,
    seed: int = 0,
    tangent: TangentMode = "auto",
    orthonormalization: orth.Method = "auto",
) -> LyapunovResult:
    """Lyapunov spectrum of the recurrent ``model`` driven by ``inputs``, with per-sequence detail.

    The map is the model's state update s_t = F(s_{t-1}, x_t) in eval semantics (no dropout);
    exponents are lambda_i = (1/(T - warmup)) Σ_t log R_t,ii from the discrete QR method
    Q_t R_t = J_t Q_{t-1}, J_t = ∂F/∂s at step t.

    model: ``torch.nn.RNN`` (tanh/relu), ``torch.nn.GRU``, ``torch.nn.LSTM`` (any num_layers,
        batch_first or not; not bidirectional, no proj_size), ``hyperprune.models.rhn.RHN``, or a type
        added with :func:`hyperprune.lyapunov.register_cell`. The model's weights are read as it
        computes with them: pruned zeros as they are, torch.nn.utils.prune masks applied. The model
        is not modified and its train/eval mode does not matter.
    inputs: [T, B, input_size], floating point (for a language model, the embeddings the core
        sees); [B, T, input_size] for a module built with batch_first=True, as it takes them. The first ``warmup`` steps only align the directions (their growth is discarded);
        the exponents average over the remaining T - warmup steps (error if T <= warmup). The
        directions start at step 0 from ``h0``.
    k: number of leading exponents (None: all N). Only k directions are propagated. k = N starts
        from the identity (state order), k < N from a random orthonormal basis drawn from ``seed``
        (see :func:`initial_directions`).
    warmup: steps before averaging starts.
    qr_interval: orthonormalise every this many steps (and at the end of the warm-up and of the
        run). log|diag R| over an interval equals the sum of the per-step values in exact
        arithmetic; larger intervals are faster but lose accuracy in the smallest exponents when
        the spread of exponents times the interval becomes large (see docs/lyapunov.md).
    state: LSTM only. ``"full"`` (default): the exact state (h, c) of every layer, N = 2·L·H.
        ``"hidden"``: the published h-only map with c_{t-1} held fixed, N = L·H.
        Other cells have one state vector and ignore it.
    h0: initial state in the module's own convention ([L, B, H]; an LSTM's (h0, c0); an RHN's
        [B, H]); zeros by default.
    convention: ``"natural"`` (default): natural log, J_t Q. ``"published"``: what the public LSH
        implementation computes, for comparison with published numbers: log base 2, Q <- J_t^T Q,
        starting from the first k identity columns. (Its warm-up skips orthonormalisation until the
        last warm-up step; here warm-up steps are orthonormalised every ``qr_interval`` steps, which
        gives the same directions in exact arithmetic and keeps the trailing ones accurate. It also
        feeds the warm-up inputs again after the warm-up: pass ``torch.cat([x[:W], x])`` with
        ``warmup=W`` to reproduce that.)
    dtype: torch.float32 or torch.float64 (or their names); None: the model's parameter dtype.
        Weights and inputs are cast to it; the computation runs on the model's device.
    seed: seeds the random orthonormal starting basis used when k < N.
    tangent: ``"auto"`` | ``"gemm"`` | ``"blocks"``: how tangent maps are applied (both exact; see
        :mod:`hyperprune.lyapunov.tangent`); auto picks the cheaper per stage.
    orthonormalization: ``"auto"`` | ``"householder"`` | ``"bcgs2"`` (see
        :mod:`hyperprune.lyapunov.orth`); auto = householder (measured faster on CPU).

    Resolution: a direction contracted in one QR interval to below the rounding level of Z = J Q is
    numerically annihilated (a singular Jacobian: dead relu units, units whose outgoing weights are
    all pruned, saturation); its |R_ii| is floored at eps·sqrt(N)·max_j |R_jj| (see
    :func:`resolution_floor`), so such exponents are finite and deterministic instead of -inf
    or rounding noise. NaN or +inf results raise ``ValueError``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (a recurrent core), got {type(model).__name__}")
    warmup = _int(warmup, "warmup", 0)
    qr_interval = _int(qr_interval, "qr_interval", 1)
    seed = _int(seed, "seed", 0)
    if state not in ("full", "hidden"):
        raise ValueError(f"state must be 'full' or 'hidden', got {state!r}")
    if convention not in ("natural", "published"):
        raise ValueError(f"convention must be 'natural' or 'published', got {convention!r}")
    if tangent not in ("auto", "gemm", "blocks"):
        raise ValueError(f"tangent must be 'auto', 'gemm' or 'blocks', got {tangent!r}")
    if orthonormalization not in ("auto", "householder", "bcgs2"):
        raise ValueError(f"orthonormalization must be 'auto', 'householder' or 'bcgs2', got {orthonormalization!r}")
    dtype = _resolve_dtype(dtype, model)
    device = _model_device(model)
    net = build_network(model, state, dtype, device)
    N = net.size
    if k is None:
        k = N
    k = _int(k, "k", 1)
    if k > N:
        raise ValueError(f"k={k} exceeds the state size N={N} of this model (at most N exponents exist)")
    if getattr(model, "batch_first", False) and isinstance(inputs, Tensor) and inputs.dim() == 3:
        inputs = inputs.transpose(0, 1)  # the module's own layout -> time first
    T, B = _check_inputs(inputs, net, warmup)
    x = inputs.detach().to(device=device, dtype=dtype)
    method = orth.choose(orthonormalization, N, k, device)
    flops = FlopCounter()
    transpose = convention == "published"
    parts = net.parts
    names = [p.name for p in parts]
    offsets = [0]
    for p in parts:
        offsets.append(offsets[-1] + p.size)

    with torch.no_grad():
        states = net.initial_state(B, h0)
        P = initial_directions(N, k, seed=seed, convention=convention, dtype=dtype, device=device)
        P = P.unsqueeze(0).expand(B, k, N).contiguous()  # [B, k, N]: direction i of sequence b is P[b, i]
        logsum = torch.zeros(B, k, dtype=dtype, device=device)
        fwd_flops = sum(layer.forward_flops(B) for layer in net.layers)
        for t in range(T):
            states, stages = net.step(x[t], states)
            flops.forward += fwd_flops
            env = {name: P[:, :, offsets[i] : offsets[i + 1]] for i, name in enumerate(names)}
            if transpose:
                env = apply_adjoint(stages, env, names, tangent, flops)
            else:
                env = apply_forward(stages, env, tangent, flops)
            P = torch.cat(
                [env[name] if name in env else P.new_zeros(B, k, p.size) for name, p in zip(names, parts)], dim=-1
            )
            measuring = t >= warmup
            phase_start = warmup if measuring else 0
            phase_end = T if measuring else warmup
            if (t - phase_start + 1) % qr_interval == 0 or t == phase_end - 1:
                P, r = orth.orthonormalize(P, method)
                flops.orthonormalization += orth.flops(method, B, N, k)
                if measuring:
                    logsum += torch.log(torch.maximum(r, resolution_floor(r, N)))

    steps = T - warmup
    per_seq = logsum / steps
    if transpose:
        per_seq = per_seq / math.log(2.0)
    if not bool(torch.isfinite(per_seq).all()):
        raise ValueError(
            "the Lyapunov spectrum is not finite (NaN or inf): the state or the propagated directions "
            "overflowed -- check the weights and inputs, use a smaller qr_interval, or dtype=torch.float64"
        )
    per_seq = torch.sort(per_seq, dim=1, descending=True).values
    mean = per_seq.mean(dim=0)
    std = per_seq.std(dim=0) if B > 1 else torch.zeros_like(mean)
    return LyapunovResult(
        exponents=mean,
        per_sequence=per_seq,
        std=std,
        steps=steps,
        warmup=warmup,
        k=k,
        n=N,
        state=state,
        convention=convention,
        qr_interval=qr_interval,
        orthonormalization=method,
        flops=flops,
    )


def lyapunov_spectrum(
    model: nn.Module,
    inputs: Tensor,
    *,
    k: int | None = None,
    warmup: int = 10,
    qr_interval: int = 1,
    state: Literal["full", "hidden"] = "full",
    h0: Any = None,
    convention: Convention = "natural",
    dtype: torch.dtype | str | None = None,
    seed: int = 0,
) -> Tensor:
    """The k largest Lyapunov exponents of ``model`` driven by ``inputs`` [T, B, input_size]:
    a 1-D tensor, descending, averaged over the batch, natural log per time step (log2 under
    ``convention="published"``). See :func:`lyapunov_result` for every convention and option."""
    return lyapunov_result(
        model,
        inputs,
        k=k,
        warmup=warmup,
        qr_interval=qr_interval,
        state=state,
        h0=h0,
        convention=convention,
        dtype=dtype,
        seed=seed,
    ).exponents
