"""Drop and grow on one gate block (1-D views of a weight block, its mask and its scores).

Every function returns a boolean tensor of the positions it selects and never edits its inputs.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from hyperprune.pruning.selection import top_k_mask

_NEG_INF = float("-inf")


def _best(scores: Tensor, eligible: Tensor, k: int) -> Tensor:
    """The ``k`` highest ``scores`` among ``eligible`` positions (k is capped at their number)."""
    k = min(k, int(eligible.sum()))
    return top_k_mask(torch.where(eligible, scores.to(torch.float64), _NEG_INF), k) & eligible


def drop_smallest(weight: Tensor, mask: Tensor, k: int) -> Tensor:
    """The ``k`` kept weights of smallest magnitude."""
    return _best(-weight.abs(), mask, k)


def drop_set(weight: Tensor, mask: Tensor, k: int) -> Tensor:
    """SET's death (Mocanu et al. 2018): half of the ``k`` are the smallest positive weights, half
    the largest negative ones (those closest to zero from each side); a side with too few weights
    passes its share to the other. Zero-valued kept weights count as positive."""
    positive = mask & (weight >= 0)
    negative = mask & (weight < 0)
    k = min(k, int(mask.sum()))
    k_pos = min(math.ceil(k / 2), int(positive.sum()))
    k_neg = min(k - k_pos, int(negative.sum()))
    k_pos = k - k_neg
    return _best(-weight, positive, k_pos) | _best(weight, negative, k_neg)


def drop_below(weight: Tensor, mask: Tensor, threshold: float) -> Tensor:
    """Kept weights whose magnitude is below ``threshold``."""
    return mask & (weight.abs() < threshold)


def grow(mask: Tensor, k: int, scores: Tensor) -> Tensor:
    """The ``k`` highest-scoring pruned positions (random scores = random growth, |gradient| =
    gradient growth)."""
    return _best(scores, ~mask, k)
