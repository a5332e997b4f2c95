"""Drive ``decide`` with synthetic trajectories until the search finishes, without training anything.

The simulator is a tiny engine: trials "train" one epoch per ``epoch_seconds`` of simulated time,
report the metric and spectrum their trajectory gives, may crash or diverge where told, and every
report is followed by a decision whose actions are applied with the same reducers real engines use.
Tests use it to check strategies end to end; the benchmark uses it to compare strategies on a pool.

    sim = Simulation(spec, latent_trajectories(seed=0))
    sim.run()
    sim.state.promoted, sim.state.trial_epochs, sim.log
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from hyperprune.policy.actions import Action, Continue, Fail, Start, Stop
from hyperprune.policy.decide import decide
from hyperprune.policy.scoring import derive_seed
from hyperprune.policy.state import OCCUPYING, SearchState, TrialState
from hyperprune.policy.transitions import apply, mark_running, record_error, record_report
from hyperprune.spec.models import SearchSpec
from hyperprune.spec.point import Point


@dataclass(frozen=True)
class Trajectory:
    """What one simulated trial reports, epoch by epoch (epochs count from 1)."""

    metric: Callable[[int], float]  # validation metric after the epoch
    spectrum: Callable[[int], np.ndarray | None] | None = None  # its Lyapunov spectrum at the epoch (None: none)
    diverge_at: int | None = None  # the epoch whose loss becomes NaN
    crash_at: tuple[tuple[int, int], ...] = ()  # (attempt, epoch): attempt n (from 0) dies in that epoch
    epoch_seconds: float = 1.0


TrajectoryFn = Callable[[str, Point], Trajectory]  # (trial id, point) -> its trajectory


class SimulationError(AssertionError):
    """The policy broke a promise: a deadlock, a duplicate action, too many trials running."""


@dataclass
class Simulation:
    spec: SearchSpec
    trajectories: TrajectoryFn
    state: SearchState = field(default_factory=SearchState)
    check_idempotent: bool = True  # decide again after applying: it must return nothing
    clock: float = 0.0
    decisions: int = 0
    log: list[tuple[float, Action]] = field(default_factory=list)
    reports: int = 0
    _due: dict[str, float] = field(default_factory=dict)  # trial id -> when its current epoch ends
    _paths: dict[str, Trajectory] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._spectrum_epochs = frozenset(self.spec.lyapunov_epochs())  # asked after every simulated epoch
        for trial in self.state.trials:  # resuming from a saved state: relaunch what was running
            if trial.status in OCCUPYING:
                self._launch(trial.id)

    def trajectory(self, trial: TrialState) -> Trajectory:
        if trial.id not in self._paths:
            self._paths[trial.id] = self.trajectories(trial.id, trial.params)
        return self._paths[trial.id]

    def epoch_seconds(self, trial_id: str, epoch: int) -> float:
        """How long the trial's epoch takes (subclasses replay recorded times)."""
        return self.trajectory(self.state.trial(trial_id)).epoch_seconds

    def _launch(self, trial_id: str) -> None:
        trial = self.state.trial(trial_id)
        mark_running(self.state, trial_id)
        self._due[trial_id] = self.clock + self.epoch_seconds(trial_id, trial.epoch + 1)

    def decide(self) -> list[Action]:
        """One decision, applied."""
        actions = decide(self.spec, self.state)
        self.decisions += 1
        for action in actions:
            apply(self.state, action)
            self.log.append((self.clock, action))
            if isinstance(action, (Start, Continue)):
                self._launch(action.trial_id)
            elif isinstance(action, (Stop, Fail)):
                self._due.pop(action.trial_id, None)
        running = sum(1 for t in self.state.trials if t.status in OCCUPYING)
        if running > self.spec.budget.parallelism:
            raise SimulationError(f"{running} trials hold workers; parallelism is {self.spec.budget.parallelism}")
        if self.check_idempotent and actions:
            again = decide(self.spec, self.state)
            if again:
                raise SimulationError(f"decide is not idempotent: after {actions} it returned {again}")
        return actions

    def advance(self) -> bool:
        """Finish the next epoch of the trial due first; False when nothing is training."""
        if not self._due:
            return False
        order = {t.id: i for i, t in enumerate(self.state.trials)}
        trial_id = min(self._due, key=lambda i: (self._due[i], order[i]))
        self.clock = self._due.pop(trial_id)
        trial = self.state.trial(trial_id)
        path = self.trajectory(trial)
        epoch = trial.epoch + 1
        if (trial.failures, epoch) in path.crash_at:
            record_error(self.state, trial_id, f"simulated crash in epoch {epoch}")
            return True
        self.reports += 1
        if path.diverge_at == epoch:
            record_report(self.state, trial_id, epoch=epoch, metric=None, mode=self.spec.metric_mode,
                          status="diverged", message=f"loss is NaN in epoch {epoch}")
            return True
        spectrum = None
        if path.spectrum is not None and epoch in self._spectrum_epochs:
            spectrum = path.spectrum(epoch)
        record_report(
            self.state,
            trial_id,
            epoch=epoch,
            metric=path.metric(epoch),
            mode=self.spec.metric_mode,
            spectrum=spectrum,
            status="completed" if epoch >= self.spec.final_epoch else "running",
        )
        if trial.status == "running":
            self._due[trial_id] = self.clock + self.epoch_seconds(trial_id, epoch + 1)
        return True

    def run(self, max_decisions: int | None = None) -> "Simulation":
        """Decide after every report until the search finishes (or max_decisions were made)."""
        while self.state.outcome is None:
            if max_decisions is not None and self.decisions >= max_decisions:
                return self
            self.decide()
            if self.state.outcome is not None:
                break
            if not self.advance():
                raise SimulationError(f"deadlock: nothing trains and the search is not finished: {self.summary()}")
        return self

    def summary(self) -> dict[str, str]:
        return {t.id: f"{t.status}@{t.epoch}->{t.target_epoch}" for t in self.state.trials}

    def actions(self, kind: type | None = None) -> list[Action]:
        return [a for _, a in self.log if kind is None or isinstance(a, kind)]


# ---- synthetic trajectories ---------------------------------------------------------------------


def latent_quality(point: Point, seed: int = 0) -> float:
    """A hidden quality in [0, 1) per point (0 best), fixed by the seed."""
    return derive_seed(seed, "quality", point.key) / 2**32


def latent_trajectories(
    *,
    seed: int = 0,
    exponents: int = 32,
    ls_noise: float = 0.05,
    metric_noise: float = 0.02,
    dense_quality: float = 0.4,
    quality: Callable[[Point], float] | None = None,
) -> TrajectoryFn:
    """Trajectories in which a hidden quality q drives both the final metric (perplexity
    100 * (1 + q), approached as 1 + 3/epoch) and the LS distance to the dense model
    (about q * sqrt(exponents), plus noise): LS distance early predicts the end, as LSH assumes.
    The dense model has quality ``dense_quality`` and sits at distance 0."""
    rng = np.random.default_rng(seed)
    base = np.sort(rng.standard_normal(exponents))[::-1]
    quality_of = quality or (lambda p: latent_quality(p, seed))

    def make(trial_id: str, point: Point) -> Trajectory:
        dense = point.is_dense
        q = dense_quality if dense else quality_of(point)
        key = derive_seed(seed, "noise", point.key)

        def noise(epoch: int, what: str, scale: float, size: int | None = None) -> Any:
            return np.random.default_rng([key, epoch, len(what)]).normal(0.0, scale, size)

        def metric(epoch: int) -> float:
            return float(100.0 * (1.0 + q) * (1.0 + 3.0 / epoch) * (1.0 + noise(epoch, "metric", metric_noise)))

        def spectrum(epoch: int) -> np.ndarray:
            settle = base * (1.0 - 1.0 / (epoch + 1))
            if dense:
                return settle
            return np.asarray(settle + q + noise(epoch, "ls", ls_noise, exponents), dtype=np.float64)

        return Trajectory(metric=metric, spectrum=spectrum)

    return make
