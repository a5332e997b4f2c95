"""Linearised one-step maps ("tangent maps") as data, and their application to many directions.

A recurrent cell's Jacobian is always a sum of terms of two kinds:

- a weight matrix followed by a per-unit factor:  ``coef ⊙ (W_j · d)`` where ``W_j`` is one gate
  block (``Ho`` rows) of a stacked weight matrix such as an LSTM's ``weight_hh`` [4H, H] and ``coef``
  [B, Ho] is a product of activation derivatives at the current step (one value per sequence and
  unit);
- a diagonal term ``coef ⊙ d`` (an LSTM's ``f ⊙ dc``, a GRU's ``z ⊙ dh``, a highway carry).

A :class:`Stage` lists, for each output part it produces, those terms over named source parts.
Cells describe each time step as a list of stages (an RHN has one per micro-step; a stacked network
is the concatenation of its layers' stages, layer l reading layer l-1's *new* output as its input
source, which is the block lower-triangular structure of the stacked Jacobian). The full Jacobian is
never formed.

Directions are stored as rows: a perturbation of part ``p`` is a tensor [B, k, n_p] (B sequences, k
directions). Two exact ways to apply a stage, chosen per stage by a flop model (``mode="auto"``):

``gemm``    one GEMM per source over all sequences and directions, ``[B*k, n] @ W^T``, producing
            every gate block at once, then per-unit scaling and summing of the blocks. Cost
            ``2·B·k·G·Ho·n`` (G = gate blocks in W). Best for few directions.
``blocks``  fold the per-unit factors into the weights first, ``M_b = Σ_j diag(coef_j[b]) W_j``
            ([B, Ho, n]: the dense part of this stage's Jacobian block for each sequence, the size
            of the weight itself), then one batched GEMM per output and source. Cost
            ``2·B·k·Ho·n`` per output plus ``B·G·Ho·n`` elementwise work to form ``M``: for an
            LSTM (4 gate blocks, 2 outputs) half the GEMM flops of ``gemm``, for a GRU a third,
            for an RHN micro-step a half; it wins once k exceeds a few dozen.

:func:`apply_adjoint` applies the transpose (the stages in reverse order, each transposed), used by
the published convention, which multiplies by J^T.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

TangentMode = Literal["auto", "gemm", "blocks"]

# Elementwise passes over a [.., Ho, n] tensor cost memory bandwidth, not arithmetic; the flop
# model counts each multiply-add there as this many GEMM flops when choosing a mode.
_ELEMENTWISE_WEIGHT = 4


@dataclass(frozen=True)
class Output:
    """One output part of a stage: ``y = Σ_src Σ_(j, coef) coef ⊙ (W_src[block j] · d_src) + Σ coef ⊙ d``.

    ``gates`` maps a source name to (gate block index, coef [B, Ho] or None for 1) pairs; ``diag``
    lists (source name, coef [B, Ho] or None) diagonal terms (the source must have Ho units).
    """

    name: str
    gates: dict[str, list[tuple[int, Tensor | None]]]
    diag: list[tuple[str, Tensor | None]] = field(default_factory=list)


@dataclass(frozen=True)
class Stage:
    """Linear map from named source parts to named output parts (see :class:`Output`).

    ``sources`` maps a source name to its stacked weight [G*Ho, n_src]; ``block`` is Ho. Outputs are
    written after all of them are computed, so an output may reuse a source's name (h -> h').
    A source absent from the environment is a zero perturbation (the external input of layer 0).
    """

    sources: dict[str, Tensor]
    block: int
    outputs: list[Output]


@dataclass
class FlopCounter:
    """Floating-point operations issued, counted from shapes (no device synchronisation)."""

    tangent: int = 0
    orthonormalization: int = 0
    forward: int = 0

    @property
    def total(self) -> int:
        return self.tangent + self.orthonormalization + self.forward


def _scale(t: Tensor, coef: Tensor | None) -> Tensor:
    return t if coef is None else t * coef.unsqueeze(1)


def _accumulate(acc: Tensor | None, t: Tensor, coef: Tensor | None) -> Tensor:
    # The first term is always a fresh tensor: later terms are added in place and ``t`` may be a
    # view of a shared GEMM result or of a caller's perturbation.
    if acc is None:
        return t.clone() if coef is None else t * coef.unsqueeze(1)
    if coef is None:
        return acc.add_(t)
    return acc.addcmul_(t, coef.unsqueeze(1))


def _folded(weight: Tensor, block: int, terms: list[tuple[int, Tensor | None]]) -> Tensor:
    """M[b] = Σ_j diag(coef_j[b]) W[block j]  ->  [B, Ho, n] (or [Ho, n] if every coef is None)."""
    m = None
    for j, coef in terms:
        w = weight[j * block : (j + 1) * block]
        if coef is None:
            m = w.clone() if m is None else m + w
        elif m is None:
            m = coef.unsqueeze(-1) * w
        else:
            m = m.addcmul(coef.unsqueeze(-1), w) if m.dim() == 3 else coef.unsqueeze(-1) * w + m
    assert m is not None
    return m


def _choose_mode(stage: Stage, present: set[str], B: int, k: int) -> Literal["gemm", "blocks"]:
    ho = stage.block
    gemm = blocks = 0
    for src, w in stage.sources.items():
        if src not in present:
            continue
        n = w.shape[1]
        gemm += 2 * B * k * w.shape[0] * n
        for out in stage.outputs:
            terms = out.gates.get(src, [])
            if terms:
                gemm += 2 * B * k * ho * len(terms)
                blocks += 2 * B * k * ho * n + _ELEMENTWISE_WEIGHT * 2 * B * ho * n * len(terms)
    return "blocks" if blocks < gemm else "gemm"


def _stage_flops(stage: Stage, present: set[str], B: int, k: int, mode: str) -> int:
    ho = stage.block
    flops = 0
    for src, w in stage.sources.items():
        if src not in present:
            continue
        n = w.shape[1]
        if mode == "gemm" and any(out.gates.get(src) for out in stage.outputs):
            flops += 2 * B * k * w.shape[0] * n
        for out in stage.outputs:
            terms = out.gates.get(src, [])
            if not terms:
                continue
            if mode == "gemm":
                flops += 2 * B * k * ho * len(terms)
            else:
                flops += 2 * B * k * ho * n + 2 * B * ho * n * len(terms)
    for out in stage.outputs:
        flops += 2 * B * k * ho * sum(1 for src, _ in out.diag if src in present)
    return flops


def apply_forward(
    stages: list[Stage], env: dict[str, Tensor], mode: TangentMode = "auto", flops: FlopCounter | None = None
) -> dict[str, Tensor]:
    """Push the perturbations ``env`` (name -> [B, k, n]) through the stages; returns the new env."""
    env = dict(env)
    any_t = next(iter(env.values()))
    B, k = any_t.shape[0], any_t.shape[1]
    for stage in stages:
        present = set(env)
        m = _choose_mode(stage, present, B, k) if mode == "auto" else mode
        if flops is not None:
            flops.tangent += _stage_flops(stage, present, B, k, m)
        new: dict[str, Tensor] = {}
        if m == "gemm":
            g = {
                src: torch.matmul(env[src], w.t())
                for src, w in stage.sources.items()
                if src in env and any(out.gates.get(src) for out in stage.outputs)
            }
            for out in stage.outputs:
                y = None
                for src, terms in out.gates.items():
                    if src not in g:
                        continue
                    for j, coef in terms:
                        y = _accumulate(y, g[src][..., j * stage.block : (j + 1) * stage.block], coef)
                y = _diag(y, out, env)
                new[out.name] = y
        else:
            for out in stage.outputs:
                y = None
                for src, terms in out.gates.items():
                    if src not in env or not terms:
                        continue
                    mt = _folded(stage.sources[src], stage.block, terms).mT
                    d = env[src]
                    if mt.dim() == 2:
                        y = torch.matmul(d, mt) if y is None else y.add_(torch.matmul(d, mt))
                    else:
                        y = torch.bmm(d, mt) if y is None else torch.baddbmm(y, d, mt)
                y = _diag(y, out, env)
                new[out.name] = y
        env.update(new)
    return env


def _diag(y: Tensor | None, out: Output, env: dict[str, Tensor]) -> Tensor:
    for src, coef in out.diag:
        if src in env:
            y = _accumulate(y, env[src], coef)
    if y is None:
        raise ValueError(f"tangent output {out.name!r} depends on no tracked perturbation")
    return y


def apply_adjoint(
    stages: list[Stage],
    adj: dict[str, Tensor],
    tracked: list[str],
    mode: TangentMode = "auto",
    flops: FlopCounter | None = None,
) -> dict[str, Tensor]:
    """Transpose of :func:`apply_forward`: ``adj`` holds covectors of the final parts (the new state),
    the result those of the initial parts ``tracked`` (the old state)."""
    # Which names hold a tracked perturbation when each stage runs (forward), so that sources that
    # are constant (layer 0's external input) receive no adjoint.
    live = set(tracked)
    live_before = []
    for stage in stages:
        live_before.append(set(live))
        live |= {out.name for out in stage.outputs}
    any_t = next(iter(adj.values()))
    B, k = any_t.shape[0], any_t.shape[1]
    adj = dict(adj)
    for stage, present in zip(reversed(stages), reversed(live_before)):
        m = _choose_mode(stage, present, B, k) if mode == "auto" else mode
        if flops is not None:
            flops.tangent += _stage_flops(stage, present, B, k, m)
        written = {out.name for out in stage.outputs}
        out_adj = {out.name: adj.get(out.name) for out in stage.outputs}
        result = {name: a for name, a in adj.items() if name not in written}

        def add(src: str, t: Tensor) -> None:
            result[src] = t if src not in result else result[src] + t

        for src, w in stage.sources.items():
            if src not in present:
                continue
            if m == "gemm":
                parts = []
                for j in range(w.shape[0] // stage.block):
                    acc = None
                    for out in stage.outputs:
                        ybar = out_adj[out.name]
                        if ybar is None:
                            continue
                        for jj, coef in out.gates.get(src, []):
                            if jj == j:
                                acc = _accumulate(acc, ybar, coef)
                    parts.append(acc)
                if all(p is None for p in parts):
                    continue
                zero = None
                filled = []
                for p in parts:
                    if p is None:
                        if zero is None:
                            zero = any_t.new_zeros(B, k, stage.block)
                        p = zero
                    filled.append(p)
                add(src, torch.matmul(torch.cat(filled, dim=-1), w))
            else:
                for out in stage.outputs:
                    ybar = out_adj[out.name]
                    terms = out.gates.get(src, [])
                    if ybar is None or not terms:
                        continue
                    mm = _folded(w, stage.block, terms)
                    add(src, torch.matmul(ybar, mm) if mm.dim() == 2 else torch.bmm(ybar, mm))
        for out in stage.outputs:
            ybar = out_adj[out.name]
            if ybar is None:
                continue
            for src, coef in out.diag:
                if src in present:
                    add(src, _scale(ybar, coef))
        adj = result
    return adj
