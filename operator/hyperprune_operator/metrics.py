"""Prometheus metrics of the operator (served on ``--metrics-port``). Every name, type and label here
is documented in docs/operator.md; the Grafana dashboard queries exactly these.

Per-search series carry ``namespace`` and ``search`` labels and are removed when the search is
deleted, so a dashboard never shows searches that are gone.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from hyperprune.spec.status import TRIAL_PHASES

SEARCH_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Invalid")
# The places errors are counted (label ``handler`` of hyperprune_handler_errors_total).
HANDLERS = ("search-worker", "event-routing")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class SearchSnapshot:
    """What one search exports; built by its worker after each step."""

    phase: str
    metric: str  # perplexity | accuracy
    trials: dict[str, int]  # phase -> count
    distances: dict[str, float] = field(default_factory=dict)  # trial id -> latest LS distance
    rung_distances: dict[str, dict[int, float]] = field(default_factory=dict)  # trial -> epoch -> distance
    best_metric: float | None = None
    dense_metric: float | None = None
    epochs_spent: int = 0
    epochs_avoided: int = 0
    epochs_full: int = 0


class Metrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        search = ["namespace", "search"]
        self.search_phase = Gauge(
            "hyperprune_search_phase", "1 for the phase the search is in, 0 for the others", [*search, "phase"],
            registry=registry)
        self.trials = Gauge(
            "hyperprune_trials", "Trials of a search by phase (the dense reference included)", [*search, "phase"],
            registry=registry)
        self.stopped_early = Counter(
            "hyperprune_trials_stopped_early", "Trials the strategy stopped at a rung (or by the median rule)",
            search, registry=registry)
        self.distance = Gauge(
            "hyperprune_trial_ls_distance", "Latest LS distance of a trial to the dense reference",
            [*search, "trial"], registry=registry)
        self.rung_distance = Gauge(
            "hyperprune_trial_rung_ls_distance", "LS distance of a trial to the dense reference at a rung epoch",
            [*search, "trial", "epoch"], registry=registry)
        self.best = Gauge(
            "hyperprune_best_metric", "Final validation metric of the best completed candidate",
            [*search, "metric"], registry=registry)
        self.dense = Gauge(
            "hyperprune_dense_metric", "Latest validation metric of the dense reference (the target)",
            [*search, "metric"], registry=registry)
        self.epochs_spent = Gauge(
            "hyperprune_trial_epochs_spent", "Trial-epochs trained by the search, retraining included", search,
            registry=registry)
        self.epochs_avoided = Gauge(
            "hyperprune_trial_epochs_avoided", "Epochs early-stopped candidates did not train", search,
            registry=registry)
        self.epochs_full = Gauge(
            "hyperprune_trial_epochs_full_training", "Trial-epochs that training every trial to the end would cost",
            search, registry=registry)
        self.actions = Counter(
            "hyperprune_actions", "Policy actions applied, by kind (start, continue, stop, fail, promote, finish)",
            [*search, "action"], registry=registry)
        self.reconcile = Histogram(
            "hyperprune_reconcile_duration_seconds", "Time of one reconcile step of a search's worker",
            buckets=LATENCY_BUCKETS, registry=registry)
        self.report_latency = Histogram(
            "hyperprune_report_to_action_seconds",
            "From a trial report arriving at the operator to the resulting actions being applied",
            buckets=LATENCY_BUCKETS, registry=registry)
        self.errors = Counter(
            "hyperprune_handler_errors", "Errors in the operator's handlers and search workers", ["handler"],
            registry=registry)
        for handler in HANDLERS:
            self.errors.labels(handler)  # exported as 0 from the start, so rate() works at once
        self.workers = Gauge(
            "hyperprune_search_workers", "Searches this operator replica is working on", registry=registry)
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], set[tuple[object, tuple[str, ...]]]] = {}

    def _track(self, key: tuple[str, str], metric: object, labels: tuple[str, ...]) -> None:
        self._series.setdefault(key, set()).add((metric, labels))

    def update(self, namespace: str, name: str, snap: SearchSnapshot) -> None:
        key = (namespace, name)
        with self._lock:
            for phase in SEARCH_PHASES:
                labels = (namespace, name, phase)
                self.search_phase.labels(*labels).set(1 if phase == snap.phase else 0)
                self._track(key, self.search_phase, labels)
            for phase in TRIAL_PHASES:
                labels = (namespace, name, phase)
                self.trials.labels(*labels).set(snap.trials.get(phase, 0))
                self._track(key, self.trials, labels)
            for trial, d in snap.distances.items():
                labels = (namespace, name, trial)
                self.distance.labels(*labels).set(d)
                self._track(key, self.distance, labels)
            for trial, by_epoch in snap.rung_distances.items():
                for epoch, d in by_epoch.items():
                    rung_labels = (namespace, name, trial, str(epoch))
                    self.rung_distance.labels(*rung_labels).set(d)
                    self._track(key, self.rung_distance, rung_labels)
            for gauge, value in ((self.best, snap.best_metric), (self.dense, snap.dense_metric)):
                labels = (namespace, name, snap.metric)
                if value is not None:
                    gauge.labels(*labels).set(value)
                    self._track(key, gauge, labels)
            for gauge, value in ((self.epochs_spent, snap.epochs_spent), (self.epochs_avoided, snap.epochs_avoided),
                                 (self.epochs_full, snap.epochs_full)):
                gauge.labels(namespace, name).set(value)
                self._track(key, gauge, (namespace, name))

    def update_phase(self, namespace: str, name: str, phase: str) -> None:
        with self._lock:
            for each in SEARCH_PHASES:
                labels = (namespace, name, each)
                self.search_phase.labels(*labels).set(1 if each == phase else 0)
                self._track((namespace, name), self.search_phase, labels)

    def stopped(self, namespace: str, name: str) -> None:
        with self._lock:
            self.stopped_early.labels(namespace, name).inc()
            self._track((namespace, name), self.stopped_early, (namespace, name))

    def action(self, namespace: str, name: str, kind: str) -> None:
        with self._lock:
            self.actions.labels(namespace, name, kind).inc()
            self._track((namespace, name), self.actions, (namespace, name, kind))

    def forget(self, namespace: str, name: str) -> None:
        """Remove every series of a deleted search."""
        with self._lock:
            for metric, labels in self._series.pop((namespace, name), set()):
                try:
                    metric.remove(*labels)  # type: ignore[attr-defined]
                except KeyError:
                    pass


# Exported names, for docs and the dashboard test (Counters get "_total" in the exposition).
METRIC_NAMES = (
    "hyperprune_search_phase",
    "hyperprune_trials",
    "hyperprune_trials_stopped_early_total",
    "hyperprune_trial_ls_distance",
    "hyperprune_trial_rung_ls_distance",
    "hyperprune_best_metric",
    "hyperprune_dense_metric",
    "hyperprune_trial_epochs_spent",
    "hyperprune_trial_epochs_avoided",
    "hyperprune_trial_epochs_full_training",
    "hyperprune_actions_total",
    "hyperprune_reconcile_duration_seconds",
    "hyperprune_report_to_action_seconds",
    "hyperprune_handler_errors_total",
    "hyperprune_search_workers",
)
