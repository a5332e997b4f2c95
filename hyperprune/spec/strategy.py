"""How a search decides: the strategy, its rung schedule and how it generates candidates. Torch-free."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, PositiveInt

from hyperprune.contract.document import Model

StrategyName = Literal["lsh", "lsh-sync", "full", "asha-loss", "median", "random"]

# Strategies that rank by Lyapunov-spectrum distance and so need the dense reference's spectra.
LS_STRATEGIES = frozenset({"lsh", "lsh-sync"})
# Strategies that stop candidates at rungs (epochs first, first + step, ...).
RUNG_STRATEGIES = frozenset({"lsh", "lsh-sync", "asha-loss", "random"})

STRATEGY_HELP = {
    "lsh": "asynchronous LS-halving: rank by LS distance to the dense model at each rung, continue the best",
    "lsh-sync": "the published procedure: synchronous rounds, keep floor(n/2)+1, retrain survivors from scratch",
    "full": "train every candidate to the end (the expensive reference)",
    "asha-loss": "asynchronous successive halving ranked by the validation metric",
    "median": "median stopping rule: stop a trial whose best metric is worse than the others' median",
    "random": "random early selection with the same rungs as lsh (a baseline)",
}


class Rungs(Model):
    """Where candidates are compared: epochs first, first + step, first + 2 step, ..."""

    first: PositiveInt = Field(3, description="e0: epoch of the first rung")
    step: PositiveInt = Field(3, description="ei: epochs between two rungs")
    count: PositiveInt | None = Field(
        None,
        description=(
            "number of rungs (lsh, asha-loss, random); default: the most that leave about `finalists` "
            "candidates (largest count with maxTrials x keepFraction^count >= finalists), as many as fit "
            "before training.epochs"
        ),
    )
    keep_fraction: float = Field(
        0.5, gt=0.0, lt=1.0, description="fraction of the trials seen at a rung that continue (lsh-sync keeps floor(n/2)+1)"
    )
    finalists: PositiveInt = Field(2, description="candidates that train to the end (lsh-sync stops halving at this many)")
    epochs: list[PositiveInt] | None = Field(
        None,
        description=(
            "explicit rung epochs (lsh-sync: round epochs), increasing and before training.epochs; "
            "replaces first, step and count"
        ),
    )

    @property
    def first_epoch(self) -> int:
        """The epoch of the first rung."""
        return self.epochs[0] if self.epochs else self.first


class Generation(Model):
    """How new candidates are proposed as workers free up."""

    sampler: Literal["tpe", "random"] | None = Field(
        None,
        description=(
            "tpe: Optuna's TPE with the LS distance at the first rung as objective (lsh, lsh-sync); "
            "random: uniform draws. Default: tpe for lsh and lsh-sync, random for the baselines"
        ),
    )
    startup_trials: int = Field(5, ge=0, description="random proposals before TPE models the observations")
    ei_candidates: PositiveInt = Field(24, description="TPE: candidates drawn to pick the best expected improvement")
    multivariate: bool = Field(False, description="TPE: model parameters jointly instead of independently")
    proposal_attempts: PositiveInt = Field(
        10, description="proposals tried before falling back to an unused point when they duplicate existing candidates"
    )


class MedianRule(Model):
    """Median stopping rule (Golovin et al. 2017): stop a trial whose best metric so far is worse than the
    median of the other trials' running averages at the same epoch."""

    grace_epochs: PositiveInt = Field(1, description="no trial is stopped before it has trained this many epochs")
    min_trials: PositiveInt = Field(3, description="other trials that must have reached the epoch before a median is used")


ScoreRule = Literal["ls", "ls-then-metric"]


class Score(Model):
    """What lsh ranks candidates by at a rung (lsh-sync and TPE use the LS distance part)."""

    rule: ScoreRule = Field(
        "ls",
        description=(
            "ls: the LS distance to the dense reference at every rung (the published rule); ls-then-metric "
            "(lsh only): the LS distance at rungs before metricFrom of training, the validation metric from there on"
        ),
    )
    exponents: PositiveInt | None = Field(
        None, description="LS distance over the largest `exponents` exponents of each spectrum (null: all, as published)"
    )
    metric_from: float = Field(
        0.25, gt=0.0, le=1.0, description="ls-then-metric: the fraction of training from which rungs rank by the validation metric"
    )

    def metric_epoch(self, epochs: int) -> int:
        """ls-then-metric: the first epoch whose rung ranks by the validation metric."""
        return max(1, math.ceil(self.metric_from * epochs - 1e-9))


class Strategy(Model):
    name: StrategyName = Field("lsh", description="lsh | lsh-sync | full | asha-loss | median | random")
    rungs: Rungs = Field(default_factory=Rungs)
    score: Score = Field(default_factory=Score)
    generation: Generation = Field(default_factory=Generation)
    median: MedianRule = Field(default_factory=MedianRule)

    @property
    def sampler(self) -> Literal["tpe", "random"]:
        if self.generation.sampler is not None:
            return self.generation.sampler
        return "tpe" if self.name in LS_STRATEGIES else "random"

    @property
    def uses_spectra(self) -> bool:
        return self.name in LS_STRATEGIES

    def fitting_rungs(self, epochs: int) -> list[int]:
        """Every rung epoch first + i * step (or the explicit epochs) that comes before the end of training."""
        if self.rungs.epochs:
            return [e for e in self.rungs.epochs if e < epochs]
        first, step = self.rungs.first, self.rungs.step
        return list(range(first, epochs, step)) if first < epochs else []

    def rung_epochs(self, epochs: int, max_trials: int) -> list[int]:
        """The epochs at which this strategy compares candidates (empty for full and median)."""
        if self.name not in RUNG_STRATEGIES:
            return []
        fitting = self.fitting_rungs(epochs)
        if self.rungs.epochs:
            return fitting  # as given: lsh-sync ends its rounds earlier once `finalists` remain
        if self.name == "lsh-sync":
            return fitting[: sync_round_count(max_trials, self.rungs.finalists)]
        return fitting[: self.rungs.count or default_rung_count(max_trials, self.rungs.keep_fraction, self.rungs.finalists)]


def default_rung_count(max_trials: int, keep_fraction: float, finalists: int) -> int:
    """The most halvings that still leave about `finalists` candidates: the largest k with
    max_trials * keep_fraction^k >= finalists (at least one rung)."""
    count = 0
    while max_trials * keep_fraction ** (count + 1) >= finalists - 1e-9:
        count += 1
    return max(count, 1)


def sync_round_count(max_trials: int, finalists: int) -> int:
    """Rounds of lsh-sync (each keeps floor(n/2)+1) until at most `finalists` remain, or until the next
    round could not shrink the field (2 -> 2)."""
    n, rounds = max_trials, 1
    while True:
        kept = n // 2 + 1
        if kept <= finalists or kept // 2 + 1 >= kept:
            return rounds
        n, rounds = kept, rounds + 1
