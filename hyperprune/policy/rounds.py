"""``lsh-sync``: the published LSH procedure, in synchronous rounds (Zheng & Shlizerman).

Round 1: every candidate trains to e0. Each round ranks the round's candidates by LS distance at its
epoch, keeps floor(n/2)+1 and retrains them FROM SCRATCH to the next rung (e0 + r * ei); when at most
`finalists` are kept (or no rung is left), they retrain from scratch to the end and the best by
validation metric is promoted.

A round is decided once: afterwards its survivors are those continued past its epoch and those still
paused there waiting for a worker; its losers are stopped. This keeps the decision stable even when a
survivor's retraining overwrites its earlier observations.
"""

from __future__ import annotations

import math

from hyperprune.policy.actions import Continue, Stop
from hyperprune.policy.plan import Plan
from hyperprune.policy.rungs import ls_distance_of, ranking, reached, verdict


def survivors_count(seen: int) -> int:
    return seen // 2 + 1


def rounds_step(plan: Plan) -> None:
    spec = plan.spec
    rungs = plan.rungs
    finalists = spec.strategy.rungs.finalists
    scorer = ls_distance_of(plan)

    def next_epoch(round_index: int, kept: int) -> int:
        last = round_index + 1 >= len(rungs)
        return spec.final_epoch if kept <= finalists or last else rungs[round_index + 1]

    for j, epoch in enumerate(rungs):
        members = [t for t in plan.candidates if plan.target[t.id] >= epoch]
        if not members:
            return
        waiting = [t for t in members if plan.status[t.id] == "paused" and plan.target[t.id] == epoch]
        beyond = [t for t in members if plan.target[t.id] > epoch]
        stopped_here = [t for t in members if plan.status[t.id] == "stopped" and plan.target[t.id] == epoch]
        if beyond or stopped_here:  # decided earlier: survivors still waiting get the free workers
            following = next_epoch(j, len(beyond) + len(waiting))
            for trial in waiting:
                if plan.slots <= 0:
                    break
                plan.emit(Continue(trial.id, following, from_scratch=True, reason=f"kept at epoch {epoch}"))
            if following == spec.final_epoch:
                return
            continue
        if j == 0 and plan.can_create():
            return  # round 1 is still being filled
        if any(plan.active(t) and not reached(t, epoch) for t in members) or not scorer.ready(epoch):
            return  # the round is still training, or waits for the dense reference
        ranked = ranking(plan, scorer, epoch, members)
        kept = min(survivors_count(len(ranked)), sum(1 for _, s in ranked if math.isfinite(s)))
        following = next_epoch(j, kept)
        for rank, (trial, score) in enumerate(ranked, 1):
            if plan.status[trial.id] != "paused":
                continue
            why = verdict(scorer, score, rank, len(ranked), epoch, kept)
            if rank <= kept:
                if plan.slots > 0:
                    plan.emit(Continue(trial.id, following, from_scratch=True, reason=why))
            else:
                plan.emit(
                    Stop(trial.id, why, rank=rank, of=len(ranked), score=score if math.isfinite(score) else None,
                         rung_epoch=epoch, keep=kept)
                )
        return  # the next round starts once the survivors reach its epoch
