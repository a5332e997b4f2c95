"""What trials are ranked by. Lower is better everywhere; inf ranks last (diverged, missing, not finite)."""

from __future__ import annotations

import hashlib
import math

import numpy as np

from hyperprune.policy.distance import ls_distance
from hyperprune.contract.report import Mode
from hyperprune.policy.state import Observation, TrialState

INF = float("inf")


def oriented(metric: float | None, mode: Mode) -> float:
    """The metric as a cost: perplexity as is, accuracy negated; inf when missing."""
    if metric is None or not math.isfinite(metric):
        return INF
    return metric if mode == "min" else -metric


def derive_seed(*parts: object) -> int:
    """A 32-bit seed from the spec seed and context (stable across processes, unlike hash())."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def reference_spectrum(dense: TrialState | None, epoch: int) -> np.ndarray | None:
    """The dense reference's spectrum at an epoch, once it has reported one."""
    obs = dense.observations.get(epoch) if dense is not None else None
    return obs.spectrum if obs is not None else None


def observation_distance(obs: Observation, reference: np.ndarray) -> float:
    """LS distance of one observation to the reference, memoised on the observation."""
    if obs.spectrum is None:
        return INF
    memo = obs.distance_memo
    if memo is not None and memo[0] is reference:
        return memo[1]
    d = ls_distance(obs.spectrum, reference)
    obs.distance_memo = (reference, d)
    return d


def distance_history(trial: TrialState, dense: TrialState | None) -> dict[int, float]:
    """LS distance to the dense reference at every epoch both reported a spectrum (for results,
    reports and benchmarks); inf where a spectrum is not finite."""
    if dense is None:
        return {}
    out = {}
    for epoch, obs in sorted(trial.observations.items()):
        reference = reference_spectrum(dense, epoch)
        if reference is not None and obs.spectrum is not None:
            out[epoch] = observation_distance(obs, reference)
    return out


def metric_score(trial: TrialState, epoch: int) -> float:
    obs = trial.observations.get(epoch)
    return INF if obs is None else oriented(obs.metric, obs.mode)


def random_score(seed: int, trial_id: str, epoch: int) -> float:
    """A uniform draw in [0, 1) fixed by (seed, trial, rung): the same whoever asks, whenever."""
    if seed < 0:
        raise ValueError("seed must be non-negative")
    return derive_seed(seed, "random-rung", trial_id, epoch) / 2**32


def final_observation(trial: TrialState) -> Observation | None:
    """The observation of its last reported epoch."""
    return trial.observations.get(trial.last_epoch) if trial.observations else None
