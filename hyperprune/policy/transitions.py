"""How facts and actions change the search state: the reducers every engine (and the simulator) uses.

Keeping them here keeps the engines thin and the state consistent between the local engine, the
operator and the tests:

    actions = decide(spec, state)
    for action in actions: apply(state, action)        # then carry them out and persist the state
    ... a trial reports an epoch ...      -> record_report(state, ...)
    ... its process or pod ends           -> record_exit(state, TrialExit(...))
    ... its pod is lost while it runs     -> record_error(state, trial_id, message)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from hyperprune.contract.efficiency import Efficiency
from hyperprune.contract.files import REFUSED_CONFIG_EXIT
from hyperprune.contract.report import TrialReport
from hyperprune.policy.actions import SEARCH_FAILED, Action, Continue, Fail, Finish, Promote, Start, Stop
from hyperprune.contract.report import Mode
from hyperprune.policy.state import TERMINAL, Observation, SearchState, TrialState


def apply(state: SearchState, action: Action) -> None:
    """Record that an action was taken (before or while the engine carries it out)."""
    if isinstance(action, Start):
        if state.find(action.trial_id) is None:
            state.trials.append(
                TrialState(
                    id=action.trial_id,
                    role=action.role,
                    params=action.params,
                    status="pending",
                    target_epoch=action.until_epoch,
                )
            )
    elif isinstance(action, Continue):
        t = state.trial(action.trial_id)
        t.status = "running"
        t.target_epoch = action.until_epoch
        if action.from_scratch:
            t.epoch = 0  # its checkpoint is discarded; reports restart at epoch 1
    elif isinstance(action, Stop):
        t = state.trial(action.trial_id)
        t.status = "stopped"
        t.stop_reason = action.reason
    elif isinstance(action, Fail):
        t = state.trial(action.trial_id)
        t.status = "failed"
        t.stop_reason = action.reason
    elif isinstance(action, Promote):
        state.promoted = action.trial_id
    elif isinstance(action, Finish):
        state.outcome = action.outcome
        state.message = action.message
    else:  # pragma: no cover - the Action union is closed
        raise TypeError(f"not an action: {action!r}")


def mark_running(state: SearchState, trial_id: str) -> None:
    """The engine started a pending trial's process or pod."""
    t = state.trial(trial_id)
    if t.status == "pending":
        t.status = "running"


def record_report(
    state: SearchState,
    trial_id: str,
    *,
    epoch: int,
    metric: float | None,
    mode: Mode,
    spectrum: Sequence[float | None] | np.ndarray | None = None,
    status: str = "running",
    message: str | None = None,
    efficiency: Efficiency | None = None,
) -> bool:
    """Record one epoch's report. Returns False (and changes nothing) for an unknown trial, a trial
    that has ended, or an epoch its current run already reported (a duplicate)."""
    t = state.find(trial_id)
    if t is None or t.status in TERMINAL or (epoch <= t.epoch and status == "running"):
        return False
    t.observations[epoch] = Observation(
        epoch=epoch,
        metric=None if metric is None else float(metric),
        mode=mode,
        spectrum=None if spectrum is None else np.asarray(spectrum, dtype=np.float64),
        efficiency=efficiency,
    )
    if epoch > t.epoch:
        t.epochs_spent += epoch - t.epoch
        t.epoch = epoch
    if status == "diverged":
        t.status = "diverged"
        t.message = message or f"diverged at epoch {epoch}"
    elif status == "completed":
        t.status = "completed"
    elif t.status != "errored":
        t.status = "paused" if epoch >= t.target_epoch else "running"
    return True


def record_trial_report(state: SearchState, report: TrialReport) -> bool:
    """``record_report`` from a trial's report."""
    return record_report(
        state,
        report.trial_id,
        epoch=report.epoch,
        metric=report.val_metric,
        mode=report.mode,
        spectrum=report.lyapunov,
        status=report.status,
        message=report.message,
        efficiency=report.efficiency,
    )


def record_error(state: SearchState, trial_id: str, message: str, *, retryable: bool = True) -> bool:
    """The trial's process crashed or its pod was lost; the policy decides to retry or fail it.
    It resumes from its checkpoint, i.e. from ``epoch``, the last epoch it reported. Returns False
    (no failure counted) for an unknown or ended trial, and for one that had already reported its
    target epoch (it waits for a decision as if it had exited cleanly). ``retryable=False`` says the
    error cannot go away by retrying (the trial refused its config): the trial fails at once."""
    t = state.find(trial_id)
    if t is None or t.status in TERMINAL:
        return False
    if t.status == "paused":  # it died after reporting its target epoch: nothing is lost
        t.message = message
        return False
    t.status = "errored"
    t.failures += 1
    t.retryable = retryable
    t.message = message
    return True


@dataclass(frozen=True)
class TrialExit:
    """A trial's process (local) or pod (cluster) ended. The engines say how, in their own words; the
    policy decides what it means, the same way for both."""

    trial_id: str
    until_epoch: int  # the epoch that run was started for
    code: int | None  # its exit code; None when unknown
    how: str = ""  # how it ended, e.g. "exit code 1", "pod t003-2 failed with exit code 137 (OOMKilled)"
    detail: str | None = None  # the most telling line it left (an error message, a traceback's last line)


def record_exit(state: SearchState, exit: TrialExit) -> bool:
    """The reducer of a trial's exit. A run that reached its target epoch (or a trial that has ended)
    changes nothing: its reports said everything. One that did not is an error the policy retries
    from the checkpoint (``record_error``), unless the trial refused its config (exit code
    ``REFUSED_CONFIG_EXIT``): the same config would be refused again, so it fails at once. Returns
    whether an error was recorded."""
    t = state.find(exit.trial_id)
    if t is None or t.status in TERMINAL or t.status == "paused" or t.epoch >= exit.until_epoch:
        return False
    if exit.code == 0:
        problem = f"exited without reporting epoch {exit.until_epoch} (last reported: {t.epoch})"
        if exit.how:
            problem = f"{exit.how} {problem}"
    else:
        problem = exit.how or f"exit code {exit.code}"
    message = f"{problem}: {exit.detail}" if exit.detail else problem
    return record_error(state, t.id, message, retryable=exit.code != REFUSED_CONFIG_EXIT)


def restart_from_scratch(state: SearchState, trial_id: str) -> bool:
    """The trial's checkpoint is gone (deleted by the user after it was found damaged): its next
    run trains from epoch 0, and those epochs count as trained again. Returns whether it changed."""
    t = state.trial(trial_id)
    if t.epoch == 0:
        return False
    t.epoch = 0
    return True


def reopen(state: SearchState) -> list[str]:
    """A search that failed for a cause the user has fixed since (a damaged checkpoint deleted, a
    full disk enlarged) gets another chance: its failed trials, and the trials its failure stopped,
    become errored with no failure counted, so the policy resumes them from their checkpoints
    within ``budget.parallelism`` (a trial that had reached its target waits paused for a decision
    as before). Trials stopped by a strategy's decision and diverged trials stay as they are.
    Returns the ids reopened; a search that did not fail is left alone."""
    if state.outcome != "failed":
        return []
    reopened = []
    for t in state.trials:
        stopped_by_failure = t.status == "stopped" and (t.stop_reason or "").startswith(SEARCH_FAILED)
        if t.status != "failed" and not stopped_by_failure:
            continue
        reason = t.stop_reason
        t.status = "paused" if t.target_epoch and t.epoch >= t.target_epoch else "errored"
        t.failures, t.retryable, t.stop_reason = 0, True, None
        t.message = f"reopened after: {reason}" if reason else t.message
        reopened.append(t.id)
    state.outcome = state.message = None
    return reopened
