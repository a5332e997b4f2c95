"""Ranking candidates at a rung: who has reached it, what they are ranked by, in which order."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from hyperprune.policy.distance import ls_distances
from hyperprune.policy.objectives import rung_order
from hyperprune.policy.plan import Plan
from hyperprune.policy.scoring import INF, metric_score, random_score, reference_spectrum
from hyperprune.policy.state import Observation, TrialState


def reached(trial: TrialState, epoch: int) -> bool:
    """It reported this epoch, or diverged on its way there (a diverged trial ranks last where it stopped)."""
    return epoch in trial.observations or (trial.status == "diverged" and trial.target_epoch == epoch)


def diverged_by(trial: TrialState, epoch: int) -> bool:
    return trial.status == "diverged" and epoch >= trial.last_epoch


class Scorer(Protocol):
    def ready(self, epoch: int) -> bool:
        """Whether trials can be ranked at this epoch now."""

    def scores(self, trials: list[TrialState], epoch: int) -> list[float]:
        """One score per trial at the epoch; lower is better, inf ranks last."""

    def describe(self, score: float) -> str:
        """What the score is, for stop and continue reasons."""


@dataclass
class LsDistance:
    """LS distance to the dense reference at the same epoch (lsh, lsh-sync); over the ``top`` largest
    exponents of each spectrum when set (all, as published, by default)."""

    dense: TrialState | None
    top: int | None = None

    def reference(self, epoch: int) -> np.ndarray | None:
        return reference_spectrum(self.dense, epoch)

    def ready(self, epoch: int) -> bool:
        return self.reference(epoch) is not None

    def scores(self, trials: list[TrialState], epoch: int) -> list[float]:
        reference = self.reference(epoch)
        if reference is None:
            return [INF] * len(trials)
        if self.top is not None:
            return self._top_scores(trials, epoch, reference)
        out = [INF] * len(trials)
        todo: list[tuple[int, Observation]] = []
        spectra: list[np.ndarray] = []
        for i, trial in enumerate(trials):
            obs = trial.observations.get(epoch)
            if obs is None or obs.spectrum is None:
                continue
            memo = obs.distance_memo
            if memo is not None and memo[0] is reference:
                out[i] = memo[1]
            elif obs.spectrum.shape == reference.shape:  # a mismatch failed its trial (decide, step 1)
                todo.append((i, obs))
                spectra.append(obs.spectrum)
        distances = ls_distances(spectra, reference)
        for (i, obs), d in zip(todo, distances):
            obs.distance_memo = (reference, float(d))
            out[i] = float(d)
        return out

    def _top_scores(self, trials: list[TrialState], epoch: int, reference: np.ndarray) -> list[float]:
        k = self.top or reference.size
        ref_top = np.sort(reference)[::-1][:k]
        out = [INF] * len(trials)
        for i, trial in enumerate(trials):
            obs = trial.observations.get(epoch)
            if obs is not None and obs.spectrum is not None and obs.spectrum.shape == reference.shape:
                d = float(np.linalg.norm(np.sort(obs.spectrum)[::-1][:k] - ref_top))
                out[i] = d if math.isfinite(d) else INF
        return out

    def describe(self, score: float) -> str:
        what = "LS distance" if self.top is None else f"LS distance (top {self.top} exponents)"
        return f"{what} {score:.4g}" if math.isfinite(score) else f"no finite {what} (diverged or no spectrum)"


@dataclass
class ValidationMetric:
    """The validation metric at the rung (asha-loss)."""

    name: str  # perplexity or accuracy

    def ready(self, epoch: int) -> bool:
        return True

    def scores(self, trials: list[TrialState], epoch: int) -> list[float]:
        return [metric_score(t, epoch) for t in trials]

    def describe(self, score: float) -> str:
        if not math.isfinite(score):
            return f"no finite validation {self.name}"
        return f"validation {self.name} {abs(score):.4g}"


@dataclass
class RandomDraw:
    """A seeded uniform draw per trial and rung (the random baseline)."""

    seed: int

    def ready(self, epoch: int) -> bool:
        return True

    def scores(self, trials: list[TrialState], epoch: int) -> list[float]:
        return [random_score(self.seed, t.id, epoch) for t in trials]

    def describe(self, score: float) -> str:
        return f"random draw {score:.3f}"


@dataclass
class LsThenMetric:
    """lsh's ls-then-metric rule: the LS distance at rungs before ``metric_epoch``, the validation
    metric from there on (LS separates broken candidates cheaply early; late, the metric is reliable)."""

    ls: LsDistance
    metric: ValidationMetric
    metric_epoch: int

    def at(self, epoch: int) -> Scorer:
        return self.metric if epoch >= self.metric_epoch else self.ls


def ls_distance_of(plan: Plan) -> LsDistance:
    """The LS distance as the spec's score asks (all exponents, or the largest few)."""
    return LsDistance(plan.dense, plan.spec.strategy.score.exponents)


def scorer_at(scorer: Scorer | LsThenMetric, epoch: int) -> Scorer:
    """The scorer of one rung."""
    return scorer.at(epoch) if isinstance(scorer, LsThenMetric) else scorer


def ranking(plan: Plan, scorer: Scorer, epoch: int, members: list[TrialState]) -> list[tuple[TrialState, float]]:
    """The members that reached the rung, best first; ties by creation order. An objective that
    weighs cost ranks by front over (score, planned density) first, then by score."""
    seen = [t for t in members if reached(t, epoch)]
    scored = [
        (t, INF if diverged_by(t, epoch) else score) for t, score in zip(seen, scorer.scores(seen, epoch))
    ]
    if plan.spec.objective.by_cost:  # fronts over (score, planned density) first (policy.objectives)
        fronts = {t.id: r for (t, _), r in zip(scored, rung_order(scored))}
        scored.sort(key=lambda ts: (fronts[ts[0].id], ts[1], plan.sort_key(ts[0])))
    else:
        scored.sort(key=lambda ts: (ts[1], plan.sort_key(ts[0])))
    return scored


def verdict(scorer: Scorer, score: float, rank: int, of: int, epoch: int, keep: int) -> str:
    """``LS distance 0.42 ranked 5 of 8 at epoch 3; keeping 4``."""
    return f"{scorer.describe(score)} ranked {rank} of {of} at epoch {epoch}; keeping {keep}"
