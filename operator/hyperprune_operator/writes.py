"""What a step must write: trial status patches, pods to delete and pods to create. Pure.

The worker carries these out, independent calls at once (``SearchWorker._execute``).

Trial statuses: each trial's operator-owned keys (``state.OPERATOR_FIELDS``) as the state says they
should be, diffed against what was written. A change the policy or a restart depends on (phase,
target, attempt, run, failures, stop) is written at once; progress a restart re-derives from the
reports (epoch, last metric and distance, pod) waits, up to one status interval, riding along with
the trial's next urgent change (``state.urgent``). A stop or failure that reflects no new report
(the waiting candidates a closing rung stops, hundreds at once in a big search) is written behind
the step, so that the step, and the reports that arrive meanwhile, do not wait for it: a restart
that loses it re-derives it (the policy decides it again from the same reports). One write per
trial at a time: a trial whose patch is still being written waits for it.

Both plans look only at the trials the worker names (those whose facts changed since the last plan:
a big search has thousands of trials and a step touches a few), and at all of them in a periodic
sweep that repairs anything a narrower plan could have missed.

Pods: one process per trial work dir. A stopped trial's pods go; an earlier attempt's pod goes once
it has finished (a running one is left to end, and its trial waits for it); a failed trial's running
pod goes; a pending or running trial without its current attempt's pod gets one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hyperprune.policy import SearchState, TrialState
from hyperprune_operator import naming
from hyperprune_operator.objects import Body, uid
from hyperprune_operator.pods import PodTable, pod_phase, terminating
from hyperprune_operator.state import TrialRecord, merge_patch, trial_status_fields, urgent


@dataclass
class StatusPlan:
    desired: dict[str, dict[str, Any]] = field(default_factory=dict)  # trial -> its operator-owned keys
    now: list[tuple[TrialRecord, dict[str, Any]]] = field(default_factory=list)  # patches to write now
    behind: list[tuple[TrialRecord, dict[str, Any]]] = field(default_factory=list)  # written behind the step
    later: set[str] = field(default_factory=set)  # trials whose changes can wait (progress only)


def status_plan(state: SearchState, records: Mapping[str, TrialRecord], *, flush: bool,
                trials: Iterable[TrialState] | None = None) -> StatusPlan:
    """Each existing trial's status patch, now or later (``flush``: everything now). ``trials``: the
    ones to look at (those whose facts changed since the last plan); None: all of them."""
    plan = StatusPlan()
    dense = state.dense
    for trial in state.trials if trials is None else trials:
        record = records[trial.id]
        if not record.exists:
            continue
        desired = trial_status_fields(trial, record, dense)
        plan.desired[trial.id] = desired
        patch = merge_patch(desired, record.written)
        if not patch or record.writing is not None:
            continue
        # A trial without status reads as pending at attempt 1 of its spec's target: no hurry.
        spec_target = ((record.body or {}).get("spec") or {}).get("targetEpoch", trial.target_epoch)
        effective = {"phase": "pending", "targetEpoch": spec_target, "attempt": 1, "run": 0, "failures": 0,
                     **record.written}
        if trial.status in ("stopped", "failed") and patch.get("epoch", 0) <= record.written.get("epoch", 0):
            plan.behind.append((record, patch))  # a decision about a trial whose reports are all written
        elif flush or urgent(merge_patch(desired, effective), effective):
            plan.now.append((record, patch))
        else:
            plan.later.add(trial.id)
    return plan


@dataclass
class PodPlan:
    delete: list[tuple[Body, str]] = field(default_factory=list)  # (pod, why), none already being deleted
    create: list[tuple[TrialState, TrialRecord]] = field(default_factory=list)  # trials that need their pod


def pod_plan(state: SearchState, records: Mapping[str, TrialRecord], pods: PodTable,
             deleting: set[str | None], trials: Iterable[TrialState] | None = None) -> PodPlan:
    """Pods to delete and trials whose current attempt needs a pod. ``deleting``: uids of pods whose
    deletion this worker asked for already; ``trials``: as in ``status_plan``."""
    plan = PodPlan()
    for trial in state.trials if trials is None else trials:
        record = records[trial.id]
        if not record.exists or record.body is None or uid(record.body) is None:
            continue
        current = naming.pod_name(record.name, record.attempt)
        busy = False  # a pod of this trial may still hold its work dir
        for pod in pods.owned_by(uid(record.body)):
            name, phase = pod["metadata"]["name"], pod_phase(pod)
            finished = phase in ("Succeeded", "Failed")
            why = None
            if trial.status == "stopped":
                why = f"{trial.id} was stopped"
            elif name != current:
                if finished:
                    why = f"attempt {record.attempt} of {trial.id} replaces it"
                elif trial.status not in ("pending", "running"):
                    why = f"{trial.id} is {trial.status}"
            elif trial.status == "failed" and not finished:
                why = f"{trial.id} failed"
            if why is not None and uid(pod) not in deleting and not terminating(pod):
                plan.delete.append((pod, why))
            if not finished and name != current:
                busy = True  # e.g. the last attempt still writes its checkpoint after its last report
        if trial.status in ("pending", "running") and not record.pod_created and current not in pods \
                and not busy and not record.creating:  # busy: its previous pod ends first (one process per work dir)
            plan.create.append((trial, record))
    return plan
