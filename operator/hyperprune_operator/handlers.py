"""kopf handlers: thin decorators over ``Runtime`` (routing) and ``SearchWorker`` (deciding).

* one daemon per HyperpruneSearch runs its worker (kopf starts it for every search it sees, stops
  it when the search is deleted or the operator pauses for a peer, and holds a finalizer meanwhile);
* watch events of searches, trials and the operator's pods are handed to the worker they belong to;
* nothing here decides anything: handlers never patch, they route (on the event loop: they only
  append to a worker's inbox and wake it).

The runtime is in ``memo.runtime`` (set by ``main``).
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from hyperprune_operator import naming

FINALIZER = f"{naming.GROUP}/search-worker"


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    config = memo.runtime.config
    # kopf would post every INFO log line of a handler as a Kubernetes Event; the workers post their own.
    settings.posting.level = logging.WARNING
    settings.persistence.finalizer = FINALIZER
    # Progress and diff-base in annotations only: the search's status is the operator's, and its
    # schema would prune a status.kopf field.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=naming.GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=naming.GROUP)
    settings.peering.lifetime = config.peering_lifetime
    settings.watching.server_timeout = 270  # re-list well before a watch's resourceVersion expires
    # kopf keeps a worker task per object until it has been idle this long (default 5 s): a big
    # search's thousands of trials and pods each report every few seconds, and the handlers only
    # hand each event on to a search worker's inbox.
    settings.batching.idle_timeout = 1.0


@kopf.daemon(naming.GROUP, naming.VERSION, naming.SEARCH_PLURAL, cancellation_timeout=30)
async def search_worker(namespace: str | None, name: str, body: kopf.Body, stopped: kopf.DaemonStopped, memo: Any,
                        **_: Any) -> None:
    assert namespace is not None  # HyperpruneSearch is namespaced
    await memo.runtime.run_search(namespace, name, dict(body), stopped)


@kopf.on.event(naming.GROUP, naming.VERSION, naming.SEARCH_PLURAL)
async def search_event(event: kopf.RawEvent, memo: Any, **_: Any) -> None:
    memo.runtime.offer("search", event)


@kopf.on.event(naming.GROUP, naming.VERSION, naming.TRIAL_PLURAL)
async def trial_event(event: kopf.RawEvent, memo: Any, **_: Any) -> None:
    memo.runtime.offer("trial", event)


@kopf.on.event("", "v1", "pods", labels={naming.MANAGED_BY: naming.OPERATOR})
async def pod_event(event: kopf.RawEvent, memo: Any, **_: Any) -> None:
    memo.runtime.offer("pod", event)


@kopf.on.probe(id="searches")
def searches_probe(memo: Any, **_: Any) -> int:
    """Liveness details: the searches this replica works on."""
    return len(memo.runtime.workers)


@kopf.on.cleanup()
def cleanup(memo: Any, **_: Any) -> None:
    memo.runtime.shutdown()
