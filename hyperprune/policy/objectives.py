"""What a search promotes (``spec.objective``), and how its rungs weigh cost beside their score. Pure.

- ``metric`` (the default): the completed candidate with the best final validation metric.
- ``sparsest-within``: the cheapest completed candidate whose final metric is within ``tolerance``
  percent of the dense reference's (worse by at most that share; better is always within); when none
  is, the best by metric, and the reason says so.
- ``pareto``: every completed candidate on the non-dominated front of (final metric, cost); the one
  with the best metric is the primary promoted model, the others are promoted beside it.

Cost (lower is better) is what the trial measured after its last epoch (``Efficiency.cost``:
nonzero parameters, bytes of the exported weights, or latency). Where a completed candidate has no
measurement (a replayed or simulated trial), every candidate is weighed by its planned density
(1 - target sparsity) instead, so one search never compares two kinds of cost.

At a rung, the objectives that weigh cost rank by non-dominated sorting over (the strategy's early
score, planned density), with the score breaking ties inside a front: a sparse candidate is kept for
being the best at its sparsity, not stopped for ranking behind denser ones. Planned density stands in
for cost there because a gradually pruned model reaches its sparsity only late, and its measured
size early on would flatter it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from hyperprune.contract.efficiency import CostName
from hyperprune.policy.scoring import final_observation, oriented
from hyperprune.policy.state import SearchState, TrialState
from hyperprune.spec.models import SearchSpec

Objectives = tuple[float, float]  # both lower is better


def dominates(a: Objectives, b: Objectives) -> bool:
    """``a`` is no worse than ``b`` in both and better in one."""
    return a[0] <= b[0] and a[1] <= b[1] and (a[0] < b[0] or a[1] < b[1])


def front_ranks(points: Sequence[Objectives]) -> list[int]:
    """Non-dominated sorting: 0 for the points nothing dominates, 1 for those only front 0 dominates, ..."""
    ranks = [-1] * len(points)
    left = set(range(len(points)))
    rank = 0
    while left:
        front = {i for i in left if not any(dominates(points[j], points[i]) for j in left if j != i)}
        for i in front:
            ranks[i] = rank
        left -= front
        rank += 1
    return ranks


def hypervolume(points: Sequence[Objectives], reference: Objectives) -> float:
    """The area dominated by ``points`` and bounded by ``reference`` (both objectives minimised);
    points not better than the reference in both add nothing."""
    inside = sorted({p for p in points if p[0] < reference[0] and p[1] < reference[1]})
    area, best_y = 0.0, reference[1]
    for x, y in inside:
        if y < best_y:
            area += (reference[0] - x) * (best_y - y)
            best_y = y
    return area


def planned_density(trial: TrialState) -> float:
    return 1.0 - trial.params.sparsity


def measured_cost(trial: TrialState, cost: CostName) -> float | None:
    """The cost the trial measured at its last reported epoch (None: not measured)."""
    obs = final_observation(trial)
    value = None if obs is None or obs.efficiency is None else obs.efficiency.cost(cost)
    return value if value is not None and math.isfinite(value) else None


def rung_order(scored: list[tuple[TrialState, float]]) -> list[int]:
    """The front rank of each (trial, early score) over (score, planned density)."""
    return front_ranks([(score, planned_density(trial)) for trial, score in scored])


# ---- what is promoted --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrontPoint:
    trial: TrialState
    metric: float  # final validation metric
    cost: float  # measured cost, or planned density when ``measured`` is False
    measured: bool


def completed_points(spec: SearchSpec, state: SearchState) -> list[FrontPoint]:
    """Every completed candidate with a final metric, with its cost (see the module docstring)."""
    completed = [(t, obs.metric) for t in state.candidates
                 if t.status == "completed" and (obs := final_observation(t)) is not None and obs.metric is not None]
    costs = [measured_cost(t, spec.objective.cost) for t, _ in completed]
    measured = all(c is not None for c in costs)
    return [FrontPoint(t, m, c if measured and c is not None else planned_density(t), measured)
            for (t, m), c in zip(completed, costs)]


def front(spec: SearchSpec, state: SearchState) -> list[FrontPoint]:
    """The non-dominated completed candidates over (final metric, cost), cheapest first."""
    points = completed_points(spec, state)
    ranks = front_ranks([(oriented(p.metric, spec.metric_mode), p.cost) for p in points])
    return sorted((p for p, r in zip(points, ranks) if r == 0), key=lambda p: (p.cost, p.trial.id))


def dense_metric(state: SearchState) -> float | None:
    dense = state.dense
    if dense is None or dense.status != "completed":
        return None
    obs = final_observation(dense)
    return None if obs is None else obs.metric


def within(metric: float, target: float, tolerance: float, mode: str) -> bool:
    """``metric`` is at most ``tolerance`` percent worse than ``target``."""
    slack = abs(target) * tolerance / 100.0
    return metric <= target + slack if mode == "min" else metric >= target - slack


@dataclass(frozen=True)
class Choice:
    """The primary model to promote, the others beside it (pareto), and why."""

    primary: TrialState
    others: list[TrialState]
    reason: str  # empty for the metric objective (its reason is the metric itself)


def choose(spec: SearchSpec, state: SearchState, best: TrialState) -> Choice:
    """What the objective promotes once every candidate is done; ``best`` is the best by metric."""
    objective, name = spec.objective, spec.metric
    if objective.name == "pareto":
        points = front(spec, state)
        what = spec.objective.cost if points and points[0].measured else "planned density"
        others = [p.trial for p in points if p.trial.id != best.id]
        return Choice(best, others, f"front of {len(points)} over validation {name} and {what}; best metric on it")
    if objective.name == "sparsest-within" and objective.tolerance is not None:
        target = dense_metric(state)
        if target is None:
            return Choice(best, [], "no dense final metric to measure the tolerance against; best metric")
        points = [p for p in completed_points(spec, state)
                  if within(p.metric, target, objective.tolerance, spec.metric_mode)]
        if not points:
            return Choice(best, [], f"no candidate within {objective.tolerance:g}% of dense {target:.4g}; best metric")
        cheapest = min(points, key=lambda p: (p.cost, oriented(p.metric, spec.metric_mode), p.trial.id))
        what = spec.objective.cost if cheapest.measured else "planned density"
        return Choice(cheapest.trial, [], f"cheapest by {what} ({cheapest.cost:.4g}) of {len(points)} within "
                                          f"{objective.tolerance:g}% of dense {target:.4g}")
    return Choice(best, [], "")


__all__ = ["Choice", "FrontPoint", "choose", "completed_points", "dominates", "front", "front_ranks",
           "hypervolume", "measured_cost", "planned_density", "rung_order", "within"]
