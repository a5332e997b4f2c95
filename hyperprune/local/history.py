"""What a trial's observations say, in the shape the progress display, result.json and the report use."""

from __future__ import annotations

import math
from typing import Any

from hyperprune.contract.report import Mode
from hyperprune.policy import SearchState, TrialState, final_metric
from hyperprune.policy.scoring import distance_history, oriented


def finite_or_none(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def distance_at(state: SearchState, trial: TrialState, epoch: int) -> float | None:
    """LS distance to the dense spectrum of the same epoch, once both reported one."""
    return finite_or_none(distance_history(trial, state.dense).get(epoch))


def rung_history(state: SearchState, trial: TrialState, epochs: list[int]) -> list[dict[str, Any]]:
    """Validation metric and LS distance at each of ``epochs`` the trial reported."""
    distances = distance_history(trial, state.dense)
    return [
        {"epoch": e, "valMetric": trial.observations[e].metric, "lsDistance": finite_or_none(distances.get(e))}
        for e in epochs
        if e in trial.observations
    ]


def leader(state: SearchState, mode: Mode) -> tuple[TrialState, float, bool] | None:
    """The best candidate so far: ``(trial, metric, final)``. Among completed candidates by final
    validation metric when there are any; otherwise the best metric at the furthest epoch reached."""
    completed = [(t, m) for t in state.candidates if t.status == "completed" and (m := final_metric(t)) is not None]
    if completed:
        best, value = min(completed, key=lambda tm: oriented(tm[1], mode))
        return best, value, True
    reported = [t for t in state.candidates if t.observations and t.status not in ("failed", "diverged")]
    if not reported:
        return None
    furthest = max(t.last_epoch for t in reported)
    at = [(t, m) for t in reported if t.last_epoch == furthest and (m := t.observations[furthest].metric) is not None]
    if not at:
        return None
    best, value = min(at, key=lambda tm: oriented(tm[1], mode))
    return best, value, False
