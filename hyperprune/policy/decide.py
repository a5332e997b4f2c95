"""``decide(spec, state) -> [Action]``: the one decision function both engines call.

Level-triggered and pure: the actions depend only on the spec (with its seed) and the state, never on
when or how often it is called. Calling it again on the state that results from applying its actions
returns nothing new, and no call lets more than ``budget.parallelism`` trials hold a worker.

One call, in order:
1. spectra that cannot be compared with the dense reference's fail their trial;
2. errored trials past ``budget.retries`` fail; more than ``budget.maxFailedTrials`` failed trials,
   or (lsh, lsh-sync) a dense reference that failed, diverged or skipped a rung's spectrum, end the
   search as failed;
3. the dense reference starts first; errored trials resume from their checkpoints;
4. the strategy stops and continues trials at its rungs (or by the median rule);
5. free workers get new candidates (TPE or random, never duplicates) until ``maxTrials``, at most
   ``max_starts`` of them in this call: an engine that keeps its steps short (the operator, whose
   reports wait while TPE proposes over thousands of trials) gets the rest from its next call, the
   same candidates when nothing else changed in between;
6. when nothing is left to train, the objective's choice is promoted (``hyperprune.policy.objectives``:
   the best completed candidate by validation metric, the cheapest within a tolerance of the dense
   model, or the best-metric point of the front with the others promoted beside it).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from hyperprune.policy.actions import DENSE_READY, SEARCH_FAILED, Action, Continue, Fail, Finish, Promote, Start, Stop
from hyperprune.policy.distance import mismatch_message
from hyperprune.policy.generation import Evaluated, propose
from hyperprune.policy.halving import halving_step
from hyperprune.policy.median import median_step
from hyperprune.policy.objectives import choose
from hyperprune.policy.plan import Plan
from hyperprune.policy.rounds import rounds_step
from hyperprune.policy.rungs import LsDistance, LsThenMetric, RandomDraw, ValidationMetric, diverged_by, ls_distance_of
from hyperprune.policy.scoring import final_observation, oriented, reference_spectrum
from hyperprune.policy.state import DENSE_ID, SearchState, TrialState, candidate_id
from hyperprune.spec.models import SearchSpec
from hyperprune.spec.point import Point
from hyperprune.spec.summary import plural


STRATEGY_STEPS: dict[str, Callable[[Plan], None]] = {
    "lsh": lambda plan: halving_step(plan, lsh_rule(plan)),
    "lsh-sync": rounds_step,
    "asha-loss": lambda plan: halving_step(plan, ValidationMetric(plan.spec.metric)),
    "random": lambda plan: halving_step(plan, RandomDraw(plan.spec.seed)),
    "median": median_step,
    "full": lambda plan: None,  # every candidate trains to the end
}


def lsh_rule(plan: Plan) -> LsDistance | LsThenMetric:
    """lsh's score (spec.strategy.score): the LS distance, or LS early and the validation metric late."""
    score = plan.spec.strategy.score
    ls = ls_distance_of(plan)
    if score.rule == "ls-then-metric":
        return LsThenMetric(ls, ValidationMetric(plan.spec.metric), score.metric_epoch(plan.spec.final_epoch))
    return ls


def decide(spec: SearchSpec, state: SearchState, *, max_starts: int | None = None) -> list[Action]:
    if state.outcome is not None:
        return []
    plan = Plan(spec, state)
    if state.promoted is not None:  # promoted, but the engine stopped before recording the finish
        plan.emit(Finish("succeeded", f"promoted {state.promoted}"))
        return plan.actions
    _fail_incomparable_spectra(plan)
    _give_up_on_errored(plan)
    if _too_many_failures(plan) or _reference_lost(plan):
        return plan.actions
    _start_dense(plan)
    _dense_ready(plan)
    _retry_errored(plan)
    STRATEGY_STEPS[spec.strategy.name](plan)
    _start_candidates(plan, max_starts)
    _finish_when_done(plan)
    return plan.actions


# ---- failures ------------------------------------------------------------------------------------


def _fail_incomparable_spectra(plan: Plan) -> None:
    if not plan.spec.strategy.uses_spectra or plan.dense is None:
        return
    references = {e: r for e in plan.rungs if (r := reference_spectrum(plan.dense, e)) is not None}
    for trial in plan.candidates:
        if not plan.active(trial):
            continue
        for epoch, reference in references.items():
            obs = trial.observations.get(epoch)
            if obs is not None and obs.spectrum is not None and obs.spectrum.shape != reference.shape:
                plan.emit(Fail(trial.id, f"epoch {epoch}: {mismatch_message(obs.spectrum, reference)}"))
                break


def _give_up_on_errored(plan: Plan) -> None:
    retries = plan.spec.budget.retries
    for trial in plan.state.trials:
        if plan.status[trial.id] != "errored":
            continue
        if not trial.retryable:
            plan.emit(Fail(trial.id, f"not retried, the same error would recur: {trial.message}"))
        elif trial.failures > retries:
            plan.emit(
                Fail(trial.id, f"crashed {plural(trial.failures, 'time')} (budget.retries = {retries}); last error: {trial.message}")
            )


def _reason(plan: Plan, trial_id: str) -> str:
    for action in reversed(plan.actions):
        if isinstance(action, (Fail, Stop)) and action.trial_id == trial_id:
            return action.reason
    trial = plan.state.trial(trial_id)
    return trial.stop_reason or trial.message or "no reason recorded"


def _end(plan: Plan, message: str) -> None:
    """Stop everything still active and finish the search as failed."""
    for trial in plan.state.trials:
        if plan.active(trial):
            plan.emit(Stop(trial.id, f"{SEARCH_FAILED}{message}"))
    plan.emit(Finish("failed", message))


def _too_many_failures(plan: Plan) -> bool:
    failed = [t for t in plan.state.trials if plan.status[t.id] == "failed"]
    limit = plan.spec.budget.max_failed_trials
    if len(failed) <= limit:
        return False
    last = failed[-1].id
    _end(plan, f"{plural(len(failed), 'trial')} failed, more than budget.maxFailedTrials = {limit}; {last}: {_reason(plan, last)}")
    return True


def _reference_lost(plan: Plan) -> bool:
    """lsh and lsh-sync rank by distance to the dense spectra: without them they cannot go on."""
    spec, dense = plan.spec, plan.dense
    if not spec.strategy.uses_spectra or dense is None:
        return False
    name = spec.strategy.name
    status = plan.status[dense.id]
    if status == "stopped" and dense.epoch >= spec.dense_epochs():
        status = "paused"  # ended where the strategy stops reading it (_dense_ready): the reference is complete
    if status in ("failed", "diverged", "stopped"):
        what = {"failed": "failed", "diverged": "diverged", "stopped": "was stopped"}[status]
        _end(plan, f"the dense reference {what} ({_reason(plan, dense.id)}); {name} ranks candidates by LS "
                   "distance to its spectra and cannot continue")
        return True
    for epoch in plan.rungs:
        if epoch > dense.last_epoch:
            break
        spectrum = reference_spectrum(dense, epoch)
        if spectrum is None or not np.isfinite(spectrum).all():
            problem = "no Lyapunov spectrum" if spectrum is None else "a spectrum that is not finite"
            _end(plan, f"the dense reference reported {problem} at rung epoch {epoch}; {name} cannot rank candidates there")
            return True
    return False


# ---- starting and resuming -------------------------------------------------------------------------


def _start_dense(plan: Plan) -> None:
    if plan.spec.dense.enabled and plan.dense is None and plan.slots > 0:
        plan.emit(Start(DENSE_ID, "dense", Point.dense(), plan.spec.dense_epochs()))


def _dense_ready(plan: Plan) -> None:
    """A dense reference that reached the last epoch the strategy reads (before the end: dense.compare
    is off) has done its job and ends there; its epochs are counted like any trial's."""
    dense, until = plan.dense, plan.spec.dense_epochs()
    if dense is not None and until < plan.spec.final_epoch and plan.status[dense.id] == "paused" and dense.epoch >= until:
        plan.emit(Stop(dense.id, f"{DENSE_READY}: {plan.spec.strategy.name} reads its spectra up to epoch {until} "
                                 "(dense.compare: true trains it to the end)"))


def _retry_errored(plan: Plan) -> None:
    retries = plan.spec.budget.retries
    for trial in plan.state.trials:
        if plan.status[trial.id] == "errored" and plan.slots > 0:
            # failures 0: a failed search reopened after its cause was fixed (transitions.reopen)
            attempt = f"retry {trial.failures} of {retries}" if trial.failures else "resumed"
            plan.emit(
                Continue(
                    trial.id,
                    trial.target_epoch,
                    reason=f"{attempt}, from its checkpoint at epoch {trial.epoch}: {trial.message}",
                )
            )


def first_target(spec: SearchSpec, rungs: list[int] | None = None) -> int:
    """Where a new candidate trains to: the first rung, or the end when the strategy has none."""
    rungs = spec.rung_epochs() if rungs is None else rungs
    return rungs[0] if rungs else spec.final_epoch


def generator_history(plan: Plan) -> list[Evaluated]:
    """The existing candidates as TPE sees them: the objective is the LS distance at the first rung."""
    spec = plan.spec
    if spec.strategy.sampler != "tpe":
        return [Evaluated(t.params) for t in plan.candidates]
    epoch = first_target(spec, plan.rungs)
    scorer = ls_distance_of(plan)
    ready = scorer.ready(epoch)
    measured = [t for t in plan.candidates if ready and epoch in t.observations and not diverged_by(t, epoch)]
    values = dict(zip((t.id for t in measured), scorer.scores(measured, epoch)))
    items = [(t, values.get(t.id)) for t in plan.candidates]
    finite = [v for _, v in items if v is not None and math.isfinite(v)]
    worst = max(finite, default=None)  # a diverged candidate counts as the worst seen
    history = []
    for t, value in items:
        if plan.status[t.id] == "failed":
            history.append(Evaluated(t.params, failed=True))
        elif t.status == "diverged" or (value is not None and not math.isfinite(value)):
            history.append(Evaluated(t.params, value=worst, failed=worst is None))
        else:
            history.append(Evaluated(t.params, value=value))
    return history


def _start_candidates(plan: Plan, max_starts: int | None) -> None:
    if plan.spec.dense.enabled and DENSE_ID not in plan.status:
        return  # the dense reference starts first
    count = min(plan.slots, plan.max_candidates - plan.n_candidates())
    if max_starts is not None:
        count = min(count, max_starts)
    if count <= 0:
        return
    history = generator_history(plan)
    until = first_target(plan.spec, plan.rungs)
    for _ in range(count):
        index = plan.n_candidates()
        point = propose(plan.spec, history, index, plan.state.memo)
        plan.emit(Start(candidate_id(index), "candidate", point, until))
        history.append(Evaluated(point))


# ---- finishing ------------------------------------------------------------------------------------


def final_metric(trial: TrialState) -> float | None:
    obs = final_observation(trial)
    return None if obs is None else obs.metric


def best_candidate(plan: Plan) -> TrialState | None:
    """The completed candidate with the best final validation metric; ties by creation order.
    Diverged trials never complete, so they are never promoted."""
    completed = [
        t for t in plan.candidates if t.status == "completed" and final_metric(t) is not None
    ]
    if not completed:
        return None
    return min(completed, key=lambda t: (oriented(final_metric(t), plan.spec.metric_mode), plan.sort_key(t)))


def _finish_when_done(plan: Plan) -> None:
    if plan.anything_active() or plan.can_create():
        return
    name = plan.spec.metric
    best = best_candidate(plan)
    if best is None:
        counts: dict[str, int] = {}
        for t in plan.candidates:
            counts[plan.status[t.id]] = counts.get(plan.status[t.id], 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        # The last trial that failed or diverged: a trial stopped at a rung is a decision, not a problem.
        last = next((t for t in reversed(plan.candidates) if plan.status[t.id] in ("failed", "diverged")), None)
        reason = (_reason(plan, last.id) if plan.status[last.id] == "failed" else last.message) if last else None
        detail = f"; last problem: {last.id}: {reason}" if last else ""
        plan.emit(Finish("failed", f"no candidate completed ({summary or 'none created'}){detail}"))
        return
    choice = choose(plan.spec, plan.state, best)
    chosen = choice.primary
    value = final_metric(chosen)
    completed = sum(1 for t in plan.candidates if t.status == "completed")
    dense_value = final_metric(plan.dense) if plan.dense is not None and plan.dense.status == "completed" else None
    versus = f"; dense reference {dense_value:.4g}" if dense_value is not None else ""
    beside = f"; {plural(len(choice.others), 'other front point')} promoted beside it" if choice.others else ""
    of = f"{plural(completed, 'completed candidate')}{versus}"
    why = f"{choice.reason}: validation {name} {value:.4g}, {of}{beside}" if choice.reason else (
        f"best validation {name} {value:.4g} of {of}")
    plan.emit(Promote(chosen.id, why))
    plan.emit(
        Finish(
            "succeeded",
            f"promoted {chosen.id} ({chosen.params.describe()}): validation {name} {value:.4g}{versus}; "
            f"{plan.state.trial_epochs} trial-epochs",
        )
    )
