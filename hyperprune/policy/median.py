"""The median stopping rule (Golovin et al. 2017, "Google Vizier"): a trial is stopped at epoch e if its
best validation metric so far is strictly worse than the MEDIAN of the other trials' running averages
(mean metric over epochs 1..e), counting the other trials that have reached e. A true median: Katib's
"median" stopper compares with a mean, which one bad trial drags along.

No trial is stopped before ``graceEpochs``, nor while fewer than ``minTrials`` others have reached e.
The rule looks at each running trial's latest report, so it acts as reports arrive.
"""

from __future__ import annotations

import math

import numpy as np

from hyperprune.policy.actions import Stop
from hyperprune.policy.plan import Plan
from hyperprune.policy.scoring import oriented
from hyperprune.policy.state import TrialState


def running_average(trial: TrialState, epoch: int) -> float | None:
    """Mean of its finite metrics (as costs) up to the epoch; None if it has none."""
    values = [oriented(o.metric, o.mode) for e, o in trial.observations.items() if e <= epoch]
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


def best_so_far(trial: TrialState, epoch: int) -> float:
    return min((oriented(o.metric, o.mode) for e, o in trial.observations.items() if e <= epoch), default=math.inf)


def median_step(plan: Plan) -> None:
    spec = plan.spec
    rule = spec.strategy.median
    name = spec.metric
    for trial in plan.candidates:
        if plan.status[trial.id] != "running":
            continue
        epoch = trial.last_epoch
        if epoch < rule.grace_epochs or epoch >= spec.final_epoch:
            continue
        averages = [
            avg
            for other in plan.candidates
            if other is not trial and other.last_epoch >= epoch
            for avg in [running_average(other, epoch)]
            if avg is not None
        ]
        if len(averages) < rule.min_trials:
            continue
        median = float(np.median(averages))
        best = best_so_far(trial, epoch)
        if best > median:
            sign = -1.0 if spec.metric_mode == "max" else 1.0
            shown = "none finite" if not math.isfinite(best) else f"{sign * best:.4g}"
            plan.emit(
                Stop(
                    trial.id,
                    f"best validation {name} by epoch {epoch} ({shown}) is worse than the median "
                    f"{sign * median:.4g} of {len(averages)} other trials' running averages",
                    of=len(averages),
                    score=sign * best if math.isfinite(best) else None,
                    rung_epoch=epoch,
                )
            )
