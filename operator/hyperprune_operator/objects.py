"""What the worker keeps of the Kubernetes objects it watches: identity, ownership, slim copies. Pure.

A search of 2,000 trials sees every trial and pod many times; keeping only what decisions read (not a
trial's reports, which live in its record, nor a pod's spec, which carries the trial config) is what
keeps the operator's memory flat in the number of trials.
"""

from __future__ import annotations

import json
import time
from typing import Any

from hyperprune_operator import naming

Body = dict[str, Any]


def uid(body: Body | None) -> str | None:
    return ((body or {}).get("metadata") or {}).get("uid")


def controller_uid(body: Body) -> str | None:
    """The uid of the object's controlling owner (a trial's search, a pod's trial or search)."""
    for ref in (body.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def config_json(config: dict[str, Any] | str) -> str:
    """A trial's pinned TrialConfig in the canonical JSON its pods get (a string holds a few kB
    where the parsed document holds tens: the worker keeps one per trial)."""
    return config if isinstance(config, str) else json.dumps(config, separators=(",", ":"), sort_keys=True)


def slim_trial(body: Body) -> Body:
    """A HyperpruneTrial's identity and spec, its config as JSON (its reports live in its record)."""
    meta = body.get("metadata") or {}
    spec = dict(body.get("spec") or {})
    if "config" in spec:
        spec["config"] = config_json(spec["config"])
    return {"apiVersion": body.get("apiVersion", naming.API_VERSION), "kind": body.get("kind", naming.TRIAL_KIND),
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "labels", "ownerReferences") if k in meta},
            "spec": spec}


def slim_trial_event(body: Body) -> Body:
    """What the worker reads of a HyperpruneTrial's watch event: the slim trial and its status."""
    return {**slim_trial(body), "status": body.get("status") or {}}


def slim_pod(pod: Body) -> Body:
    """A pod's identity, labels and how it is doing (not its spec, which carries the trial config)."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    keep_meta = ("name", "namespace", "uid", "labels", "annotations", "ownerReferences", "creationTimestamp",
                 "deletionTimestamp")
    keep_status = ("phase", "reason", "message", "conditions", "containerStatuses")
    return {"metadata": {k: meta[k] for k in keep_meta if k in meta},
            "status": {k: status[k] for k in keep_status if k in status}}


def now_iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
