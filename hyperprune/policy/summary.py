"""What a search shows: one read model of the policy's state for every engine and reader. Pure.

The local engine's ``result.json``, the custom resource's status, the operator's metrics, the progress
display and the HTML report all show the same facts: trials by status, the trial-epochs spent,
avoided and what full training would cost, the best candidate, the dense reference's metric, each
trial's latest metric and LS distance, and what a model costs to keep and run against the dense one. They read them here, so the two engines cannot disagree on a
formula (they once counted full training two ways, agreeing only once every candidate existed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hyperprune.contract.efficiency import Efficiency, Savings, savings
from hyperprune.contract.report import Mode
from hyperprune.policy.decide import best_candidate, final_metric
from hyperprune.policy.distance import SpectrumMismatch
from hyperprune.policy.objectives import FrontPoint, front
from hyperprune.policy.plan import Plan
from hyperprune.policy.scoring import distance_history, observation_distance, oriented, reference_spectrum
from hyperprune.policy.state import ACTIVE, SearchState, TrialState
from hyperprune.spec.models import SearchSpec


def finite_or_none(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


# ---- one trial -------------------------------------------------------------------------------------


def latest_metric(trial: TrialState) -> float | None:
    """Validation metric at the latest epoch the trial reported."""
    if not trial.observations:
        return None
    return finite_or_none(trial.observations[max(trial.observations)].metric)


def latest_distance(trial: TrialState, dense: TrialState | None) -> tuple[float | None, int | None]:
    """LS distance to the dense reference at the latest epoch both have a spectrum for, and that epoch."""
    if dense is None or trial is dense:
        return None, None
    for epoch in sorted(trial.observations, reverse=True):
        obs = trial.observations[epoch]
        reference = reference_spectrum(dense, epoch)
        if obs.spectrum is None or reference is None:
            continue
        try:
            return finite_or_none(observation_distance(obs, reference)), epoch
        except SpectrumMismatch:
            return None, epoch
    return None, None


def distance_at(state: SearchState, trial: TrialState, epoch: int) -> float | None:
    """LS distance to the dense spectrum of the same epoch, once both reported one (finite only)."""
    if trial.is_dense:
        return None
    return finite_or_none(distance_history(trial, state.dense).get(epoch))


def rung_distances(trial: TrialState, dense: TrialState | None, epochs: list[int]) -> dict[int, float]:
    """LS distance at each of ``epochs`` the trial reported (finite ones only)."""
    if dense is None or trial is dense:
        return {}
    out: dict[int, float] = {}
    for epoch in epochs:
        obs, reference = trial.observations.get(epoch), reference_spectrum(dense, epoch)
        if obs is None or obs.spectrum is None or reference is None:
            continue
        try:
            d = observation_distance(obs, reference)
        except SpectrumMismatch:
            continue
        if math.isfinite(d):
            out[epoch] = d
    return out


@dataclass(frozen=True)
class RungEntry:
    epoch: int
    metric: float | None  # validation metric at the epoch
    distance: float | None  # LS distance to the dense spectrum of the same epoch (finite only)


def rung_history(state: SearchState, trial: TrialState, epochs: list[int]) -> list[RungEntry]:
    """Validation metric and LS distance at each of ``epochs`` the trial reported."""
    distances = distance_history(trial, state.dense) if not trial.is_dense else {}
    return [
        RungEntry(e, trial.observations[e].metric, finite_or_none(distances.get(e)))
        for e in epochs
        if e in trial.observations
    ]


def measured_efficiency(trial: TrialState | None) -> Efficiency | None:
    """The trial's latest measurement of its model (after its final epoch once it completed)."""
    if trial is None:
        return None
    return next((o.efficiency for _, o in sorted(trial.observations.items(), reverse=True) if o.efficiency), None)


def savings_against_dense(state: SearchState, trial: TrialState) -> Savings | None:
    """What ``trial``'s model saves against the dense reference's, once both were measured."""
    mine, dense = measured_efficiency(trial), measured_efficiency(state.dense)
    return None if mine is None or dense is None or trial.is_dense else savings(mine, dense)


# ---- the search ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialEpochs:
    spent: int  # trained by the whole search: the dense reference and retraining included
    avoided: int  # the epochs early-stopped candidates did not train
    full_training: int  # what training every candidate and the dense reference to the end costs


def trial_epochs(spec: SearchSpec, state: SearchState) -> TrialEpochs:
    """Full training is what the search plans: every candidate it will create (``max_candidates``)
    and the dense reference, each to the final epoch; it does not grow as candidates appear."""
    final = spec.final_epoch
    return TrialEpochs(
        spent=state.trial_epochs,
        avoided=sum(max(final - t.epoch, 0) for t in state.candidates if t.status == "stopped"),
        full_training=(spec.max_candidates() + (1 if spec.dense.enabled else 0)) * final,
    )


def best(spec: SearchSpec, state: SearchState) -> TrialState | None:
    """The promoted trial, or before promotion the completed candidate with the best final
    validation metric (the one the policy would promote)."""
    if state.promoted is not None:
        return state.find(state.promoted)
    return best_candidate(Plan(spec, state))


def promoted_front(spec: SearchSpec, state: SearchState) -> list[FrontPoint]:
    """A pareto search's front once it promoted (the primary among them), cheapest first; empty for
    the other objectives and before promotion."""
    if spec.objective.name != "pareto" or state.promoted is None:
        return []
    return front(spec, state)


def leader(state: SearchState, mode: Mode) -> tuple[TrialState, float, bool] | None:
    """The best candidate so far: ``(trial, metric, final)``. Among completed candidates by final
    validation metric when there are any; otherwise the best metric at the furthest epoch reached
    by a candidate still in the race (a stopped one leads nothing, however good it looked)."""
    completed = [(t, m) for t in state.candidates if t.status == "completed" and (m := final_metric(t)) is not None]
    if completed:
        trial, value = min(completed, key=lambda tm: oriented(tm[1], mode))
        return trial, value, True
    reported = [t for t in state.candidates if t.observations and t.status in ACTIVE]
    if not reported:
        return None
    furthest = max(t.last_epoch for t in reported)
    at = [(t, m) for t in reported if t.last_epoch == furthest and (m := t.observations[furthest].metric) is not None]
    if not at:
        return None
    trial, value = min(at, key=lambda tm: oriented(tm[1], mode))
    return trial, value, False
