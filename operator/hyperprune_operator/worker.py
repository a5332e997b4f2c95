"""One search's reconcile loop: facts in, the policy's decision, actions out, state persisted.

A ``SearchWorker`` exists per HyperpruneSearch (its kopf daemon drives it). Watch events of the
search, its trials and its pods are ``offer``-ed to it from the event loop; ``step`` runs in a worker
thread, one step at a time per search, so decisions for a search are serialized:

1. take the queued events: reports from trial status (``ingest_reports``), pod phases, spec changes;
2. validate the spec (a new generation): problems -> phase Invalid with an ``Invalid`` condition;
3. on the first step, rebuild the state from the resources (``state.read_trial``);
4. pod facts -> the policy's reducers: pod Running -> running; Succeeded without the target epoch's
   report -> errored; Failed, or gone while running -> errored (the policy retries or fails it);
5. ``decide(spec, state)`` - the local engine's very policy - and apply its actions: Start (the
   trial's resource created: 409 means it exists, adopted when this search owns it), Continue (new
   attempt, its pod resumes from the checkpoint), Stop (pod deleted, reason in status and an Event),
   Fail, Promote (a promotion pod copies the model), Finish;
6. write what changed, independent calls at once: each trial's operator-owned status keys (one
   merge patch per trial; progress a restart re-derives at most once per interval), pods created and
   deleted to match; then the search's status (at most once per status interval, at once when its
   phase, conditions, best or promotion change).

Every step is level-triggered and idempotent, so a failed API call is simply retried by the next
step, and a restarted operator continues from what the resources hold.
"""

from __future__ import annotations

import calendar
import concurrent.futures
import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable
from functools import partial
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException

from hyperprune.policy import (
    TERMINAL,
    Action,
    Continue,
    Fail,
    Finish,
    Promote,
    SearchState,
    Start,
    Stop,
    TrialState,
    apply,
    best_candidate,
    decide,
    final_metric,
    mark_running,
    record_error,
)
from hyperprune.policy.plan import Plan
from hyperprune.spec import HyperpruneSearch, Point
from hyperprune.contract.files import REFUSED_CONFIG_EXIT

from hyperprune_operator import manifests, naming, validation
from hyperprune_operator.kube import Kube, api_error
from hyperprune_operator.metrics import Metrics, SearchSnapshot
from hyperprune_operator.state import (
    OPERATOR_FIELDS,
    TrialRecord,
    creation_order,
    urgent,
    apply_merge,
    counts,
    epochs_avoided,
    final_report,
    full_training_epochs,
    ingest_reports,
    latest_metric,
    merge_patch,
    read_trial,
    rung_distances,
    set_condition,
    trial_status_fields,
    trial_summary,
)

log = logging.getLogger("hyperprune.operator")

SUMMARIES_PER_INTERVAL = 200  # trial summaries written per status_interval, at most
SLOW_STEP_S = 0.5  # a reconcile step slower than this is logged with where its time went
PHASE_RANK = {"Pending": 0, "Running": 1, "Unknown": 1, "Succeeded": 2, "Failed": 2}
# A change of these is written at once; the rest (counts, summaries) at most once per status_interval.
IMPORTANT_STATUS_KEYS = ("phase", "conditions", "outcome", "promotion", "best", "observedGeneration")


@dataclass
class WorkerSettings:
    status_interval: float = 1.0  # at most one routine search-status write per interval
    resync_interval: float = 300.0  # re-list trials and pods (repairs anything a watch missed)
    manage_trial_rbac: bool = True  # create the default trial ServiceAccount/Role/RoleBinding
    trial_defaults: dict[str, Any] = field(default_factory=dict)  # spec.trialTemplate fields a search may omit
    promotion_attempts: int = 3
    instance: str = naming.OPERATOR


@dataclass
class _Event:
    kind: str  # search | trial | pod
    type: str | None  # ADDED, MODIFIED, DELETED, None (initial listing)
    body: dict[str, Any]
    at: float


@dataclass
class _Pending:
    """Side effects decided in a step, carried out at its end."""

    events: list[dict[str, Any]] = field(default_factory=list)
    report_arrivals: list[float] = field(default_factory=list)


def _now_iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _uid(body: dict[str, Any] | None) -> str | None:
    return ((body or {}).get("metadata") or {}).get("uid")


def _controller_uid(body: dict[str, Any]) -> str | None:
    for ref in (body.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def _slim(body: dict[str, Any]) -> dict[str, Any]:
    """What the worker keeps of a HyperpruneTrial: identity and spec (reports live in its record)."""
    meta = body.get("metadata") or {}
    return {"apiVersion": body.get("apiVersion", naming.API_VERSION), "kind": body.get("kind", naming.TRIAL_KIND),
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "labels", "ownerReferences") if k in meta},
            "spec": body.get("spec") or {}}


def _slim_pod(pod: dict[str, Any]) -> dict[str, Any]:
    """What the worker keeps of a pod: identity, labels and how it is doing (not its spec, which
    carries the trial config)."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    keep_meta = ("name", "namespace", "uid", "labels", "annotations", "ownerReferences", "creationTimestamp",
                 "deletionTimestamp")
    keep_status = ("phase", "reason", "message", "conditions", "containerStatuses")
    return {"metadata": {k: meta[k] for k in keep_meta if k in meta},
            "status": {k: status[k] for k in keep_status if k in status}}


def _pod_phase(pod: dict[str, Any] | None) -> str | None:
    return ((pod or {}).get("status") or {}).get("phase") or ("Pending" if pod else None)


def _terminating(pod: dict[str, Any]) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def pod_summary(pod: dict[str, Any], attempt: int) -> dict[str, Any]:
    """The TrialPod status of a pod: phase, and why it ended or cannot start."""
    status = pod.get("status") or {}
    out: dict[str, Any] = {"name": pod["metadata"]["name"], "attempt": attempt, "phase": _pod_phase(pod)}
    container = (status.get("containerStatuses") or [{}])[0]
    state = container.get("state") or {}
    terminated, waiting = state.get("terminated"), state.get("waiting")
    if terminated:
        out["exitCode"] = terminated.get("exitCode")
        out["reason"] = terminated.get("reason")
        if terminated.get("message"):
            out["message"] = terminated["message"][-1000:]
    elif status.get("reason"):
        out["reason"], out["message"] = status.get("reason"), (status.get("message") or "")[-1000:]
    elif waiting and waiting.get("reason") not in (None, "ContainerCreating"):
        out["reason"], out["message"] = waiting.get("reason"), (waiting.get("message") or "")[-1000:]
    else:
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                out["reason"], out["message"] = cond.get("reason"), (cond.get("message") or "")[-1000:]
    return {k: v for k, v in out.items() if v is not None}


# What the kubelet's and the scheduler's reasons mean for a trial pod, in a user's words.
POD_REASONS = {
    "OOMKilled": "the container used more memory than its limit (trialTemplate.resources.limits.memory) and "
                 "was killed",
    "ErrImageNeverPull": "its image is not on the node and imagePullPolicy is Never",
    "ErrImagePull": "its image cannot be pulled",
    "ImagePullBackOff": "its image cannot be pulled",
    "InvalidImageName": "its image name is not valid",
    "CreateContainerConfigError": "its container cannot be configured (a missing Secret, ConfigMap or key?)",
    "CreateContainerError": "its container cannot be created",
    "RunContainerError": "its container cannot be started",
    "Unschedulable": "no node can take it (not enough free CPU, memory or GPUs, or no node matches its "
                     "nodeSelector, affinity or tolerations)",
}


def _last_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1][:300] if lines else ""


def describe_pod_end(pod: dict[str, Any]) -> str:
    """``pod s-t003-2 failed with exit code 137 (OOMKilled: the container used more memory ...)``."""
    summary = pod_summary(pod, 0)
    parts = [f"pod {summary['name']} {summary.get('phase', '').lower()}"]
    if "exitCode" in summary:
        parts.append(f"with exit code {summary['exitCode']}")
    reason = summary.get("reason")
    if reason:
        parts.append(f"({reason}: {POD_REASONS[reason]})" if reason in POD_REASONS else f"({reason})")
    text = " ".join(parts)
    if _last_line(summary.get("message")):
        text += f": {_last_line(summary.get('message'))}"
    return text


def describe_pod_wait(pod: dict[str, Any]) -> str | None:
    """Why a Pending pod has not started, in words (``pod s-t000-1 cannot start: its image cannot be
    pulled (ImagePullBackOff: Back-off pulling image "x")``), or None while it is merely on its way
    (being scheduled, its image pulled, its container created)."""
    summary = pod_summary(pod, 0)
    reason = summary.get("reason")
    if summary.get("phase") != "Pending" or not reason:
        return None
    detail = _last_line(summary.get("message"))
    return (f"pod {summary['name']} cannot start: {POD_REASONS.get(reason, 'it is stuck')} "
            f"({reason}{': ' + detail if detail else ''})")


def start_deadline(pod: dict[str, Any], first_seen: float, timeout_s: float) -> float:
    """When a pod that has not started counts as a failed attempt (trialTemplate.startTimeoutSeconds):
    ``timeout_s`` after its creation, or after the worker first saw it when it carries no
    creationTimestamp."""
    created = pod["metadata"].get("creationTimestamp")
    if created:
        with contextlib.suppress(ValueError):
            first_seen = calendar.timegm(time.strptime(created, "%Y-%m-%dT%H:%M:%SZ"))
    return first_seen + timeout_s


class SearchWorker:
    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        *,
        settings: WorkerSettings | None = None,
        metrics: Metrics | None = None,
        ensure_trial_rbac: Callable[[str, str], None] | None = None,
        clock: Callable[[], float] = time.time,
        io: concurrent.futures.Executor | None = None,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.settings = settings or WorkerSettings()
        self.metrics = metrics
        self.ensure_trial_rbac = ensure_trial_rbac
        self.clock = clock
        self.io = io  # independent API calls of a step run here at once (None: one after the other)
        self._lock = threading.Lock()
        self._inbox: list[_Event] = []
        self.search_body: dict[str, Any] | None = None
        self.generation: int | None = None
        self.search: HyperpruneSearch | None = None
        self.issues: list[str] = []
        self.loaded = False
        self.state = SearchState()
        self.records: dict[str, TrialRecord] = {}
        self.pods: dict[str, dict[str, Any]] = {}
        self.status: dict[str, Any] = {}  # the search's status as last written or read
        self.promotion: dict[str, Any] | None = None
        self.dirty = True
        self.deleting: set[str | None] = set()  # pod uids this worker asked to delete
        self.warned_unknown: set[str] = set()
        self.pods_first_seen: dict[str | None, float] = {}  # pod uid -> when this worker first saw it
        self.warned_waits: set[tuple[str | None, str]] = set()  # (pod uid, reason) told in an Event
        self.next_start_check = float("inf")  # the earliest start deadline of a pending pod
        self.next_status_write = 0.0
        self.next_resync = 0.0
        self.start_time: str | None = None
        self.status_pending = False  # a routine status change waits for the next interval
        self.metrics_pending = False
        self.next_metrics = 0.0
        self.lazy: set[str] = set()  # trials whose status has unwritten progress
        self.next_flush = 0.0
        self.gone = False  # the search was deleted

    # ---- the event loop's side -------------------------------------------------------------------

    def offer(self, kind: str, type_: str | None, body: dict[str, Any]) -> None:
        with self._lock:
            self._inbox.append(_Event(kind, type_, body, self.clock()))

    def _drain(self) -> list[_Event]:
        with self._lock:
            events, self._inbox = self._inbox, []
        return events

    # ---- one step -----------------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.status.get("phase") in ("Succeeded", "Failed")

    def step(self) -> float:
        """One reconcile step; returns the seconds after which it wants to run again unprompted."""
        started = self.clock()
        pending = _Pending()
        events = self._drain()
        for event in events:
            if event.kind == "search":
                self._ingest_search(event)
        if self.search_body is None or self.gone:
            return self.settings.resync_interval
        if self.search_body["metadata"].get("deletionTimestamp"):
            return self.settings.resync_interval  # garbage collection removes trials and pods
        if not self._validate():
            if self.metrics is not None:
                self.metrics.update_phase(self.namespace, self.name, "Invalid")
            return self.settings.resync_interval
        if not self.loaded:
            self._load()
            if self.gone:
                return self.settings.resync_interval
        elif started >= self.next_resync:
            self._resync()
        for event in events:
            if event.kind == "trial":
                self._ingest_trial(event, pending)
            elif event.kind == "pod":
                self._ingest_pod(event)
        if started >= self.next_start_check:
            self.dirty = True  # a pending pod reached its start deadline
        reconciled = self.dirty
        if self.dirty:
            self.dirty = False  # set again by anything in this step that needs another decision
            try:
                self._reconcile(pending)
            except Exception:
                self.dirty = True  # the retried step decides again from the same facts
                raise
        if self.lazy and self.clock() >= self.next_flush:
            self._flush()
        if reconciled or self.status_pending:  # else nothing the status shows has changed
            self.status_pending = True  # until written (a failed write is retried)
            self.status_pending = self._write_status(force=False)
        self._post_events(pending.events)
        finished = self.clock()
        if self.metrics is not None:
            self.metrics.reconcile.observe(finished - started)
            for arrival in pending.report_arrivals:
                self.metrics.report_latency.observe(finished - arrival)
            if reconciled:
                self.metrics_pending = True
            if self.metrics_pending and (finished >= self.next_metrics or self.finished):
                self._export_metrics()
                self.metrics_pending = False
                self.next_metrics = finished + self.status_interval()
        if self.dirty:
            return 0.01
        wait = self.next_resync - finished
        if self.status_pending:
            wait = min(wait, self.next_status_write - finished)
        if self.metrics_pending:
            wait = min(wait, self.next_metrics - finished)
        if self.lazy:
            wait = min(wait, self.next_flush - finished)
        wait = min(wait, self.next_start_check - finished)
        return max(wait, 0.01)

    def status_interval(self) -> float:
        """Seconds between routine status writes: longer for big searches, whose status (a summary
        per trial) is big; phase, conditions, best and promotion are written at once regardless."""
        return self.settings.status_interval * max(1.0, len(self.state.trials) / SUMMARIES_PER_INTERVAL)

    def _reconcile(self, pending: _Pending) -> None:
        """Facts, one decision, then its writes in as few rounds of parallel API calls as order allows:
        (1) every trial status change, pod deletion and pod creation of existing trials, and the new
        trials' resources; (2) the new trials' pods (they need their trial's uid as owner)."""
        assert self.search is not None
        marks = [("start", self.clock())]
        self._pod_facts(pending)
        marks.append(("facts", self.clock()))
        actions = [] if self.finished else decide(self.search.spec, self.state)
        marks.append(("decide", self.clock()))
        if self._apply(actions, pending):
            self.start_time = self.start_time or _now_iso(self.clock())
        marks.append(("apply", self.clock()))
        self._execute(pending)
        marks.append(("writes", self.clock()))
        if any(r.exists and not r.pod_created for r in self.records.values()):
            self._execute(pending, only_pods=True)  # pods of the trials created just now
        marks.append(("new pods", self.clock()))
        self._promotion(pending)
        took = marks[-1][1] - marks[0][1]
        if took > SLOW_STEP_S or log.isEnabledFor(logging.DEBUG):
            parts = ", ".join(f"{name} {1000 * (t - marks[i][1]):.0f} ms" for i, (name, t) in enumerate(marks[1:]))
            log.log(logging.INFO if took > SLOW_STEP_S else logging.DEBUG, "%s/%s: step of %d actions took %.0f ms (%s)",
                    self.namespace, self.name, len(actions), 1000 * took, parts)

    def _execute(self, pending: _Pending, *, only_pods: bool = False) -> None:
        """One round: all independent writes at once, each result handled, then the first error raised.
        A pod and its trial's new status go out together: the pod's labels carry its attempt, target
        and run, so a restart in between adopts it (``_adopt_newer_pods``)."""
        creates = [] if only_pods else self._trial_creates()
        statuses = [] if only_pods else self._status_patches(flush=False)
        running_deletions, pod_creates = self._pod_plan(pending)
        calls: list[Callable[[], Any]] = []
        calls += [partial(self.kube.create_trial, b) for _, b in creates]
        calls += [partial(self.kube.patch_trial_status, self.namespace, r.name, p) for r, p in statuses]
        calls += [partial(self.kube.delete_pod, self.namespace, pod["metadata"]["name"], _uid(pod))
                  for pod in running_deletions]
        calls += [partial(self.kube.create_pod, b) for _, _, b in pod_creates]
        results = iter(self._fan_out(calls))
        errors = []
        for (trial, _), result in zip(creates, results):
            errors += self._created_trial(trial, result)
        for (record, patch), result in zip(statuses, results):
            errors += self._patched_trial(record, patch, result)
        for pod, result in zip(running_deletions, results):
            if isinstance(result, Exception):
                self.deleting.discard(_uid(pod))
                errors.append(result)
        for (trial, record, body), result in zip(pod_creates, results):
            errors += self._created_pod(trial, record, body, result, pending)
        if errors:
            raise errors[0]

    # ---- events in -------------------------------------------------------------------------------------

    # ---- events in -------------------------------------------------------------------------------------

    def _ingest_search(self, event: _Event) -> None:
        if event.type == "DELETED":
            self.gone = True
            return
        body = event.body
        generation = body["metadata"].get("generation")
        if self.search_body is not None and generation is not None and self.generation is not None \
                and generation < self.generation:
            return  # an older version than the one already seen
        # Its status is this worker's own (self.status); a big search's status would only take memory.
        self.search_body = {k: v for k, v in body.items() if k != "status"}
        if body["metadata"].get("deletionTimestamp"):
            self.dirty = True

    def _owned(self, body: dict[str, Any]) -> bool:
        return _controller_uid(body) == _uid(self.search_body)

    def _ingest_trial(self, event: _Event, pending: _Pending) -> None:
        body = event.body
        spec = body.get("spec") or {}
        if spec.get("search") != self.name:
            return
        trial_id = spec.get("trialId")
        record = self.records.get(trial_id) if isinstance(trial_id, str) else None
        if trial_id is None or record is None or not self._owned(body):
            if event.type != "DELETED":
                self._warn_unknown(body, pending)
            return
        if event.type == "DELETED":
            if _uid(body) == _uid(record.body):
                record.exists = False
                self.dirty = True
            return
        if record.body is not None and _uid(body) != _uid(record.body) and record.exists:
            return  # another incarnation than the one this worker knows (recreated by it meanwhile)
        record.body = _slim(body)
        record.exists = True
        self._take_reports(self.state.trial(trial_id), record, body, pending, event.at)

    def _take_reports(self, trial: TrialState, record: TrialRecord, body: dict[str, Any], pending: _Pending,
                      at: float) -> None:
        changed, ignored = ingest_reports(self.state, trial, record, (body.get("status") or {}).get("reports") or {})
        if changed:
            self.dirty = True
            pending.report_arrivals.append(at)
        for epoch in ignored:
            log.info("%s/%s: report of epoch %d for %s ignored: the trial is %s", self.namespace, self.name, epoch,
                     trial.id, trial.status)
            pending.events.append(self._event(body, "ReportIgnored", (
                f"report of epoch {epoch} ignored: trial {trial.id} is {trial.status}"
                + (f" ({trial.stop_reason})" if trial.stop_reason else "")), "Warning"))

    def _warn_unknown(self, body: dict[str, Any], pending: _Pending) -> None:
        name = body["metadata"]["name"]
        if not self.loaded or name in self.warned_unknown:
            return
        self.warned_unknown.add(name)
        log.warning("%s/%s: ignoring HyperpruneTrial %s: not a trial of this search", self.namespace, self.name, name)
        pending.events.append(self._event(body, "UnknownTrial", (
            f"not a trial of search {self.name} (its status.trialSummaries does not list "
            f"{(body.get('spec') or {}).get('trialId')!r} with this owner); its reports are ignored"), "Warning"))

    def _ingest_pod(self, event: _Event) -> None:
        pod = event.body
        name = pod["metadata"]["name"]
        if event.type == "DELETED":
            known = self.pods.get(name)
            self.pods_first_seen.pop(_uid(pod), None)
            if known is not None and _uid(known) == _uid(pod):
                del self.pods[name]
                self.dirty = True
            return
        self._see_pod(pod)

    def _see_pod(self, pod: dict[str, Any]) -> None:
        """Keep the newest view of a pod: phases only move forward, deletion only appears."""
        pod = _slim_pod(pod)
        name = pod["metadata"]["name"]
        known = self.pods.get(name)
        if known is not None and _uid(known) == _uid(pod):
            if PHASE_RANK.get(_pod_phase(pod) or "", 0) < PHASE_RANK.get(_pod_phase(known) or "", 0):
                return
            if _terminating(known) and not _terminating(pod):
                return
            if _pod_phase(known) == _pod_phase(pod) and _terminating(known) == _terminating(pod) \
                    and pod_summary(known, 0) == pod_summary(pod, 0):
                self.pods[name] = pod
                return
        self.pods[name] = pod
        self.dirty = True

    # ---- the spec --------------------------------------------------------------------------------------

    def _validate(self) -> bool:
        body = self.search_body
        assert body is not None
        generation = body["metadata"].get("generation")
        if generation != self.generation or (self.search is None and not self.issues):
            self.generation = generation
            self.search, self.issues = validation.parse(body, self.settings.trial_defaults)
            self.dirty = True
            if self.search is None:
                log.warning("%s/%s is invalid: %s", self.namespace, self.name, "; ".join(self.issues))
        if self.search is None:
            self._write_invalid()
            return False
        return True

    def _write_invalid(self) -> None:
        now = _now_iso(self.clock())
        status = dict(self.status)
        conditions = set_condition(status.get("conditions") or [], "Invalid", "True", "SpecInvalid",
                                   "\n".join(self.issues), generation=self.generation, now=now)
        first = self.issues[0] if self.issues else "invalid"
        more = f" (and {len(self.issues) - 1} more; see the Invalid condition)" if len(self.issues) > 1 else ""
        desired = {**status, "phase": "Invalid", "observedGeneration": self.generation, "conditions": conditions,
                   "message": first + more}
        patch = merge_patch(desired, self.status)
        if patch:
            self.kube.patch_search_status(self.namespace, self.name, patch)
            self.status = apply_merge(self.status, patch)
            if self.search_body is not None:
                self._post_events([self._event(self.search_body, "Invalid", desired["message"], "Warning")])

    # ---- loading the state -------------------------------------------------------------------------------

    def _load(self) -> None:
        fresh = self.kube.get_search(self.namespace, self.name)
        if fresh is None:
            self.gone = True
            return
        self.search_body = {k: v for k, v in fresh.items() if k != "status"}
        status = fresh.get("status") or {}
        self.status = dict(status)
        self.start_time = status.get("startTime")
        uid = _uid(fresh)
        trials = {b["spec"]["trialId"]: b for b in self.kube.list_trials(self.namespace, self.name)
                  if _controller_uid(b) == uid}
        self.state = SearchState()
        self.records = {}
        summaries = status.get("trialSummaries") or {}
        for trial_id in sorted(summaries, key=creation_order):
            summary = {**summaries[trial_id], "id": trial_id}
            body = trials.get(trial_id)
            if body is not None:
                trial, record = read_trial(body)
                record.body = _slim(body)
            else:  # listed, but its resource is gone (or was never created): recreate it from the summary
                trial, record = self._from_summary(summary)
            self.state.trials.append(trial)
            self.records[trial.id] = record
        self.promotion = status.get("promotion")
        self.state.promoted = (self.promotion or {}).get("trialId")
        self.state.outcome = status.get("outcome")
        self.state.message = status.get("message") if self.state.outcome else None
        self.pods = {}
        for pod in self.kube.list_pods(self.namespace, self.name):
            self._see_pod(pod)
        self._adopt_newer_pods()
        self.loaded = True
        self.dirty = True
        self._schedule_resync()
        log.info("%s/%s: loaded %d trials and %d pods", self.namespace, self.name, len(self.state.trials), len(self.pods))

    def _adopt_newer_pods(self) -> None:
        """A pod newer than its trial's recorded attempt was created by a step whose status patch
        did not land (the operator died in between): its labels say what that step decided."""
        for trial in self.state.trials:
            record = self.records[trial.id]
            if not record.exists or trial.status in TERMINAL:
                continue
            pods = [p for p in self._trial_pods(record) if p["metadata"].get("labels", {}).get(naming.LABEL_ATTEMPT, "").isdigit()]
            newest = max(pods, key=lambda p: int(p["metadata"]["labels"][naming.LABEL_ATTEMPT]), default=None)
            if newest is None or int(newest["metadata"]["labels"][naming.LABEL_ATTEMPT]) <= record.attempt:
                continue
            annotations = newest["metadata"].get("annotations") or {}
            record.attempt = int(newest["metadata"]["labels"][naming.LABEL_ATTEMPT])
            record.run = int(annotations.get(naming.ANNOTATION_RUN, record.run))
            trial.target_epoch = int(annotations.get(naming.ANNOTATION_UNTIL, trial.target_epoch))
            trial.status = "running"
            record.pod = pod_summary(newest, record.attempt)
            log.info("%s/%s: adopted pod %s (attempt %d of %s)", self.namespace, self.name,
                     newest["metadata"]["name"], record.attempt, trial.id)

    def _from_summary(self, summary: dict[str, Any]) -> tuple[TrialState, TrialRecord]:
        trial = TrialState(
            id=summary["id"], role=summary["role"], params=Point.from_json(summary["params"]),
            status=summary.get("phase", "pending"), target_epoch=int(summary.get("targetEpoch") or 1),
            epoch=int(summary.get("epoch") or 0), epochs_spent=int(summary.get("epochsSpent") or 0),
            failures=int(summary.get("failures") or 0), stop_reason=summary.get("stopReason"),
        )
        record = TrialRecord(name=naming.trial_name(self.name, trial.id), run=int(summary.get("run") or 0),
                             attempt=1, exists=False)
        return trial, record

    def _resync(self) -> None:
        """Re-list trials and pods: anything a watch missed (a lost DELETED event) is repaired."""
        uid = _uid(self.search_body)
        listed = {b["spec"]["trialId"]: b for b in self.kube.list_trials(self.namespace, self.name, cached=True)
                  if _controller_uid(b) == uid}
        pending = _Pending()
        for trial in self.state.trials:
            record = self.records[trial.id]
            body = listed.get(trial.id)
            if body is None:
                record.exists = False
            elif _uid(body) == _uid(record.body) or record.body is None:
                record.body, record.exists = _slim(body), True
                self._take_reports(trial, record, body, pending, self.clock())
        pods = {p["metadata"]["name"]: p for p in self.kube.list_pods(self.namespace, self.name, cached=True)}
        for name in list(self.pods):
            if name not in pods:
                del self.pods[name]
        for pod in pods.values():
            self._see_pod(pod)
        self._schedule_resync()
        self.dirty = True

    def _schedule_resync(self) -> None:
        # Spread over +-20%: searches started together must not all re-list at the same moment.
        self.next_resync = self.clock() + self.settings.resync_interval * random.uniform(0.8, 1.2)

    # ---- facts from pods -----------------------------------------------------------------------------------

    def _trial_pods(self, record: TrialRecord) -> list[dict[str, Any]]:
        uid = _uid(record.body)
        return [p for p in self.pods.values()
                if p["metadata"].get("labels", {}).get(naming.COMPONENT) == "trial" and _controller_uid(p) == uid]

    def _pod_facts(self, pending: _Pending) -> None:
        suspects: list[tuple[TrialState, TrialRecord, str]] = []
        self.next_start_check = float("inf")
        for trial in self.state.trials:
            if trial.status not in ("pending", "running"):
                continue
            record = self.records[trial.id]
            if not record.exists:
                continue
            name = naming.pod_name(record.name, record.attempt)
            pod = self.pods.get(name)
            if pod is not None and _controller_uid(pod) != _uid(record.body):
                continue  # a pod of an earlier incarnation of this trial: garbage collection removes it
            if pod is None:
                if record.pod is not None and record.pod_created and record.pod.get("phase") != "Deleted":
                    record.pod = {**record.pod, "phase": "Deleted"}
                    record_error(self.state, trial.id,
                                 f"pod {name} was deleted while the trial was running (attempt {record.attempt})")
                continue
            record.pod = pod_summary(pod, record.attempt)
            phase = _pod_phase(pod)
            if phase == "Pending" and not _terminating(pod):
                self._check_start(trial, record, pod, pending)
            elif phase == "Running":
                mark_running(self.state, trial.id)
            elif phase == "Succeeded" and trial.epoch < trial.target_epoch:
                suspects.append((trial, record, name))
            elif phase == "Failed":
                what = describe_pod_end(pod)
                refused = record.pod.get("exitCode") == REFUSED_CONFIG_EXIT
                if _terminating(pod) and _uid(pod) not in self.deleting:
                    what = f"pod {name} was deleted while the trial was running ({what})"
                    refused = False
                # A config the trial refuses fails the same way on every retry: fail it at once.
                record_error(self.state, trial.id, what, retryable=not refused)
        # A pod that ended without its target's report: the report may still be on its way through
        # the trials' watch, so read the trials themselves (all at once) before calling it lost.
        bodies = self._fan_out([partial(self.kube.get_trial, self.namespace, r.name) for _, r, _ in suspects])
        for (trial, record, name), body in zip(suspects, bodies):
            if isinstance(body, Exception):
                raise body
            if body is not None and _uid(body) == _uid(record.body):
                record.body = _slim(body)
                self._take_reports(trial, record, body, _Pending(), self.clock())
            if trial.status in ("pending", "running") and trial.epoch < trial.target_epoch:
                record_error(self.state, trial.id, (
                    f"pod {name} exited without reporting epoch {trial.target_epoch} (last report: epoch "
                    f"{trial.epoch}); resuming from its checkpoint"))

    def _check_start(self, trial: TrialState, record: TrialRecord, pod: dict[str, Any], pending: _Pending) -> None:
        """A pod that cannot start is told in an Event (once per reason); past the search's
        trialTemplate.startTimeoutSeconds it is deleted and counts as a failed attempt, which
        budget.retries and budget.maxFailedTrials judge like any crash: it never holds the search."""
        assert self.search is not None
        uid, name = _uid(pod), pod["metadata"]["name"]
        timeout = self.search.spec.trial_template.start_timeout_seconds
        problem = describe_pod_wait(pod)
        reason = (record.pod or {}).get("reason", "")
        if problem and (uid, reason) not in self.warned_waits:
            self.warned_waits.add((uid, reason))
            after = (f"; it counts as a failed attempt {timeout} s after it was created "
                     "(trialTemplate.startTimeoutSeconds)" if timeout else "")
            pending.events.append(self._event(record.body or self._placeholder(record), "PodNotStarting",
                                              problem + after, "Warning"))
        if not timeout:
            return
        deadline = start_deadline(pod, self.pods_first_seen.setdefault(uid, self.clock()), timeout)
        if self.clock() < deadline:
            self.next_start_check = min(self.next_start_check, deadline)
            return
        log.info("%s/%s: delete pod %s (not started within %d s)", self.namespace, self.name, name, timeout)
        self.deleting.add(uid)
        self._background(self._delete_quietly, pod)
        record_error(self.state, trial.id, f"pod {name} did not start within {timeout} s "
                                           f"(trialTemplate.startTimeoutSeconds): "
                                           f"{problem.split(': ', 1)[1] if problem else 'it stayed Pending'}")

    # ---- actions -------------------------------------------------------------------------------------------

    def _apply(self, actions: list[Action], pending: _Pending) -> list[Start]:
        """Record the actions in the state and the trials' bookkeeping; the writes follow."""
        assert self.search is not None
        starts = []
        for action in actions:
            kind = type(action).__name__.lower()
            if self.metrics is not None:
                self.metrics.action(self.namespace, self.name, kind)
            trial_was_errored = isinstance(action, Continue) and self.state.trial(action.trial_id).status == "errored"
            apply(self.state, action)
            if isinstance(action, Start):
                self.records[action.trial_id] = TrialRecord(
                    name=naming.trial_name(self.name, action.trial_id), attempt=1, exists=False)
                starts.append(action)
                log.info("%s/%s: start %s (%s) to epoch %d", self.namespace, self.name, action.trial_id,
                         action.role, action.until_epoch)
                continue
            if isinstance(action, (Promote, Finish)):
                self._apply_search_action(action, pending)
                continue
            record = self.records[action.trial_id]
            body = record.body or self._placeholder(record)
            if isinstance(action, Continue):
                record.attempt += 1
                if action.from_scratch:
                    record.run += 1
                log.info("%s/%s: %s to epoch %d: %s", self.namespace, self.name, action.trial_id, action.until_epoch,
                         action.reason)
                if trial_was_errored:  # a retry is news; a continue at a rung shows in the trial's status
                    pending.events.append(self._event(body, "Continued", (
                        f"{'retrain from scratch' if action.from_scratch else 'continue from its checkpoint'} to "
                        f"epoch {action.until_epoch}" + (f": {action.reason}" if action.reason else ""))))
            elif isinstance(action, Stop):
                details = {"rank": action.rank, "of": action.of, "keep": action.keep, "score": action.score,
                           "rungEpoch": action.rung_epoch}
                record.stop = {k: v for k, v in details.items() if v is not None} or None
                if action.rung_epoch is not None and self.metrics is not None:
                    self.metrics.stopped(self.namespace, self.name)
                log.info("%s/%s: stop %s: %s", self.namespace, self.name, action.trial_id, action.reason)
                pending.events.append(self._event(body, "Stopped", action.reason))
            elif isinstance(action, Fail):
                log.warning("%s/%s: fail %s: %s", self.namespace, self.name, action.trial_id, action.reason)
                pending.events.append(self._event(body, "Failed", action.reason, "Warning"))
        return starts

    def _placeholder(self, record: TrialRecord) -> dict[str, Any]:
        return {"apiVersion": naming.API_VERSION, "kind": naming.TRIAL_KIND,
                "metadata": {"name": record.name, "namespace": self.namespace}}

    def _apply_search_action(self, action: Promote | Finish, pending: _Pending) -> None:
        assert self.search is not None and self.search_body is not None
        if isinstance(action, Promote):
            location = manifests.output_location(self.search)
            assert location is not None  # validation refuses such a spec
            self.promotion = {
                "trialId": action.trial_id, "phase": "Pending", "attempts": 0,
                "volume": manifests.describe_volume(self.search), "path": location[0], "containerPath": location[1],
                "message": action.reason,
            }
            log.info("%s/%s: promote %s: %s", self.namespace, self.name, action.trial_id, action.reason)
            pending.events.append(self._event(self.search_body, "Promoting", (
                f"copying the model of {action.trial_id} to {self.promotion['volume']} {location[0]}: {action.reason}")))
        else:
            log.info("%s/%s: finished (%s): %s", self.namespace, self.name, action.outcome, action.message)
            if action.outcome == "failed":
                pending.events.append(self._event(self.search_body, "SearchFailed", action.message, "Warning"))

    def _fan_out(self, calls: list[Callable[[], Any]]) -> list[Any]:
        """Run independent API calls at once (on the runtime's I/O pool); each result is the call's
        value or the exception it raised, in order."""
        def guarded(call: Callable[[], Any]) -> Any:
            try:
                return call()
            except Exception as exc:
                return exc

        if self.io is None or len(calls) <= 1:
            return [guarded(call) for call in calls]
        return list(self.io.map(guarded, calls))

    @staticmethod
    def _raise_first(results: list[Any]) -> None:
        for result in results:
            if isinstance(result, Exception):
                raise result

    def _trial_creates(self) -> list[tuple[TrialState, dict[str, Any]]]:
        """The HyperpruneTrial of every listed trial that has none (new, or deleted by hand)."""
        assert self.search is not None and self.search_body is not None
        return [(t, manifests.trial_resource(self.search_body, self.search, t.id, t.role, t.params, t.target_epoch))
                for t in self.state.trials if not self.records[t.id].exists]

    def _created_trial(self, trial: TrialState, result: Any) -> list[Exception]:
        if isinstance(result, Exception):
            return [result]
        created, new = result
        record = self.records[trial.id]
        if not new and _controller_uid(created) != _uid(self.search_body):
            return [RuntimeError(f"HyperpruneTrial {record.name} exists but belongs to another search "
                                 "(an earlier one of the same name, still being deleted?)")]
        if record.body is not None and _uid(record.body) != _uid(created):
            # Deleted by hand and recreated here: its pods went with it; its reports too.
            log.warning("%s/%s: recreated HyperpruneTrial %s", self.namespace, self.name, record.name)
            record.pod = None
        if not new and record.body is None and _uid(created) is not None:
            # This search created it before a restart, before its status listed it: the policy started
            # the same trial again. What the resource says is what trains (its config is pinned).
            adopted, adopted_record = read_trial(created)
            log.info("%s/%s: adopted HyperpruneTrial %s", self.namespace, self.name, record.name)
            trial.params = adopted.params
            record.reports, record.written = adopted_record.reports, adopted_record.written
            trial.observations, trial.epoch, trial.epochs_spent = adopted.observations, adopted.epoch, adopted.epochs_spent
            if adopted.status != "pending":
                trial.status, trial.target_epoch = adopted.status, adopted.target_epoch
                record.attempt, record.run, record.pod = adopted_record.attempt, adopted_record.run, adopted_record.pod
        elif not new:
            stored = created.get("status") or {}
            record.written = {k: stored[k] for k in OPERATOR_FIELDS if k in stored}
        else:
            record.written = {}
        record.body, record.exists = _slim(created), True
        self.dirty = self.dirty or not new
        return []

    def _status_patches(self, *, flush: bool) -> list[tuple[TrialRecord, dict[str, Any]]]:
        """Each trial's operator-owned status keys that changed: decisions and facts at once,
        progress a restart re-derives (epoch, last metric and distance, pod) at most once per status
        interval (or with ``flush``), riding along with the trial's next urgent change otherwise."""
        dense = self.state.dense
        todo = []
        for trial in self.state.trials:
            record = self.records[trial.id]
            if not record.exists:
                continue
            desired = trial_status_fields(trial, record, dense)
            record.desired = desired
            patch = merge_patch(desired, record.written)
            if not patch:
                self.lazy.discard(trial.id)
                continue
            # A trial without status reads as pending at attempt 1 of its spec's target: no hurry.
            spec_target = ((record.body or {}).get("spec") or {}).get("targetEpoch", trial.target_epoch)
            effective = {"phase": "pending", "targetEpoch": spec_target, "attempt": 1, "run": 0, "failures": 0,
                         **record.written}
            if flush or urgent(merge_patch(desired, effective), effective):
                todo.append((record, patch))
                self.lazy.discard(trial.id)
            else:
                self.lazy.add(trial.id)
        return todo

    def _patched_trial(self, record: TrialRecord, patch: dict[str, Any], result: Any) -> list[Exception]:
        if isinstance(result, ApiException) and result.status == 404:
            record.exists = False  # deleted by hand: recreated by the next step
            self.dirty = True
            return []
        if isinstance(result, Exception):
            return [result]
        record.written = apply_merge(record.written, patch)
        return []

    def _flush(self) -> None:
        """Write the progress that waited (``_status_patches`` with flush)."""
        todo = self._status_patches(flush=True)
        results = self._fan_out([partial(self.kube.patch_trial_status, self.namespace, r.name, p) for r, p in todo])
        errors = [e for (r, p), res in zip(todo, results) for e in self._patched_trial(r, p, res)]
        self.next_flush = self.clock() + self.status_interval()
        if errors:
            raise errors[0]

    def _pod_plan(self, pending: _Pending) -> tuple[list[dict[str, Any]], list[tuple[TrialState, TrialRecord, dict[str, Any]]]]:
        """(running pods to delete now, pods to create). Finished pods no trial needs are deleted in
        the background: they hold nothing."""
        assert self.search is not None
        deletions: list[tuple[dict[str, Any], str]] = []
        creations = []
        for trial in self.state.trials:
            record = self.records[trial.id]
            if not record.exists or record.body is None or _uid(record.body) is None:
                continue
            current = naming.pod_name(record.name, record.attempt)
            busy = False  # a pod of this trial may still hold its work dir
            for pod in self._trial_pods(record):
                name, phase = pod["metadata"]["name"], _pod_phase(pod)
                finished = phase in ("Succeeded", "Failed")
                if trial.status == "stopped":
                    deletions.append((pod, f"{trial.id} was stopped"))
                elif name != current:
                    if finished:
                        deletions.append((pod, f"attempt {record.attempt} of {trial.id} replaces it"))
                    elif trial.status not in ("pending", "running"):
                        deletions.append((pod, f"{trial.id} is {trial.status}"))
                elif trial.status == "failed" and not finished:
                    deletions.append((pod, f"{trial.id} failed"))
                if not finished and name != current:
                    busy = True  # e.g. the last attempt still writes its checkpoint after its last report
            if trial.status in ("pending", "running") and not record.pod_created and current not in self.pods \
                    and not busy:  # with busy, its previous pod ends first: one process per work dir
                creations.append((trial, record))
        running = []
        for pod, why in deletions:
            if _uid(pod) in self.deleting or _terminating(pod):
                continue
            log.info("%s/%s: delete pod %s (%s)", self.namespace, self.name, pod["metadata"]["name"], why)
            self.deleting.add(_uid(pod))
            if _pod_phase(pod) in ("Succeeded", "Failed"):
                self._background(self._delete_quietly, pod)
            else:
                running.append(pod)
        if creations:
            template = self.search.spec.trial_template
            if self.ensure_trial_rbac is not None and self.settings.manage_trial_rbac \
                    and template.service_account_name == naming.DEFAULT_TRIAL_SERVICE_ACCOUNT:
                self.ensure_trial_rbac(self.namespace, template.service_account_name)
        creates = [(t, r, manifests.trial_pod(self.search, r.body, attempt=r.attempt, run=r.run,
                                              until_epoch=t.target_epoch)) for t, r in creations if r.body is not None]
        return running, creates

    def _created_pod(self, trial: TrialState, record: TrialRecord, body: dict[str, Any], result: Any,
                     pending: _Pending) -> list[Exception]:
        if isinstance(result, ApiException) and result.status in (400, 403, 422):
            # The template or a quota refuses it: a failed attempt; the policy retries or fails it.
            message = f"pod {body['metadata']['name']} cannot be created: {api_error(result)}"
            record.pod = {"name": body["metadata"]["name"], "attempt": record.attempt, "phase": "Failed",
                          "reason": "CreateFailed", "message": message[-1000:]}
            record_error(self.state, trial.id, message)
            pending.events.append(self._event(record.body or self._placeholder(record), "PodCreateFailed", message,
                                              "Warning"))
            self.dirty = True
            return []
        if isinstance(result, Exception):
            return [result]
        pod, _ = result
        if _controller_uid(pod) != _uid(record.body):
            return []  # an earlier incarnation's pod still holds the name; its deletion wakes this worker
        self.pods[pod["metadata"]["name"]] = _slim_pod(pod)
        record.pod = pod_summary(pod, record.attempt)
        mark_running(self.state, trial.id)
        return []

    # ---- promotion ---------------------------------------------------------------------------------------------

    def _promotion(self, pending: _Pending) -> None:
        promotion = self.promotion
        if promotion is None or promotion["phase"] in ("Succeeded", "Failed"):
            return
        assert self.search is not None and self.search_body is not None
        attempts = promotion.get("attempts", 0)
        pod = self.pods.get(naming.promotion_pod_name(self.name, attempts)) if attempts else None
        if pod is not None and _controller_uid(pod) != _uid(self.search_body):
            pod = None
        if attempts and pod is None and promotion["phase"] == "Pending":
            pod = self._create_promotion_pod(promotion, attempts)
        phase = _pod_phase(pod)
        now = _now_iso(self.clock())
        if attempts == 0 or (pod is None and promotion["phase"] == "Running") or phase == "Failed":
            if attempts and phase == "Failed" and pod is not None:
                promotion["message"] = describe_pod_end(pod)
            elif attempts:
                promotion["message"] = f"promotion pod {promotion.get('pod')} was deleted"
            if attempts >= self.settings.promotion_attempts:
                promotion.update(phase="Failed", time=now)
                pending.events.append(self._event(self.search_body, "PromotionFailed", (
                    f"the model of {promotion['trialId']} could not be copied after {attempts} attempts: "
                    f"{promotion.get('message')}"), "Warning"))
                return
            attempts += 1
            promotion.update(phase="Pending", attempts=attempts, pod=naming.promotion_pod_name(self.name, attempts))
            self._write_status(force=True)  # the attempt is recorded before its pod exists
            pod = self._create_promotion_pod(promotion, attempts)
            phase = _pod_phase(pod)
        if phase == "Running" and promotion["phase"] == "Pending":
            promotion["phase"] = "Running"
        elif phase == "Succeeded":
            promotion.update(phase="Succeeded", time=now,
                             message=f"model of {promotion['trialId']} copied to {promotion['containerPath']}")
            pending.events.append(self._event(self.search_body, "Promoted", (
                f"the model of {promotion['trialId']} is at {promotion['path']} in {promotion['volume']} "
                f"({promotion['containerPath']} in trial pods)")))

    def _create_promotion_pod(self, promotion: dict[str, Any], attempt: int) -> dict[str, Any] | None:
        assert self.search is not None and self.search_body is not None
        record = self.records[promotion["trialId"]]
        body = manifests.promotion_pod(self.search, self.search_body, trial_id=promotion["trialId"], run=record.run,
                                       attempt=attempt)
        pod, _ = self.kube.create_pod(body)
        if _controller_uid(pod) != _uid(self.search_body):
            return None
        self.pods[pod["metadata"]["name"]] = _slim_pod(pod)
        return pod

    # ---- the search's status ---------------------------------------------------------------------------------------

    def _phase(self) -> str:
        promotion = self.promotion or {}
        if self.state.outcome == "failed" or promotion.get("phase") == "Failed":
            return "Failed"
        if self.state.outcome == "succeeded" and promotion.get("phase") == "Succeeded":
            return "Succeeded"
        return "Running" if self.state.trials else "Pending"

    def desired_status(self) -> dict[str, Any]:
        assert self.search is not None
        spec = self.search.spec
        now = _now_iso(self.clock())
        generation = self.generation
        phase = self._phase()
        summaries = {}
        for trial in self.state.trials:
            record = self.records[trial.id]
            summaries[trial.id] = trial_summary(trial, record, record.desired or record.written)
        by_phase = counts(self.state)
        status: dict[str, Any] = {
            "phase": phase,
            "observedGeneration": generation,
            "strategy": spec.strategy.name,
            "metric": spec.metric,
            "mode": spec.metric_mode,
            "trials": by_phase,
            "trialSummaries": summaries,
            "trialEpochs": {
                "spent": self.state.trial_epochs,
                "avoided": epochs_avoided(self.state, spec.final_epoch),
                "fullTraining": full_training_epochs(self.state, spec.final_epoch),
            },
            "outcome": self.state.outcome,
            "promotion": dict(self.promotion) if self.promotion else None,
            "best": self._best(),
            "dense": self._dense(),
            "startTime": self.start_time,
            "completionTime": self.status.get("completionTime"),
        }
        if phase in ("Succeeded", "Failed") and not status["completionTime"]:
            status["completionTime"] = now
        running = ", ".join(f"{n} {p}" for p, n in by_phase.items() if n and p != "total")
        if self.state.outcome is not None:
            status["message"] = self.state.message
            if self.promotion is not None and self.promotion.get("phase") == "Failed":
                status["message"] = f"promotion failed: {self.promotion.get('message')}"
        else:
            status["message"] = f"{by_phase['total']} trials: {running}" if running else "starting"
        conditions = set_condition(self.status.get("conditions") or [], "Invalid", "False", "SpecValid",
                                   "the spec is valid", generation=generation, now=now)
        active = phase in ("Pending", "Running")
        conditions = set_condition(conditions, "Running", "True" if active else "False",
                                   "TrialsRunning" if active else "SearchFinished",
                                   "the search is training its trials" if active else "the search has finished",
                                   generation=generation, now=now)
        if self.promotion:
            p = self.promotion["phase"]
            conditions = set_condition(
                conditions, "Promoted", "True" if p == "Succeeded" else "False",
                {"Pending": "Copying", "Running": "Copying", "Succeeded": "ModelCopied", "Failed": "PromotionFailed"}[p],
                self.promotion.get("message") or "", generation=generation, now=now)
        if phase in ("Succeeded", "Failed"):
            failed_by = "PromotionFailed" if (self.promotion or {}).get("phase") == "Failed" else "SearchFailed"
            conditions = set_condition(conditions, "Succeeded", "True" if phase == "Succeeded" else "False",
                                       "Promoted" if phase == "Succeeded" else failed_by, status["message"] or "",
                                       generation=generation, now=now)
            conditions = set_condition(conditions, "Failed", "True" if phase == "Failed" else "False",
                                       failed_by if phase == "Failed" else "Promoted", status["message"] or "",
                                       generation=generation, now=now)
        status["conditions"] = conditions
        return status

    def _best(self) -> dict[str, Any] | None:
        assert self.search is not None
        if self.state.promoted is not None:
            best = self.state.find(self.state.promoted)
        else:
            best = best_candidate(Plan(self.search.spec, self.state))
        if best is None:
            return None
        report = final_report(self.records[best.id], best) or {}
        out = {"trialId": best.id, "metric": final_metric(best), "testMetric": report.get("testMetric"),
               "sparsity": report.get("sparsity"), "params": best.params.to_json()}
        return {k: v for k, v in out.items() if v is not None}

    def _dense(self) -> dict[str, Any] | None:
        dense = self.state.dense
        if dense is None:
            return None
        report = final_report(self.records[dense.id], dense) or {}
        out = {"phase": dense.status, "epoch": dense.epoch, "metric": latest_metric(dense),
               "testMetric": report.get("testMetric")}
        return {k: v for k, v in out.items() if v is not None}

    def _write_status(self, *, force: bool) -> bool:
        """Write what changed in the search's status; True when a change waits for status_interval."""
        if self.search is None or not self.loaded:
            return False
        patch = merge_patch(self.desired_status(), self.status)
        if not patch:
            return False
        now = self.clock()
        important = any(k in patch for k in IMPORTANT_STATUS_KEYS)
        if not (force or important or now >= self.next_status_write):
            return True
        self.kube.patch_search_status(self.namespace, self.name, patch)
        self.status = apply_merge(self.status, patch)
        self.next_status_write = now + self.status_interval()
        return False

    # ---- events and metrics -------------------------------------------------------------------------------------------

    def _event(self, involved: dict[str, Any], reason: str, message: str, type_: str = "Normal") -> dict[str, Any]:
        return manifests.event(involved, reason=reason, message=message, type=type_, now=_now_iso(self.clock()),
                               instance=self.settings.instance)

    def _background(self, fn: Callable[..., Any], *args: Any) -> None:
        if self.io is None:
            fn(*args)
        else:
            self.io.submit(fn, *args)

    def _delete_quietly(self, pod: dict[str, Any]) -> None:
        try:
            self.kube.delete_pod(self.namespace, pod["metadata"]["name"], _uid(pod))
        except Exception as exc:  # the next step sees the pod again and retries
            self.deleting.discard(_uid(pod))
            log.warning("%s/%s: pod %s not deleted: %s", self.namespace, self.name, pod["metadata"]["name"],
                        api_error(exc))

    def _post_events(self, events: list[dict[str, Any]]) -> None:
        """Post Events in the background: they inform users, nothing waits for them."""
        def post(body: dict[str, Any]) -> None:
            try:
                self.kube.create_event(body)
            except Exception as exc:  # losing one must not fail anything
                log.warning("%s/%s: event %s not posted: %s", self.namespace, self.name, body.get("reason"),
                            api_error(exc))

        for body in events:
            if self.io is None:
                post(body)
            else:
                self.io.submit(post, body)

    def _export_metrics(self) -> None:
        if self.metrics is None or self.search is None or not self.loaded:
            return
        spec = self.search.spec
        dense = self.state.dense
        rungs = spec.rung_epochs() or spec.lyapunov_epochs()
        distances, per_rung = {}, {}
        for trial in self.state.candidates:
            written = self.records[trial.id].written
            if written.get("lastDistance") is not None:
                distances[trial.id] = written["lastDistance"]
            by_rung = rung_distances(trial, dense, rungs)
            if by_rung:
                per_rung[trial.id] = by_rung
        best = self._best() or {}
        dense_info = self._dense() or {}
        self.metrics.update(self.namespace, self.name, SearchSnapshot(
            phase=self.status.get("phase") or self._phase(),
            metric=spec.metric,
            trials=counts(self.state),
            distances=distances,
            rung_distances=per_rung,
            best_metric=best.get("metric"),
            dense_metric=dense_info.get("metric"),
            epochs_spent=self.state.trial_epochs,
            epochs_avoided=epochs_avoided(self.state, spec.final_epoch),
            epochs_full=full_training_epochs(self.state, spec.final_epoch),
        ))
