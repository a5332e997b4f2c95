"""Asynchronous successive halving (ASHA, Li et al. 2020) with a pluggable score: ``lsh`` ranks by LS
distance to the dense reference, ``asha-loss`` by the validation metric, ``random`` by a seeded draw.

A candidate trains to the first rung and pauses. At each rung epoch e, the n trials seen there are
ranked; a paused trial continues, from its checkpoint, to the next rung as soon as it ranks within
floor(keepFraction * n). Later arrivals can still promote a waiting trial. A rung closes when no trial
can arrive there any more (no candidate left to create, none still training towards it, none waiting
below it that could be promoted); the trials still waiting at a closed rung are stopped with their
rank, except the best max(1, floor(keepFraction * n)).

The last rung is synchronous: training to the end is the most expensive step, and ASHA's early
promotion would send every early arrival that ranks well among the few seen so far all the way
(with 26 candidates, 1 finalist asked for, 1 to 3 trained to the end). So trials wait at the last rung
until it closes; then exactly the best ``finalists`` of it train to the end.
"""

from __future__ import annotations

import math

from hyperprune.policy.actions import Continue, Stop
from hyperprune.policy.plan import Plan
from hyperprune.policy.rungs import LsThenMetric, Scorer, ranking, reached, scorer_at, verdict


def keep_count(keep_fraction: float, seen: int, closed: bool) -> int:
    # The epsilon keeps 0.29 * 100 at 29, not 28.999...; a closed rung always lets its best through.
    kept = int(math.floor(keep_fraction * seen + 1e-9))
    return max(kept, 1) if closed else kept


def halving_step(plan: Plan, rule: Scorer | LsThenMetric) -> None:
    spec = plan.spec
    rungs = plan.rungs
    keep_fraction = spec.strategy.rungs.keep_fraction
    finalists = spec.strategy.rungs.finalists
    promotable = []
    for k, epoch in enumerate(rungs):
        following = rungs[k + 1] if k + 1 < len(rungs) else spec.final_epoch
        scorer = scorer_at(rule, epoch)
        if not scorer.ready(epoch):
            continue  # waiting trials wait for the dense reference to report this epoch
        closed = not plan.can_create() and not any(
            plan.active(t) and not reached(t, epoch) for t in plan.candidates
        )
        last = k == len(rungs) - 1
        if last and not closed:
            continue  # the finalists are chosen among everything that reaches the last rung
        ranked = ranking(plan, scorer, epoch, plan.candidates)
        keep = max(1, min(finalists, len(ranked))) if last else keep_count(keep_fraction, len(ranked), closed)
        for rank, (trial, score) in enumerate(ranked, 1):
            if plan.status[trial.id] != "paused" or plan.target[trial.id] != epoch:
                continue
            if rank <= keep and math.isfinite(score):
                promotable.append((k, rank, trial, following, verdict(scorer, score, rank, len(ranked), epoch, keep)))
            elif closed:
                why = verdict(scorer, score, rank, len(ranked), epoch, keep)
                plan.emit(
                    Stop(trial.id, why, rank=rank, of=len(ranked), score=score if math.isfinite(score) else None,
                         rung_epoch=epoch, keep=keep)
                )
    # Workers go to the trials closest to the end first, then by rank (as ASHA does).
    for _, _, trial, following, why in sorted(promotable, key=lambda p: (-p[0], p[1])):
        if plan.slots <= 0:
            break
        plan.emit(Continue(trial.id, following, reason=why))
