"""Turning scores into masks: keep the highest-scoring weights, per gate block or across the core.

Ties are broken by ``torch.topk``, which is deterministic for a given input on a given device.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hyperprune.pruning.allocation import block_keep_counts, kept_total, matrix_densities
from hyperprune.pruning.targets import PrunableMatrix


def top_k_mask(scores: Tensor, k: int) -> Tensor:
    """Boolean tensor shaped like ``scores``, True at its ``k`` largest entries."""
    flat = scores.reshape(-1)
    mask = torch.zeros(flat.shape, dtype=torch.bool, device=scores.device)
    if k > 0:
        mask[torch.topk(flat, k, sorted=False).indices] = True
    return mask.view(scores.shape)


def keep_per_block(matrices: list[PrunableMatrix], scores: dict[str, Tensor], counts: list[list[int]]) -> dict[str, Tensor]:
    """Masks keeping ``counts[i][g]`` top-scoring weights in gate block g of matrix i."""
    masks = {}
    for m, per_gate in zip(matrices, counts):
        mask = torch.zeros_like(m.param, dtype=torch.bool)
        blocks, block_scores = m.blocks(mask), m.blocks(scores[m.name])
        for g, k in enumerate(per_gate):
            blocks[g] = top_k_mask(block_scores[g], k)
        masks[m.name] = mask
    return masks


def keep_global(matrices: list[PrunableMatrix], scores: dict[str, Tensor], k: int) -> dict[str, Tensor]:
    """Masks keeping the ``k`` top-scoring weights across all matrices together."""
    dtype = torch.float64 if any(scores[m.name].dtype == torch.float64 for m in matrices) else torch.float32
    device = scores[matrices[0].name].device
    flat = torch.cat([scores[m.name].reshape(-1).to(device=device, dtype=dtype) for m in matrices])
    keep = top_k_mask(flat, k)
    masks, start = {}, 0
    for m in matrices:
        masks[m.name] = keep[start : start + m.numel].view(m.param.shape).to(m.param.device)
        start += m.numel
    return masks


def keep_top(
    matrices: list[PrunableMatrix],
    scores: dict[str, Tensor],
    sparsity: float,
    *,
    scope: str,
    distribution: str = "uniform",
) -> dict[str, Tensor]:
    """Masks at exactly ``sparsity`` (up to one weight): per gate block with the densities of
    ``distribution`` (scope "layer"), or by one ranking over the whole core (scope "global")."""
    total = kept_total(matrices, sparsity)
    if scope == "global":
        return keep_global(matrices, scores, total)
    if scope != "layer":
        raise ValueError(f"unknown scope {scope!r}")
    counts = block_keep_counts(matrices, matrix_densities(matrices, sparsity, distribution), total)
    return keep_per_block(matrices, scores, counts)
