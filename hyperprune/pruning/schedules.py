"""Sparsity and rate schedules shared by the methods."""

from __future__ import annotations

import math


def cubic_sparsity(step: int, *, initial: float, final: float, start_step: int, end_step: int) -> float:
    """Zhu & Gupta (2017): s_t = s_f + (s_i - s_f) (1 - (t - t0) / (t_end - t0))^3, held at s_i
    before t0 and at s_f after t_end."""
    if step <= start_step:
        return initial
    if step >= end_step:
        return final
    progress = (step - start_step) / (end_step - start_step)
    return final + (initial - final) * (1.0 - progress) ** 3


def cosine_decay(value: float, t: float, horizon: float, floor: float = 0.0) -> float:
    """``value`` annealed to ``floor`` over ``horizon`` along half a cosine (value at t=0)."""
    t = min(max(t, 0.0), horizon)
    return floor + (value - floor) * 0.5 * (1.0 + math.cos(math.pi * t / horizon))


def lottery_round_sparsity(final: float, round_: int, rounds: int) -> float:
    """Sparsity after ``round_`` of ``rounds`` equal-rate prunes: each round keeps the same fraction
    of the surviving weights, 1 - (1 - s)^(r / R) (Frankle & Carbin 2019)."""
    return 1.0 - (1.0 - final) ** (round_ / rounds)
