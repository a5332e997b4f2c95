"""The policy's search state as the custom resources hold it, and the statuses written from it. Pure.

Where each fact lives (nothing important only in memory):

* which trials the search has, in creation order, with their points: the search's
  ``status.trialSummaries`` (a trial created but not listed yet when the operator restarts is adopted
  when the policy starts it again);
* each trial's policy status, target, run, attempt, failures, stop reason: its HyperpruneTrial's
  status (operator-owned keys), one merge patch per transition;
* what a trial observed: ``status.reports`` of its HyperpruneTrial, written by its pods;
* promotion and outcome: the search's ``status.promotion`` and ``status.outcome``.

``read_trial`` rebuilds one ``TrialState`` from its resource; reports the operator had not processed
before a restart are replayed through the policy's own reducer (``record_report``), so a restarted
operator reaches the same state the running one would have.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hyperprune.policy import TERMINAL, Observation, SearchState, TrialState, record_report
from hyperprune.policy.state import efficiency_or_none
from hyperprune.policy.summary import latest_distance, latest_metric
from hyperprune.spec.point import Point
from hyperprune.spec.status import TRIAL_PHASES

# The status keys the operator owns on a HyperpruneTrial (``reports`` belongs to the pods).
OPERATOR_FIELDS = (
    "phase", "targetEpoch", "run", "attempt", "epoch", "epochsSpent", "failures", "stopReason", "stop",
    "message", "lastMetric", "lastDistance", "distanceEpoch", "pod",
)
# Pod phases that hold (or may still hold) a running process.
ACTIVE_POD_PHASES = frozenset({"Pending", "Running", "Unknown"})


@dataclass
class TrialRecord:
    """What the operator keeps beside the policy's ``TrialState`` for one trial."""

    name: str  # the HyperpruneTrial's name
    run: int = 0  # retrainings from scratch; selects the work dir
    attempt: int = 0  # the current attempt: its pod is <name>-<attempt>
    pod: dict[str, Any] | None = None  # TrialPod of the current attempt, once created
    stop: dict[str, Any] | None = None  # StopDetails
    reports: dict[int, dict[str, Any]] = field(default_factory=dict)  # epoch -> latest entry seen
    body: dict[str, Any] | None = None  # the HyperpruneTrial (metadata, spec) as last read
    written: dict[str, Any] = field(default_factory=dict)  # operator-owned status keys as stored
    desired: dict[str, Any] | None = None  # the same keys as last computed (some may wait to be written)
    writing: dict[str, Any] | None = None  # a patch being written behind the step (writes.py)
    creating: bool = False  # its resource or its pod is being created, behind the step
    checking: bool = False  # its resource is being read again (its pod ended without the target's report)
    exists: bool = True  # False: listed by the search but its resource is gone
    ignored: set[tuple[int, int]] = field(default_factory=set)  # (run, epoch) reports announced as ignored

    @property
    def pod_created(self) -> bool:
        """Whether the current attempt's pod was created (then its absence means it was lost)."""
        return self.pod is not None and self.pod.get("attempt") == self.attempt


def compact(entry: dict[str, Any]) -> dict[str, Any]:
    """A report as the operator remembers it: the spectrum lives in the observation (numpy), the
    entry keeps a digest of it to tell a changed report from a repeated one."""
    if "lyapunov" not in entry:
        return entry
    out = {k: v for k, v in entry.items() if k != "lyapunov"}
    out["lyapunovDigest"] = hash(tuple(entry["lyapunov"] or ()))
    return out


def observation_of(entry: dict[str, Any]) -> Observation:
    spectrum = entry.get("lyapunov")
    return Observation(
        epoch=int(entry["epoch"]),
        metric=entry.get("valMetric"),
        mode=entry.get("mode", "min"),
        spectrum=None if spectrum is None else np.asarray(spectrum, dtype=np.float64),
        efficiency=efficiency_or_none(entry.get("efficiency")),
    )


def _entries(reports: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    out = []
    for key, entry in (reports or {}).items():
        if not isinstance(entry, dict) or "mode" not in entry:
            continue
        try:
            epoch = int(entry.get("epoch") or key)
        except (TypeError, ValueError):
            continue
        if epoch >= 1:
            out.append((epoch, {**entry, "epoch": epoch}))
    return sorted(out, key=lambda item: item[0])


def _record(state: SearchState, trial: TrialState, entry: dict[str, Any]) -> bool:
    return record_report(
        state,
        trial.id,
        epoch=int(entry["epoch"]),
        metric=entry.get("valMetric"),
        mode=entry.get("mode", "min"),
        spectrum=entry.get("lyapunov"),
        status=entry.get("status", "running"),
        message=entry.get("message"),
        efficiency=efficiency_or_none(entry.get("efficiency")),
    )


def read_trial(body: dict[str, Any]) -> tuple[TrialState, TrialRecord]:
    """The policy's view of one HyperpruneTrial, and the operator's bookkeeping of it."""
    spec, status = body["spec"], body.get("status") or {}
    phase = status.get("phase") or "pending"
    trial = TrialState(
        id=spec["trialId"],
        role=spec["role"],
        params=Point.from_json(spec["params"]),
        status=phase if phase in TRIAL_PHASES else "pending",
        target_epoch=int(status.get("targetEpoch") or spec["targetEpoch"]),
        epoch=int(status.get("epoch") or 0),
        epochs_spent=int(status.get("epochsSpent") or 0),
        failures=int(status.get("failures") or 0),
        stop_reason=status.get("stopReason"),
        message=status.get("message"),
    )
    record = TrialRecord(
        name=body["metadata"]["name"],
        run=int(status.get("run") or 0),
        # A trial whose status was never written is at its first attempt.
        attempt=int(status.get("attempt") or 1),
        pod=status.get("pod"),
        stop=status.get("stop"),
        body=body,
        written={k: status[k] for k in OPERATOR_FIELDS if k in status},
    )
    entries = _entries(status.get("reports") or {})
    for epoch, entry in entries:
        record.reports[epoch] = compact(entry)
        run = int(entry.get("run") or 0)
        # What the operator had processed: earlier runs, and this run up to the epoch it recorded.
        if run < record.run or (run == record.run and epoch <= trial.epoch):
            trial.observations[epoch] = observation_of(entry)
    one = SearchState(trials=[trial])
    for epoch, entry in entries:
        if int(entry.get("run") or 0) == record.run and epoch > trial.epoch:
            _record(one, trial, entry)  # sent before a restart, not processed yet
    return trial, record


def ingest_reports(state: SearchState, trial: TrialState, record: TrialRecord, reports: dict[str, Any]
                   ) -> tuple[bool, list[int]]:
    """Feed a trial's newly seen reports to the policy state. Returns (state changed, epochs of
    reports ignored because the trial had already ended)."""
    changed, ignored = False, []
    fresh = []
    for epoch, entry in _entries(reports):
        if record.reports.get(epoch) != compact(entry):
            record.reports[epoch] = compact(entry)
            fresh.append((epoch, entry))
    for epoch, entry in fresh:
        run = int(entry.get("run") or 0)
        if run != record.run:
            continue  # a report of an earlier run (retrained from scratch since): stale
        if _record(state, trial, entry):
            changed = True
        elif trial.status in TERMINAL and epoch > trial.epoch and (run, epoch) not in record.ignored:
            record.ignored.add((run, epoch))
            ignored.append(epoch)
    return changed, ignored


# ---- what is written back ---------------------------------------------------------------------------


def trial_status_fields(trial: TrialState, record: TrialRecord, dense: TrialState | None) -> dict[str, Any]:
    """The operator-owned status keys of a HyperpruneTrial (None: absent)."""
    distance, distance_epoch = latest_distance(trial, dense)
    return {
        "phase": trial.status,
        "targetEpoch": trial.target_epoch,
        "run": record.run,
        "attempt": record.attempt,
        "epoch": trial.epoch,
        "epochsSpent": trial.epochs_spent,
        "failures": trial.failures,
        "stopReason": trial.stop_reason,
        "stop": record.stop,
        "message": trial.message,
        "lastMetric": latest_metric(trial),
        "lastDistance": distance,
        "distanceEpoch": distance_epoch,
        "pod": record.pod,
    }


def merge_patch(desired: dict[str, Any], written: dict[str, Any]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) turning ``written`` into ``desired`` for the keys of
    ``desired`` (None there removes a key). Objects are diffed key by key, so a patch names only what
    changed; lists and scalars are replaced whole."""
    patch: dict[str, Any] = {}
    for key, value in desired.items():
        before = written.get(key)
        if value is None:
            if before is not None:
                patch[key] = None
        elif isinstance(value, dict) and isinstance(before, dict):
            inner = merge_patch(value, before)
            inner.update({k: None for k in before if k not in value})
            if inner:
                patch[key] = inner
        elif value != before:  # plain JSON values: == compares them as JSON does (1 == 1.0)
            patch[key] = value
    return patch


def apply_merge(written: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``written`` with a JSON merge patch applied."""
    out = dict(written)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = apply_merge(out[key], value)
        else:
            out[key] = value
    return out


def creation_order(trial_id: str) -> tuple[int, int, str]:
    """dense first, then t000, t001, ... by number (t1000 after t999)."""
    if trial_id == "dense":
        return (0, 0, trial_id)
    digits = trial_id[1:]
    return (1, int(digits), trial_id) if digits.isdigit() else (2, 0, trial_id)


# Status keys a restarted operator re-derives from the reports and pods (the policy's replay):
# written at most once per status interval, or with the next urgent change of the trial.
LAZY_FIELDS = frozenset({"epoch", "epochsSpent", "lastMetric", "lastDistance", "distanceEpoch", "pod"})
RUNNING_PHASES = frozenset({"pending", "running"})


def urgent(patch: dict[str, Any], before: dict[str, Any]) -> bool:
    """Whether a trial status patch records a decision or fact a restart could not re-derive:
    a stop, a failure, a new target or attempt, a phase change beyond pending/running."""
    for key in patch:
        if key in LAZY_FIELDS:
            continue
        if key == "phase" and before.get("phase", "pending") in RUNNING_PHASES and patch[key] in RUNNING_PHASES:
            continue
        return True
    return False


# ---- the search's status -------------------------------------------------------------------------------


def trial_summary(trial: TrialState, record: TrialRecord, fields: dict[str, Any]) -> dict[str, Any]:
    summary = {
        "id": trial.id,
        "role": trial.role,
        "params": trial.params.to_json(),
        "phase": trial.status,
        "epoch": trial.epoch,
        "targetEpoch": trial.target_epoch,
        "run": record.run,
        "epochsSpent": trial.epochs_spent,
        "failures": trial.failures,
        "lastMetric": fields.get("lastMetric"),
        "lastDistance": fields.get("lastDistance"),
        "stopReason": trial.stop_reason,
    }
    return {k: v for k, v in summary.items() if v is not None}


def final_report(record: TrialRecord, trial: TrialState) -> dict[str, Any] | None:
    """The report of the trial's last epoch (its final metrics once completed)."""
    return record.reports.get(trial.epoch) or (record.reports[max(record.reports)] if record.reports else None)


def set_condition(
    conditions: list[dict[str, Any]],
    type_: str,
    status: str,
    reason: str,
    message: str,
    *,
    generation: int | None,
    now: str,
) -> list[dict[str, Any]]:
    """Conditions with ``type_`` set; lastTransitionTime moves only when the status changes."""
    out = [dict(c) for c in conditions if c.get("type") != type_]
    before = next((c for c in conditions if c.get("type") == type_), None)
    changed = before is None or before.get("status") != status
    condition = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message[:32768],
        "lastTransitionTime": now if changed or before is None else before.get("lastTransitionTime", now),
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    out.append(condition)
    order = ["Invalid", "Running", "Promoted", "Succeeded", "Failed"]
    return sorted(out, key=lambda c: order.index(c["type"]) if c["type"] in order else len(order))


def without_condition(conditions: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [dict(c) for c in conditions if c.get("type") != type_]
