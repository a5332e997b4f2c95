"""What the kopf handlers share: the API client, the search workers, the thread pool, the metrics.

``handlers.py`` stays a thin layer of kopf decorators that call into this. A ``SearchWorker`` per
search is driven by ``run_search`` (the search's kopf daemon): it waits for events or its own timer,
then runs one ``step`` in the thread pool, never on kopf's event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import threading
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any

from hyperprune_operator import manifests, naming
from hyperprune_operator.kube import Kube, api_error
from hyperprune_operator.metrics import Metrics
from hyperprune_operator.worker import SearchWorker, WorkerSettings

log = logging.getLogger("hyperprune.operator")

MAX_BACKOFF = 60.0


@dataclass
class OperatorConfig:
    namespaces: list[str] = field(default_factory=list)
    all_namespaces: bool = False
    kubeconfig: str | None = None
    metrics_port: int = 9090
    metrics_host: str = "0.0.0.0"
    liveness: str | None = None
    peering: str | None = None
    standalone: bool = False
    priority: int | None = None
    peering_lifetime: int = 60
    workers: int = 16
    io_threads: int = 32
    behind_threads: int = 4
    status_interval: float = 1.0
    resync_interval: float = 300.0
    manage_trial_rbac: bool = True
    trial_defaults: dict[str, Any] = field(default_factory=dict)  # --trial-defaults
    instance: str = field(default_factory=socket.gethostname)

    def worker_settings(self) -> WorkerSettings:
        return WorkerSettings(status_interval=self.status_interval, resync_interval=self.resync_interval,
                              manage_trial_rbac=self.manage_trial_rbac, trial_defaults=self.trial_defaults,
                              instance=self.instance)


class Runtime:
    def __init__(self, config: OperatorConfig, kube: Kube, metrics: Metrics | None = None) -> None:
        self.config = config
        self.kube = kube
        self.metrics = metrics or Metrics()
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=config.workers,
                                                          thread_name_prefix="hyperprune-worker")
        # Independent API calls of a step (one status patch per trial, pod creates, events) go out at once.
        self.io = concurrent.futures.ThreadPoolExecutor(max_workers=config.io_threads,
                                                        thread_name_prefix="hyperprune-io")
        # Writes behind the steps (stops of waiting candidates, progress, pod deletions): few threads,
        # so that they leave the API server room for the writes a step waits for.
        self.behind = concurrent.futures.ThreadPoolExecutor(max_workers=config.behind_threads,
                                                            thread_name_prefix="hyperprune-behind")
        # Re-listings (one per search per resync interval, each up to a minute on an overloaded API
        # server): threads of their own, so that they never hold up the writes behind the steps.
        self.lister = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="hyperprune-list")
        self.workers: dict[tuple[str, str], SearchWorker] = {}
        self.wakers: dict[tuple[str, str], asyncio.Event] = {}
        self._by_label: dict[tuple[str, str], tuple[str, str]] = {}
        self._rbac_lock = threading.Lock()
        self._rbac_done: set[tuple[str, str]] = set()

    # ---- routing watch events to workers -----------------------------------------------------------

    def _route(self, namespace: str | None, search: str | None, label: str | None) -> tuple[str, str] | None:
        if namespace is None:  # every resource the operator watches is namespaced
            return None
        if search is not None and (namespace, search) in self.workers:
            return namespace, search
        if label is not None:
            return self._by_label.get((namespace, label))
        return None

    def offer(self, kind: str, event: Mapping[str, Any]) -> None:
        """Hand a watch event to the worker of the search it belongs to (if this replica runs one)."""
        try:
            self._offer(kind, event)
        except Exception:
            self.metrics.errors.labels("event-routing").inc()
            raise

    def _offer(self, kind: str, event: Mapping[str, Any]) -> None:
        body = event.get("object") or {}
        meta = body.get("metadata") or {}
        namespace = meta.get("namespace")
        if kind == "search":
            key = self._route(namespace, meta.get("name"), None)
        elif kind == "trial":
            key = self._route(namespace, (body.get("spec") or {}).get("search"), None)
        else:
            key = self._route(namespace, None, (meta.get("labels") or {}).get(naming.LABEL_SEARCH))
        if key is None:
            return
        self.workers[key].offer(kind, event.get("type"), body)
        self.wakers[key].set()

    # ---- one search --------------------------------------------------------------------------------------

    async def run_search(self, namespace: str, name: str, body: dict[str, Any], stopped: Any) -> None:
        """The search's daemon: step its worker whenever events or its timer say so, until stopped."""
        key = (namespace, name)
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        worker = SearchWorker(self.kube, namespace, name, settings=self.config.worker_settings(),
                              metrics=self.metrics, ensure_trial_rbac=self.ensure_trial_rbac, io=self.io,
                              behind=self.behind, lister=self.lister, notify=lambda: loop.call_soon_threadsafe(wake.set))
        self.workers[key], self.wakers[key] = worker, wake
        self._by_label[(namespace, naming.label_value(name))] = key
        self.metrics.workers.set(len(self.workers))
        worker.offer("search", None, body)
        failures = 0
        log.info("worker for %s/%s started", namespace, name)
        try:
            while not stopped:
                wake.clear()
                try:
                    delay = await loop.run_in_executor(self.pool, worker.step)
                    failures = 0
                except Exception as exc:
                    failures += 1
                    delay = min(2.0 ** failures / 2, MAX_BACKOFF)
                    self.metrics.errors.labels("search-worker").inc()
                    log.warning("worker for %s/%s: step failed (%s); retrying in %.1f s", namespace, name,
                                api_error(exc), delay, exc_info=not hasattr(exc, "status"))
                if worker.gone:
                    break
                await self._sleep(wake, stopped, delay)
        finally:
            self.workers.pop(key, None)
            self.wakers.pop(key, None)
            self._by_label.pop((namespace, naming.label_value(name)), None)
            self.metrics.workers.set(len(self.workers))
            reason = getattr(stopped, "reason", None)
            if worker.gone or "DELETED" in str(reason):
                self.metrics.forget(namespace, name)
            log.info("worker for %s/%s stopped (%s)", namespace, name, reason or "search deleted")

    @staticmethod
    async def _sleep(wake: asyncio.Event, stopped: Any, delay: float) -> None:
        waiters = {asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stopped.wait())}
        try:
            await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    # ---- the trial pods' ServiceAccount ----------------------------------------------------------------

    def ensure_trial_rbac(self, namespace: str, service_account: str) -> None:
        """Create the trial ServiceAccount, Role and RoleBinding in a namespace, once per process."""
        key = (namespace, service_account)
        with self._rbac_lock:
            if key in self._rbac_done:
                return
        try:
            for body in manifests.trial_rbac(namespace, service_account):
                if self.kube.ensure(body):
                    log.info("created %s %s/%s for trial pods", body["kind"], namespace, body["metadata"]["name"])
        except Exception as exc:  # e.g. not allowed: the pods then fail with a clear message
            log.warning("cannot ensure the trial ServiceAccount %s/%s: %s", namespace, service_account, api_error(exc))
            return
        with self._rbac_lock:
            self._rbac_done.add(key)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.io.shutdown(wait=False, cancel_futures=True)
        self.behind.shutdown(wait=False, cancel_futures=True)
        self.lister.shutdown(wait=False, cancel_futures=True)
