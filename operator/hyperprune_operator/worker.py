"""One search's reconcile loop: its inbox, when to step, and carrying out what the pure parts decide.

A ``SearchWorker`` exists per HyperpruneSearch (its kopf daemon drives it). Watch events of the
search, its trials and its pods are ``offer``-ed to it from the event loop; ``step`` runs in a worker
thread, one step at a time per search, so decisions for a search are serialized:

1. take the queued events: reports from trial status (``state.ingest_reports``), pod phases, spec
   changes, and the results of the writes earlier steps handed to threads;
2. validate the spec (a new generation): problems -> phase Invalid with an ``Invalid`` condition;
3. on the first step, rebuild the state from the resources (``restore``);
4. pod facts (``pods.pod_facts``) -> the policy's reducers: pod Running -> running; Succeeded
   without the target epoch's report -> errored; Failed, or gone while running -> errored; Pending
   with a reason -> a ``PodNotStarting`` Event, and past trialTemplate.startTimeoutSeconds the pod
   deleted and the attempt errored;
5. ``decide(spec, state)`` - the local engine's very policy - and apply its actions: Start (the
   trial's resource created: 409 means it exists, adopted when this search owns it), Continue (new
   attempt, its pod resumes from the checkpoint), Stop (pod deleted, reason in status and an Event),
   Fail, Promote (a promotion pod copies the model, ``promotion.promotion_step``), Finish;
6. hand what must be written to threads (``writes`` plans it): trial status patches, trials' and
   pods' creations and deletions, then the search's status (``search_status``; at most once per
   status interval, at once when its phase, conditions, best or promotion change). No step waits
   for an API call; results come back through the inbox, so only this worker's thread touches its
   records.

Every step is level-triggered and idempotent, so a failed API call is simply retried by the next
step, and a restarted operator continues from what the resources hold.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException

from hyperprune.policy import (
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
    decide,
    mark_running,
    record_error,
    record_exit,
)
from hyperprune.policy.summary import rung_distances, trial_epochs
from hyperprune.spec import HyperpruneSearch

from hyperprune_operator import manifests, naming, validation
from hyperprune_operator.kube import Kube, api_error
from hyperprune_operator.metrics import Metrics, SearchSnapshot
from hyperprune_operator.objects import Body, controller_uid, now_iso, slim_pod, slim_trial, slim_trial_event, uid
from hyperprune_operator.pods import (
    PodTable,
    describe_pod_wait,
    pod_facts,
    pod_summary,
    start_deadline,
    unconfirmed_exit,
)
from hyperprune_operator.promotion import promotion_step
from hyperprune_operator.restore import restore, see_pod
from hyperprune_operator.search_status import best_entry, dense_entry, desired_status, search_phase, trial_counts
from hyperprune_operator.state import (
    OPERATOR_FIELDS,
    TrialRecord,
    apply_merge,
    ingest_reports,
    merge_patch,
    read_trial,
    set_condition,
)
from hyperprune_operator.writes import pod_plan, status_plan

log = logging.getLogger("hyperprune.operator")

SUMMARIES_PER_INTERVAL = 200  # trial summaries written per status_interval, at most
LISTED = "LISTED"  # the type of a trial event that a re-listing produced, not a watch
SLOW_STEP_S = 0.5  # a reconcile step slower than this is logged with where its time went
# A change of these is written at once; the rest (counts, summaries) at most once per status_interval.
IMPORTANT_STATUS_KEYS = ("phase", "conditions", "outcome", "promotion", "best", "observedGeneration")
ENDED_PHASES = ("Succeeded", "Failed")
# A search's end waits for its trials' last status writes this long at most (one that keeps failing).
FINAL_WRITES_WAIT_S = 10.0


@dataclass
class WorkerSettings:
    status_interval: float = 1.0  # at most one routine search-status write per interval
    resync_interval: float = 300.0  # re-list trials and pods (repairs anything a watch missed)
    manage_trial_rbac: bool = True  # create the default trial ServiceAccount/Role/RoleBinding
    trial_defaults: dict[str, Any] = field(default_factory=dict)  # spec.trialTemplate fields a search may omit
    promotion_attempts: int = 3
    instance: str = naming.OPERATOR
    # Seconds of candidate proposals one step spends, about: TPE over thousands of trials takes tens
    # of milliseconds a proposal, and reports wait while a step runs; the rest start in the next step.
    proposal_budget: float = 0.2


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
        behind: concurrent.futures.Executor | None = None,
        lister: concurrent.futures.Executor | None = None,
        notify: Callable[[], object] | None = None,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.settings = settings or WorkerSettings()
        self.metrics = metrics
        self.ensure_trial_rbac = ensure_trial_rbac
        self.clock = clock
        self.io = io  # independent API calls of a step run here at once (None: one after the other)
        self.behind = behind  # writes behind the step (writes.py); None: at once, in the step
        self.lister = lister or behind  # the periodic re-listing (``_resync``)
        self.notify = notify  # wakes the worker when a write behind the step has landed
        self._lock = threading.Lock()
        self._inbox: list[_Event] = []
        self.search_body: dict[str, Any] | None = None
        self.generation: int | None = None
        self.search: HyperpruneSearch | None = None
        self.issues: list[str] = []
        self.loaded = False
        self.state = SearchState()
        self.records: dict[str, TrialRecord] = {}
        self.pods = PodTable()
        self.status: dict[str, Any] = {}  # the search's status as last written or read
        self.promotion: dict[str, Any] | None = None
        self.dirty = True
        self.deleting: set[str | None] = set()  # pod uids this worker asked to delete
        # Trials whose writes may have changed since the last plan (writes.py); None: all of them.
        self.touched: set[str] | None = None
        self.warned_unknown: set[str] = set()
        self.pods_first_seen: dict[str | None, float] = {}  # pod uid -> when this worker first saw it
        self.warned_waits: set[tuple[str | None, str]] = set()  # (pod uid, reason) told in an Event
        self.next_start_check = float("inf")  # the earliest start deadline of a pending pod
        self.next_status_write = 0.0
        self.next_resync = 0.0
        self.start_time: str | None = None
        self.status_pending = False  # a routine status change waits for the next interval
        self.ending_since: float | None = None  # since when the search's end waits for its trials' writes
        # The status write on its way behind the step, and its patch.
        self.status_writing: tuple[concurrent.futures.Future[Exception | None], dict[str, Any]] | None = None
        self.metrics_pending = False
        self.next_metrics = 0.0
        self.lazy: set[str] = set()  # trials whose status has unwritten progress
        self.next_flush = 0.0
        self.gone = False  # the search was deleted
        self.proposal_seconds = 0.0  # a candidate proposal's recent cost (decide's time per start)
        # While a re-listing is on its way: the trials and pods reported meanwhile (None: no listing).
        self.listing: set[str] | None = None

    # ---- the event loop's side -------------------------------------------------------------------

    def offer(self, kind: str, type_: str | None, body: dict[str, Any]) -> None:
        # Slimmed as they arrive: the inbox of a big search may hold many events between two steps.
        if kind == "trial":
            body = slim_trial_event(body)
        elif kind == "pod":
            body = slim_pod(body)
        with self._lock:
            self._inbox.append(_Event(kind, type_, body, self.clock()))
        if kind in ("written", "created", "checked", "deleted", "listed") and self.notify is not None:
            self.notify()

    def _drain(self) -> list[_Event]:
        with self._lock:
            events, self._inbox = self._inbox, []
        return events

    # ---- one step -----------------------------------------------------------------------------------

    @property
    def settled(self) -> bool:
        """Nothing waits: no event to take, no decision to make, no write behind the step on its way."""
        with self._lock:
            inbox = bool(self._inbox)
        busy = self.status_writing is not None or self.listing is not None or any(
            r.creating or r.checking or r.writing is not None for r in self.records.values())
        return not (inbox or self.dirty or busy)

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
            elif event.kind == "written":
                self._written(event.body)
            elif event.kind == "created":
                self._created(event.body, pending)
            elif event.kind == "checked":
                self._checked(event.body, pending)
            elif event.kind == "deleted":
                self._deleted(event.body)
            elif event.kind == "listed":
                self._listed(event.body)
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
        max_starts = None
        if self.proposal_seconds > 0:
            max_starts = max(1, int(self.settings.proposal_budget / self.proposal_seconds))
        actions = [] if self.finished else decide(self.search.spec, self.state, max_starts=max_starts)
        marks.append(("decide", self.clock()))
        proposed = sum(1 for a in actions if isinstance(a, Start) and a.role == "candidate")
        if proposed:
            took = (marks[-1][1] - marks[-2][1]) / proposed
            self.proposal_seconds = took if self.proposal_seconds <= 0 else (self.proposal_seconds + took) / 2
            if proposed == max_starts:
                self.dirty = True  # more may start: in the next step, after the reports that came meanwhile
        if self._apply(actions, pending):
            self.start_time = self.start_time or now_iso(self.clock())
        marks.append(("apply", self.clock()))
        self._execute(pending)
        marks.append(("writes", self.clock()))
        self._promotion(pending)
        took = marks[-1][1] - marks[0][1]
        if took > SLOW_STEP_S or log.isEnabledFor(logging.DEBUG):
            parts = ", ".join(f"{name} {1000 * (t - marks[i][1]):.0f} ms" for i, (name, t) in enumerate(marks[1:]))
            log.log(logging.INFO if took > SLOW_STEP_S else logging.DEBUG, "%s/%s: step of %d actions took %.0f ms (%s)",
                    self.namespace, self.name, len(actions), 1000 * took, parts)

    def _execute(self, pending: _Pending) -> None:
        """The step's writes, none of which it waits for: trial status patches go out on the I/O pool
        when they record decisions or reflect reports, on the few threads behind the steps otherwise
        (``_write_behind``); trials' resources and pods are created on the I/O pool
        (``_create_behind``). Their results come back through the inbox, so a large step never holds
        up the next reports, and only the worker's thread touches its records. A pod and its trial's
        new status need no order: the pod's labels carry its attempt, target and run, so a restart in
        between adopts it (``_adopt_newer_pods``)."""
        trials = self._in_play()
        statuses = self._status_patches(flush=False, trials=trials)
        if statuses:
            ids = {id(r): t for t, r in self.records.items()}
            for record, patch in statuses:
                self._write_behind(ids[id(record)], record, patch, urgent=True)
        for trial, body in self._trial_creates():
            self._create_behind(trial, "trial", body)
        for trial, _, body in self._pod_plan(pending, trials):
            self._create_behind(trial, "pod", body)
        self.touched = set()

    def _touch(self, trial_id: str | None) -> None:
        if self.touched is not None and trial_id is not None:
            self.touched.add(trial_id)

    def _in_play(self) -> list[TrialState] | None:
        """The trials whose status or pods the step's plans look at: those touched since the last
        plan (their reports, pods, actions, or a write of theirs that landed) and those pending or
        running; None, all of them, after a (re)load or resync, a report of the dense reference (every
        distance may change) and at every flush (the periodic sweep)."""
        if self.touched is None:
            return None
        return [t for t in self.state.trials if t.id in self.touched or t.status in ("pending", "running")]

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
        return controller_uid(body) == uid(self.search_body)

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
        if event.type == LISTED:
            if trial_id in (self.listing or ()):
                return  # the watch said something newer meanwhile
        else:
            self._watched(trial_id)
        self._touch(trial_id)
        if event.type == "DELETED":
            if uid(body) == uid(record.body):
                record.exists = False
                self.dirty = True
            return
        if record.body is not None and uid(body) != uid(record.body) and record.exists:
            return  # another incarnation than the one this worker knows (recreated by it meanwhile)
        record.body = slim_trial(body)
        record.exists = True
        self._take_reports(self.state.trial(trial_id), record, body, pending, event.at)

    def _take_reports(self, trial: TrialState, record: TrialRecord, body: dict[str, Any], pending: _Pending,
                      at: float) -> None:
        changed, ignored = ingest_reports(self.state, trial, record, (body.get("status") or {}).get("reports") or {})
        if changed:
            self.dirty = True
            pending.report_arrivals.append(at)
            if trial.is_dense:
                self.touched = None  # every candidate's distance may change
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
        self._watched(name)
        self._touch(pod["metadata"].get("labels", {}).get(naming.LABEL_TRIAL_ID))
        if event.type == "DELETED":
            known = self.pods.get(name)
            self.pods_first_seen.pop(uid(pod), None)
            if known is not None and uid(known) == uid(pod):
                del self.pods[name]
                self.dirty = True
            return
        self._see_pod(pod)

    def _see_pod(self, pod: dict[str, Any]) -> None:
        if see_pod(self.pods, pod):
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
        now = now_iso(self.clock())
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
        """Rebuild the search's state from the API server (``restore``)."""
        fresh = self.kube.get_search(self.namespace, self.name)
        if fresh is None:
            self.gone = True
            return
        restored = restore(fresh, self.kube.list_trials(self.namespace, self.name),  # page by page
                           self.kube.list_pods(self.namespace, self.name))
        self.search_body, self.status = restored.search_body, restored.status
        self.state, self.records, self.pods = restored.state, restored.records, restored.pods
        self.start_time = self.status.get("startTime")
        self.promotion = self.status.get("promotion")
        for adopted in restored.adopted:
            log.info("%s/%s: adopted %s", self.namespace, self.name, adopted)
        self.loaded = True
        self.dirty = True
        self.touched = None
        self._schedule_resync()
        log.info("%s/%s: loaded %d trials and %d pods", self.namespace, self.name, len(self.state.trials), len(self.pods))

    def _resync(self) -> None:
        """Re-list trials and pods behind the step (a big search's listing takes seconds, and its
        reports would wait): each page comes back through the inbox as trial events, then the end of
        the listing (``_listed``) repairs what a watch missed (a lost DELETED event). Trials and pods
        the watches report meanwhile are newer than the listing and keep what the watch said."""
        self._schedule_resync()
        if self.listing is not None:
            return  # the previous listing is still on its way
        self.listing = set()
        search_uid = uid(self.search_body)

        def listing() -> None:
            seen: set[str] = set()
            try:
                for body in self.kube.list_trials(self.namespace, self.name):  # page by page
                    if controller_uid(body) == search_uid:
                        seen.add(body["spec"]["trialId"])
                        self.offer("trial", LISTED, body)
                pods = [slim_pod(p) for p in self.kube.list_pods(self.namespace, self.name, cached=True)]
                self.offer("listed", None, {"trials": seen, "pods": pods, "error": None})
            except Exception as exc:
                self.offer("listed", None, {"trials": seen, "pods": [], "error": exc})

        if self.lister is None:
            listing()
        else:
            self.lister.submit(listing)

    def _listed(self, done: dict[str, Any]) -> None:
        watched, self.listing = self.listing or set(), None
        if done["error"] is not None:
            log.warning("%s/%s: re-listing trials and pods failed (%s); retrying at the next resync",
                        self.namespace, self.name, api_error(done["error"]))
            return
        for trial_id, record in self.records.items():
            if trial_id not in done["trials"] and trial_id not in watched and not record.creating:
                record.exists = False
        pods = {p["metadata"]["name"]: p for p in done["pods"]}
        for name in list(self.pods):
            if name not in pods and name not in watched:
                del self.pods[name]
        for name, pod in pods.items():
            if name not in watched:
                self._see_pod(pod)
        self.dirty = True
        self.touched = None

    def _watched(self, key: str | None) -> None:
        """A trial or pod the watches (or this worker's creations) reported while a listing is on its
        way: what the listing says of it is older."""
        if self.listing is not None and key is not None:
            self.listing.add(key)

    def _schedule_resync(self) -> None:
        # Spread over +-20%: searches started together must not all re-list at the same moment.
        self.next_resync = self.clock() + self.settings.resync_interval * random.uniform(0.8, 1.2)

    # ---- facts from pods -----------------------------------------------------------------------------------


    def _pod_facts(self, pending: _Pending) -> None:
        """Pods -> the policy's facts (``pods.pod_facts``), fed to its reducers."""
        facts = pod_facts(self.state, self.records, self.pods, self.deleting)
        self.next_start_check = float("inf")
        for trial_id in [*facts.summaries, *facts.running, *(t for t, _ in facts.lost), *(e.trial_id for e in facts.exits)]:
            self._touch(trial_id)
        for trial_id, summary in facts.summaries.items():
            self.records[trial_id].pod = summary
        for trial_id in facts.running:
            mark_running(self.state, trial_id)
        for trial_id, why in facts.lost:
            record_error(self.state, trial_id, why)
        for exit in facts.exits:
            record_exit(self.state, exit)
        for trial_id, waiting in facts.waiting:
            self._check_start(trial_id, waiting, pending)
        # A pod that ended without its target's report: the report may still be on its way through
        # the trials' watch, so read the trial itself (behind the step) before calling it an exit.
        for trial_id, pod in facts.unconfirmed:
            record = self.records[trial_id]
            if record.checking:
                continue
            record.checking = True

            def read(trial_id: str = trial_id, record: TrialRecord = record, pod: str = pod) -> None:
                try:
                    body: Any = self.kube.get_trial(self.namespace, record.name)
                except Exception as exc:
                    body = exc
                self.offer("checked", None, {"trial": trial_id, "record": record, "pod": pod, "body": body})

            if self.io is None:
                read()
            else:
                self.io.submit(read)

    def _check_start(self, trial_id: str, pod: Body, pending: _Pending) -> None:
        """A pod that cannot start is told in an Event (once per reason); past the search's
        trialTemplate.startTimeoutSeconds it is deleted and counts as a failed attempt, which
        budget.retries and budget.maxFailedTrials judge like any crash: it never holds the search."""
        assert self.search is not None
        record = self.records[trial_id]
        pod_uid, name = uid(pod), pod["metadata"]["name"]
        timeout = self.search.spec.trial_template.start_timeout_seconds
        problem = describe_pod_wait(pod)
        reason = (record.pod or {}).get("reason", "")
        if problem and (pod_uid, reason) not in self.warned_waits:
            self.warned_waits.add((pod_uid, reason))
            after = (f"; it counts as a failed attempt {timeout} s after it was created "
                     "(trialTemplate.startTimeoutSeconds)" if timeout else "")
            pending.events.append(self._event(record.body or self._placeholder(record), "PodNotStarting",
                                              problem + after, "Warning"))
        if not timeout:
            return
        deadline = start_deadline(pod, self.pods_first_seen.setdefault(pod_uid, self.clock()), timeout)
        if self.clock() < deadline:
            self.next_start_check = min(self.next_start_check, deadline)
            return
        self._delete(pod, f"not started within {timeout} s")
        self._touch(trial_id)
        record_error(self.state, trial_id, f"pod {name} did not start within {timeout} s "
                                           f"(trialTemplate.startTimeoutSeconds): "
                                           f"{problem.split(': ', 1)[1] if problem else 'it stayed Pending'}")

    def _checked(self, done: dict[str, Any], pending: _Pending) -> None:
        """The trial read again after its pod ended short of its target: its reports, then the exit."""
        record: TrialRecord = done["record"]
        if self.records.get(done["trial"]) is not record:
            return
        self._touch(done["trial"])
        record.checking = False
        self.dirty = True
        body, trial = done["body"], self.state.trial(done["trial"])
        if isinstance(body, Exception):
            log.warning("%s/%s: %s not read (%s); reading it again", self.namespace, self.name, record.name,
                        api_error(body))
            return
        if body is not None and uid(body) == uid(record.body):
            record.body = slim_trial(body)
            self._take_reports(trial, record, body, pending, self.clock())
        record_exit(self.state, unconfirmed_exit(trial.id, done["pod"], trial.target_epoch))

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
            if not isinstance(action, (Promote, Finish)):
                self._touch(action.trial_id)
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

    def _trial_creates(self) -> list[tuple[TrialState, dict[str, Any]]]:
        """The HyperpruneTrial of every listed trial that has none (new, or deleted by hand)."""
        assert self.search is not None and self.search_body is not None
        return [(t, manifests.trial_resource(self.search_body, self.search, t.id, t.role, t.params, t.target_epoch))
                for t in self.state.trials if not self.records[t.id].exists and not self.records[t.id].creating]

    def _create_behind(self, trial: TrialState, kind: str, body: Body) -> None:
        """Create a trial's resource or pod without the step waiting for it (on the I/O pool); the
        result comes back through the inbox (``_created``). A trial has one create in flight at most."""
        record = self.records[trial.id]
        record.creating = True
        create = self.kube.create_trial if kind == "trial" else self.kube.create_pod

        def run() -> None:
            try:
                result: Any = create(body)
            except Exception as exc:
                result = exc
            self.offer("created", None, {"trial": trial.id, "record": record, "kind": kind, "body": body,
                                         "result": result})

        if self.io is None:
            run()
        else:
            self.io.submit(run)

    def _created(self, done: dict[str, Any], pending: _Pending) -> None:
        record: TrialRecord = done["record"]
        if self.records.get(done["trial"]) is not record:
            return  # the state was reloaded meanwhile: it read what exists
        self._touch(done["trial"])
        self._watched(done["trial"])
        self._watched(done["body"]["metadata"]["name"] if done["kind"] == "pod" else None)
        record.creating = False
        trial = self.state.trial(done["trial"])
        if done["kind"] == "trial":
            errors = self._created_trial(trial, done["result"])
        else:
            errors = self._created_pod(trial, record, done["body"], done["result"], pending)
        for error in errors:
            log.warning("%s/%s: %s of %s not created (%s); retrying", self.namespace, self.name, done["kind"],
                        record.name, api_error(error))
        self.dirty = True  # its pod (after its resource), or a retry, follows

    def _created_trial(self, trial: TrialState, result: Any) -> list[Exception]:
        if isinstance(result, Exception):
            return [result]
        created, new = result
        record = self.records[trial.id]
        if not new and controller_uid(created) != uid(self.search_body):
            return [RuntimeError(f"HyperpruneTrial {record.name} exists but belongs to another search "
                                 "(an earlier one of the same name, still being deleted?)")]
        if record.body is not None and uid(record.body) != uid(created):
            # Deleted by hand and recreated here: its pods went with it; its reports too.
            log.warning("%s/%s: recreated HyperpruneTrial %s", self.namespace, self.name, record.name)
            record.pod = None
        if not new and record.body is None and uid(created) is not None:
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
        record.body, record.exists = slim_trial(created), True
        self.dirty = self.dirty or not new
        return []

    def _status_patches(self, *, flush: bool, trials: list[TrialState] | None = None) -> list[tuple[TrialRecord, dict[str, Any]]]:
        """The operator-owned status keys that changed of ``trials`` (None: all), now or later
        (``writes.status_plan``); the patches that can be written behind the step are handed to
        ``_write_behind`` here."""
        plan = status_plan(self.state, self.records, flush=flush, trials=trials)
        for trial_id, desired in plan.desired.items():
            self.records[trial_id].desired = desired
        if trials is None:
            self.lazy = plan.later
        else:
            self.lazy = (self.lazy - {t.id for t in trials}) | plan.later
        if plan.behind:
            ids = {id(r): t for t, r in self.records.items()}
            for record, patch in plan.behind:
                self._write_behind(ids[id(record)], record, patch)
        return plan.now

    def _write_behind(self, trial_id: str, record: TrialRecord, patch: dict[str, Any], *, urgent: bool = False) -> None:
        """Write a trial status patch without the step waiting for it; the result comes back through
        the inbox (``_written``), where only the worker's own thread touches the records. Urgent ones
        (decisions, reflected reports) go on the I/O pool, the rest on the few threads behind."""
        record.writing = patch
        pool = self.io if urgent else self.behind

        def write() -> None:
            try:
                self.kube.patch_trial_status(self.namespace, record.name, patch)
                error = None
            except Exception as exc:
                error = exc
            self.offer("written", None, {"trial": trial_id, "record": record, "patch": patch, "error": error})

        if pool is None:
            write()
        else:
            pool.submit(write)

    def _written(self, done: dict[str, Any]) -> None:
        if "status" in done:  # the search's own status
            if self.status_writing is not None and self.status_writing[1] is done["status"]:
                self.status_writing = None
                self._status_landed(done["status"], done["error"])
            return
        record: TrialRecord = done["record"]
        patch: dict[str, Any] = done["patch"]
        if self.records.get(done["trial"]) is not record or record.writing is not patch:
            return  # the state was reloaded meanwhile: it read what landed
        self._touch(done["trial"])
        record.writing = None
        error = done["error"]
        if isinstance(error, ApiException) and error.status == 404:
            record.exists = False  # deleted by hand: recreated by the next step
        elif error is not None:
            log.warning("%s/%s: status of %s not written (%s); retrying", self.namespace, self.name, record.name,
                        api_error(error))
        else:
            record.written = apply_merge(record.written, patch)
        self.dirty = True  # what waited for this write, and the search's status, follow

    def _flush(self) -> None:
        """Write the progress that waited (``_status_patches`` with flush), behind the step: nothing
        waits for progress."""
        todo = self._status_patches(flush=True)
        ids = {id(r): t for t, r in self.records.items()}
        for record, patch in todo:
            self._write_behind(ids[id(record)], record, patch)
        self.next_flush = self.clock() + self.status_interval()
        self.touched = None  # the next step's plans sweep all trials
        self.dirty = True

    def _pod_plan(self, pending: _Pending, trials: list[TrialState] | None) -> list[tuple[TrialState, TrialRecord, Body]]:
        """The pods to create, from ``writes.pod_plan``; its deletions go behind the step (a failed one
        is forgotten, so the next step sees the pod again and retries)."""
        assert self.search is not None
        plan = pod_plan(self.state, self.records, self.pods, self.deleting, trials)
        for pod, why in plan.delete:
            self._delete(pod, why)
        if plan.create:
            template = self.search.spec.trial_template
            if self.ensure_trial_rbac is not None and self.settings.manage_trial_rbac \
                    and template.service_account_name == naming.DEFAULT_TRIAL_SERVICE_ACCOUNT:
                self.ensure_trial_rbac(self.namespace, template.service_account_name)
        return [(t, r, manifests.trial_pod(self.search, r.body, attempt=r.attempt, run=r.run,
                                           until_epoch=t.target_epoch)) for t, r in plan.create if r.body is not None]

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
        if controller_uid(pod) != uid(record.body):
            return []  # an earlier incarnation's pod still holds the name; its deletion wakes this worker
        self.pods[pod["metadata"]["name"]] = slim_pod(pod)
        record.pod = pod_summary(pod, record.attempt)
        mark_running(self.state, trial.id)
        return []

    # ---- promotion ---------------------------------------------------------------------------------------------

    def _promotion(self, pending: _Pending) -> None:
        """One step of the promotion (``promotion.promotion_step``), carried out."""
        if self.promotion is None:
            return
        assert self.search is not None and self.search_body is not None
        attempts = self.promotion.get("attempts", 0)
        pod = self.pods.get(naming.promotion_pod_name(self.name, attempts)) if attempts else None
        if pod is not None and controller_uid(pod) != uid(self.search_body):
            pod = None
        step = promotion_step(self.promotion, pod, search=self.name, max_attempts=self.settings.promotion_attempts,
                              now=now_iso(self.clock()))
        self.promotion = step.promotion
        if step.record_first:
            self._write_status(force=True)  # the attempt is recorded before its pod exists
        if step.create is not None:
            self._create_promotion_pod(step.promotion, step.create)
        for reason, message, type_ in step.events:
            pending.events.append(self._event(self.search_body, reason, message, type_))

    def _create_promotion_pod(self, promotion: dict[str, Any], attempt: int) -> dict[str, Any] | None:
        assert self.search is not None and self.search_body is not None
        record = self.records[promotion["trialId"]]
        body = manifests.promotion_pod(self.search, self.search_body, trial_id=promotion["trialId"], run=record.run,
                                       attempt=attempt)
        pod, _ = self.kube.create_pod(body)
        if controller_uid(pod) != uid(self.search_body):
            return None
        self.pods[pod["metadata"]["name"]] = slim_pod(pod)
        return pod

    # ---- the search's status ---------------------------------------------------------------------------------------


    def desired_status(self) -> dict[str, Any]:
        assert self.search is not None
        return desired_status(self.search, self.state, self.records, promotion=self.promotion, written=self.status,
                              generation=self.generation, start_time=self.start_time, now=now_iso(self.clock()))



    def _write_status(self, *, force: bool) -> bool:
        """Write what changed in the search's status, behind the step (a big search's status is a big
        object: the API server takes a second or more per write under load); ``force`` writes it now,
        in the step (a promotion attempt is recorded before its pod). One write at a time, so an
        older patch never lands after a newer one. True when a change waits for the next write."""
        if self.search is None or not self.loaded:
            return False
        if self.status_writing is not None:
            if not force:
                return True  # the next write follows this one's landing
            future, on_its_way = self.status_writing  # a forced write goes after the one on its way
            self.status_writing = None  # (its report, still in the inbox, is then ignored)
            self._status_landed(on_its_way, future.result())
        patch = merge_patch(self.desired_status(), self.status)
        if not patch:
            return False
        now = self.clock()
        if not force and patch.get("phase") in ENDED_PHASES and self._trials_still_writing(now):
            self.next_status_write = max(self.next_status_write, now + 1.0)  # or at once when they land
            return True
        self.ending_since = None
        important = any(k in patch for k in IMPORTANT_STATUS_KEYS)
        if not (force or important or now >= self.next_status_write):
            return True
        self.next_status_write = now + self.status_interval()
        if force or self.behind is None:
            error = self._patch_status(patch)
            self._status_landed(patch, error)
            if error is not None and force:
                raise error
        else:
            def write() -> Exception | None:
                error = self._patch_status(patch)
                self.offer("written", None, {"status": patch, "error": error})
                return error

            self.status_writing = (self.behind.submit(write), patch)
        return False

    def _trials_still_writing(self, now: float) -> bool:
        """Whether the search's end waits for its trials' last status writes: a search that says it
        ended has trials whose statuses say how each ended, for whoever reads them next (their writes
        go behind the step and could land after the search's). Progress held back for the next flush
        goes now. A write that keeps failing holds the end back FINAL_WRITES_WAIT_S at most."""
        if self.lazy:
            self._flush()
        if not any(r.writing is not None for r in self.records.values()):
            return False
        if self.ending_since is None:
            self.ending_since = now
        return now - self.ending_since < FINAL_WRITES_WAIT_S

    def _patch_status(self, patch: dict[str, Any]) -> Exception | None:
        started = self.clock()
        try:
            self.kube.patch_search_status(self.namespace, self.name, patch)
        except Exception as exc:
            return exc
        finally:
            took = self.clock() - started
            if took > SLOW_STEP_S:
                log.info("%s/%s: the search's status write took %.0f ms (%d bytes)", self.namespace, self.name,
                         1000 * took, len(json.dumps(patch)))
        return None

    def _status_landed(self, patch: dict[str, Any], error: Exception | None) -> None:
        if error is None:
            self.status = apply_merge(self.status, patch)
            if "phase" in patch:  # the metrics show the phase the status says, as soon as it says it
                self.metrics_pending, self.next_metrics = True, 0.0
            return
        self.status_pending = True  # written again by the next step
        log.warning("%s/%s: status not written (%s); retrying", self.namespace, self.name, api_error(error))

    # ---- events and metrics -------------------------------------------------------------------------------------------

    def _event(self, involved: dict[str, Any], reason: str, message: str, type_: str = "Normal") -> dict[str, Any]:
        return manifests.event(involved, reason=reason, message=message, type=type_, now=now_iso(self.clock()),
                               instance=self.settings.instance)

    def _delete(self, pod: Body, why: str) -> None:
        """Delete a pod behind the step (``_delete_behind``); its uid is remembered as this worker's."""
        log.info("%s/%s: delete pod %s (%s)", self.namespace, self.name, pod["metadata"]["name"], why)
        self.deleting.add(uid(pod))
        if self.behind is None:
            self._delete_behind(pod)
        else:
            self.behind.submit(self._delete_behind, pod)

    def _delete_behind(self, pod: dict[str, Any]) -> None:
        """Delete a pod (behind the step); a failure comes back through the inbox (``_deleted``)."""
        try:
            self.kube.delete_pod(self.namespace, pod["metadata"]["name"], uid(pod))
        except Exception as exc:
            log.warning("%s/%s: pod %s not deleted: %s", self.namespace, self.name, pod["metadata"]["name"],
                        api_error(exc))
            self.offer("deleted", None, {"pod": pod})

    def _deleted(self, done: dict[str, Any]) -> None:
        """A deletion that failed is forgotten: the next step sees the pod again and retries."""
        pod = done["pod"]
        self.deleting.discard(uid(pod))
        self._touch(pod["metadata"].get("labels", {}).get(naming.LABEL_TRIAL_ID))
        self.dirty = True

    def _post_events(self, events: list[dict[str, Any]]) -> None:
        """Post Events behind the step, after the writes decisions wait for (a closing rung posts
        hundreds): they inform users, nothing waits for them."""
        def post(body: dict[str, Any]) -> None:
            try:
                self.kube.create_event(body)
            except Exception as exc:  # losing one must not fail anything
                log.warning("%s/%s: event %s not posted: %s", self.namespace, self.name, body.get("reason"),
                            api_error(exc))

        for body in events:
            if self.behind is None:
                post(body)
            else:
                self.behind.submit(post, body)

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
        best = best_entry(self.search, self.state, self.records) or {}
        dense_info = dense_entry(self.state, self.records) or {}
        epochs = trial_epochs(spec, self.state)
        self.metrics.update(self.namespace, self.name, SearchSnapshot(
            phase=self.status.get("phase") or search_phase(self.state, self.promotion),
            metric=spec.metric,
            trials=trial_counts(self.state),
            distances=distances,
            rung_distances=per_rung,
            best_metric=best.get("metric"),
            dense_metric=dense_info.get("metric"),
            epochs_spent=epochs.spent,
            epochs_avoided=epochs.avoided,
            epochs_full=epochs.full_training,
        ))
