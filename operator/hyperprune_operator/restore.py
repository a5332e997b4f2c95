"""A search's state rebuilt from what the API server holds, after a start, a restart or a takeover. Pure.

Nothing the policy relies on lives only in an operator's memory (``state``'s docstring says where
each fact is), so a new operator process reads the search, its trials and its pods and carries on:

* the trials are the ones ``status.trialSummaries`` lists, in creation order, each read from its
  HyperpruneTrial (``state.read_trial``), or, when that resource is gone, rebuilt from its summary
  (it is recreated and resumes from its checkpoint);
* pods are kept as their newest view (``see_pod``): a phase only moves forward, a deletion only
  appears, whatever order a listing and watch events arrive in;
* a pod newer than its trial's recorded attempt was created by a step whose status patch did not
  land: its labels and annotations say what that step decided, and it is adopted
  (``adopt_newer_pods``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hyperprune.policy import TERMINAL, SearchState, TrialState
from hyperprune.spec.point import Point
from hyperprune_operator import naming
from hyperprune_operator.objects import Body, controller_uid, slim_pod, slim_trial, uid
from hyperprune_operator.pods import PodTable, pod_phase, pod_summary, terminating
from hyperprune_operator.state import TrialRecord, creation_order, read_trial

PHASE_RANK = {"Pending": 0, "Running": 1, "Unknown": 1, "Succeeded": 2, "Failed": 2}


def see_pod(pods: PodTable, pod: Body) -> bool:
    """Keep the newest view of a pod (slimmed); True when what it says changed."""
    pod = slim_pod(pod)
    name = pod["metadata"]["name"]
    known = pods.get(name)
    if known is not None and uid(known) == uid(pod):
        if PHASE_RANK.get(pod_phase(pod) or "", 0) < PHASE_RANK.get(pod_phase(known) or "", 0):
            return False
        if terminating(known) and not terminating(pod):
            return False
        if pod_phase(known) == pod_phase(pod) and terminating(known) == terminating(pod) \
                and pod_summary(known, 0) == pod_summary(pod, 0):
            pods[name] = pod
            return False
    pods[name] = pod
    return True


def from_summary(search: str, summary: dict[str, Any]) -> tuple[TrialState, TrialRecord]:
    """A listed trial whose resource is gone (or was never created), as its summary describes it."""
    trial = TrialState(
        id=summary["id"], role=summary["role"], params=Point.from_json(summary["params"]),
        status=summary.get("phase", "pending"), target_epoch=int(summary.get("targetEpoch") or 1),
        epoch=int(summary.get("epoch") or 0), epochs_spent=int(summary.get("epochsSpent") or 0),
        failures=int(summary.get("failures") or 0), stop_reason=summary.get("stopReason"),
    )
    record = TrialRecord(name=naming.trial_name(search, trial.id), run=int(summary.get("run") or 0),
                         attempt=1, exists=False)
    return trial, record


def adopt_newer_pods(state: SearchState, records: dict[str, TrialRecord], pods: PodTable) -> list[str]:
    """Trials take the attempt, run and target of a pod newer than their recorded attempt; returns
    what was adopted, in words."""
    adopted = []
    for trial in state.trials:
        record = records[trial.id]
        if not record.exists or trial.status in TERMINAL:
            continue
        numbered = [p for p in pods.owned_by(uid(record.body))
                    if p["metadata"].get("labels", {}).get(naming.LABEL_ATTEMPT, "").isdigit()]
        newest = max(numbered, key=lambda p: int(p["metadata"]["labels"][naming.LABEL_ATTEMPT]), default=None)
        if newest is None or int(newest["metadata"]["labels"][naming.LABEL_ATTEMPT]) <= record.attempt:
            continue
        annotations = newest["metadata"].get("annotations") or {}
        record.attempt = int(newest["metadata"]["labels"][naming.LABEL_ATTEMPT])
        record.run = int(annotations.get(naming.ANNOTATION_RUN, record.run))
        trial.target_epoch = int(annotations.get(naming.ANNOTATION_UNTIL, trial.target_epoch))
        trial.status = "running"
        record.pod = pod_summary(newest, record.attempt)
        adopted.append(f"pod {newest['metadata']['name']} (attempt {record.attempt} of {trial.id})")
    return adopted


@dataclass
class Restored:
    search_body: Body  # the search without its status
    status: dict[str, Any]  # the search's status as read
    state: SearchState
    records: dict[str, TrialRecord]
    pods: PodTable
    adopted: list[str] = field(default_factory=list)  # pods adopted, in words


def restore(search: Body, trials: Iterable[Body], pods: Iterable[Body]) -> Restored:
    """The state of ``search`` from its listed trials' resources and its pods (``trials`` may hold
    others: only the ones this incarnation of the search owns and lists count)."""
    status = dict(search.get("status") or {})
    search_uid = uid(search)
    name = search["metadata"]["name"]
    summaries = status.get("trialSummaries") or {}
    read: dict[str, tuple[TrialState, TrialRecord]] = {}
    for body in trials:
        trial_id = body["spec"]["trialId"]
        if controller_uid(body) == search_uid and trial_id in summaries:
            trial, record = read_trial(body)
            record.body = slim_trial(body)
            read[trial_id] = (trial, record)
    state = SearchState()
    records: dict[str, TrialRecord] = {}
    for trial_id in sorted(summaries, key=creation_order):
        trial, record = read.get(trial_id) or from_summary(name, {**summaries[trial_id], "id": trial_id})
        state.trials.append(trial)
        records[trial.id] = record
    promotion = status.get("promotion")
    state.promoted = (promotion or {}).get("trialId")
    state.outcome = status.get("outcome")
    state.message = status.get("message") if state.outcome else None
    table = PodTable()
    for pod in pods:
        see_pod(table, pod)
    adopted = adopt_newer_pods(state, records, table)
    return Restored({k: v for k, v in search.items() if k != "status"}, status, state, records, table, adopted)
