"""How many weights each gate block keeps: uniform or Erdos-Renyi densities, hit exactly.

Counts are integers that sum exactly to the kept total of the target sparsity, so the realised
sparsity equals the target up to one weight.
"""

from __future__ import annotations

import math

from hyperprune.pruning.targets import PrunableMatrix, total_weights


def kept_total(matrices: list[PrunableMatrix], sparsity: float) -> int:
    return round((1.0 - sparsity) * total_weights(matrices))


def er_densities(matrices: list[PrunableMatrix], density: float) -> list[float]:
    """Erdos-Renyi densities (Mocanu et al. 2018; Evci et al. 2020): matrix i keeps a fraction
    ``eps * (rows_i + cols_i) / (rows_i * cols_i)`` of its weights, with ``eps`` solved so that the
    whole core keeps ``density``. A matrix whose share would exceed 1 is made dense and ``eps`` is
    solved again over the rest. Uses the whole packed matrix's shape (all gates)."""
    raw = [(m.param.shape[0] + m.param.shape[1]) / (m.param.shape[0] * m.param.shape[1]) for m in matrices]
    budget = density * total_weights(matrices)
    dense: set[int] = set()
    while True:
        rest = [i for i in range(len(matrices)) if i not in dense]
        remaining = budget - sum(matrices[i].numel for i in dense)
        eps = remaining / sum(matrices[i].numel * raw[i] for i in rest)
        over = {i for i in rest if eps * raw[i] > 1.0}
        if not over:
            return [1.0 if i in dense else eps * raw[i] for i in range(len(matrices))]
        dense |= over


def matrix_densities(matrices: list[PrunableMatrix], sparsity: float, distribution: str) -> list[float]:
    density = 1.0 - sparsity
    if distribution == "uniform":
        return [density] * len(matrices)
    if distribution == "er":
        return er_densities(matrices, density)
    raise ValueError(f"unknown sparsity distribution {distribution!r}")


def apportion(weights: list[float], total: int, caps: list[int]) -> list[int]:
    """Integers proportional to ``weights`` summing exactly to ``total``, each at most its cap.

    Largest-remainder rounding; an entry that reaches its cap gives its excess to the others in
    proportion (Selfish-RNN's redistribution loop). Zero weights get nothing unless the others are
    full. Needs ``0 <= total <= sum(caps)``."""
    if total < 0 or total > sum(caps):
        raise ValueError(f"cannot place {total} units in capacity {sum(caps)}")
    alloc = [0] * len(weights)
    open_ = [i for i in range(len(weights)) if caps[i] > 0]
    left = total
    while left > 0 and open_:
        mass = sum(max(weights[i], 0.0) for i in open_)
        if mass <= 0.0:
            # Only zero-weight entries have room: fill them in proportion to their room.
            weights = [float(c - a) for c, a in zip(caps, alloc)]
            mass = sum(weights[i] for i in open_)
        shares = {i: left * max(weights[i], 0.0) / mass for i in open_}
        capped = [i for i in open_ if alloc[i] + shares[i] >= caps[i]]
        if capped:
            for i in capped:
                left -= caps[i] - alloc[i]
                alloc[i] = caps[i]
            open_ = [i for i in open_ if i not in capped]
            continue
        floors = {i: math.floor(shares[i]) for i in open_}
        for i in open_:
            alloc[i] += floors[i]
        left -= sum(floors.values())
        by_remainder = sorted(open_, key=lambda i: (-(shares[i] - floors[i]), i))
        for i in by_remainder[:left]:
            alloc[i] += 1
        left = 0
    return alloc


def block_keep_counts(matrices: list[PrunableMatrix], densities: list[float], total: int) -> list[list[int]]:
    """Weights kept per gate block ([matrix][gate]): every block of matrix i keeps ``densities[i]``
    of its weights, rounded so that the counts sum exactly to ``total``."""
    ideal, caps = [], []
    for m, d in zip(matrices, densities):
        for _ in range(m.gates):
            ideal.append(d * m.block_numel)
            caps.append(m.block_numel)
    flat = apportion(ideal, total, caps)
    out, i = [], 0
    for m in matrices:
        out.append(flat[i : i + m.gates])
        i += m.gates
    return out
