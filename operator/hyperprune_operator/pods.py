"""Trial pods as facts for the policy: what a pod's phase says about its trial. Pure.

The worker observes pods (watch events, listings); ``pod_facts`` turns them into the policy's facts,
which the worker then feeds to the policy's reducers (``mark_running``, ``record_exit``,
``record_error``), the same reducers the local engine feeds with its processes' exits:

| the current attempt's pod                        | fact                                              |
|--------------------------------------------------|---------------------------------------------------|
| Running                                          | the trial runs                                    |
| Succeeded, its target epoch reported             | nothing: its report made it paused or completed   |
| Succeeded without the target's report            | unconfirmed: read the trial first (the report may |
|                                                  | still be on its way), then an exit with code 0    |
| Failed                                           | an exit with the container's code and reason      |
| Failed, deleted by someone else while running    | lost (errored; always retried)                    |
| gone while the trial ran                         | lost                                              |
| Pending with a reason (unschedulable, its image  | waiting: the worker says why in an Event and,     |
| not there, its container not created)            | past trialTemplate.startTimeoutSeconds, deletes   |
|                                                  | it as a failed attempt (``start_deadline``)       |

A pod's end or its failure to start is told in the user's words (``POD_REASONS``), with the kubelet's
or the scheduler's own detail kept.
"""

from __future__ import annotations

import calendar
import contextlib
import time
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from hyperprune.policy import SearchState, TrialExit
from hyperprune_operator import naming
from hyperprune_operator.objects import Body, controller_uid, uid
from hyperprune_operator.state import TrialRecord


def pod_phase(pod: Body | None) -> str | None:
    return ((pod or {}).get("status") or {}).get("phase") or ("Pending" if pod else None)


def terminating(pod: Body) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def pod_summary(pod: Body, attempt: int) -> dict[str, Any]:
    """The TrialPod status of a pod: phase, and why it ended or cannot start."""
    status = pod.get("status") or {}
    out: dict[str, Any] = {"name": pod["metadata"]["name"], "attempt": attempt, "phase": pod_phase(pod)}
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


def describe_pod_end(pod: Body) -> str:
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


def describe_pod_wait(pod: Body) -> str | None:
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


def start_deadline(pod: Body, first_seen: float, timeout_s: float) -> float:
    """When a pod that has not started counts as a failed attempt (trialTemplate.startTimeoutSeconds):
    ``timeout_s`` after its creation, or after the worker first saw it when it carries no
    creationTimestamp."""
    created = pod["metadata"].get("creationTimestamp")
    if created:
        with contextlib.suppress(ValueError):
            first_seen = calendar.timegm(time.strptime(created, "%Y-%m-%dT%H:%M:%SZ"))
    return first_seen + timeout_s


class PodTable(MutableMapping[str, Body]):
    """The search's pods by name, indexed by the uid of the HyperpruneTrial incarnation that controls
    each trial pod, kept up to date as pods come and go (asking per trial would be trials x pods, and
    re-indexing every step is pods per step)."""

    def __init__(self, pods: Mapping[str, Body] | None = None) -> None:
        self._pods: dict[str, Body] = {}
        self._owned: dict[str | None, set[str]] = {}
        for name, pod in (pods or {}).items():
            self[name] = pod

    def __getitem__(self, name: str) -> Body:
        return self._pods[name]

    def __setitem__(self, name: str, pod: Body) -> None:
        if name in self._pods:
            del self[name]
        self._pods[name] = pod
        if pod["metadata"].get("labels", {}).get(naming.COMPONENT) == "trial":
            self._owned.setdefault(controller_uid(pod), set()).add(name)

    def __delitem__(self, name: str) -> None:
        pod = self._pods.pop(name)
        names = self._owned.get(controller_uid(pod))
        if names is not None:
            names.discard(name)
            if not names:
                del self._owned[controller_uid(pod)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._pods)

    def __len__(self) -> int:
        return len(self._pods)

    def owned_by(self, trial_uid: str | None) -> list[Body]:
        """The trial pods controlled by that HyperpruneTrial incarnation, by name."""
        return [self._pods[n] for n in sorted(self._owned.get(trial_uid, ()))]


@dataclass
class PodFacts:
    """What the current attempts' pods say, for the policy's reducers."""

    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)  # trial -> its current pod (TrialPod)
    running: list[str] = field(default_factory=list)  # trials whose pod runs
    exits: list[TrialExit] = field(default_factory=list)  # pods that failed
    lost: list[tuple[str, str]] = field(default_factory=list)  # (trial, why): pods gone while it ran
    unconfirmed: list[tuple[str, str]] = field(default_factory=list)  # (trial, pod): ended without the target's report
    waiting: list[tuple[str, Body]] = field(default_factory=list)  # (trial, pod): Pending, not being deleted


def pod_facts(state: SearchState, records: Mapping[str, TrialRecord], pods: Mapping[str, Body],
              deleting: set[str | None]) -> PodFacts:
    """The facts of every pending or running trial's current pod. ``deleting`` holds the uids of the
    pods this worker asked to delete: a deletion by anyone else while the trial runs is a loss."""
    facts = PodFacts()
    for trial in state.trials:
        if trial.status not in ("pending", "running"):
            continue
        record = records[trial.id]
        if not record.exists:
            continue
        name = naming.pod_name(record.name, record.attempt)
        pod = pods.get(name)
        if pod is not None and controller_uid(pod) != uid(record.body):
            continue  # a pod of an earlier incarnation of this trial: garbage collection removes it
        if pod is None:
            if record.pod is not None and record.pod_created and record.pod.get("phase") != "Deleted":
                facts.summaries[trial.id] = {**record.pod, "phase": "Deleted"}
                facts.lost.append((trial.id, f"pod {name} was deleted while the trial was running "
                                              f"(attempt {record.attempt})"))
            continue
        summary = pod_summary(pod, record.attempt)
        facts.summaries[trial.id] = summary
        phase = pod_phase(pod)
        if phase == "Pending" and not terminating(pod):
            facts.waiting.append((trial.id, pod))
        elif phase == "Running":
            facts.running.append(trial.id)
        elif phase == "Succeeded" and trial.epoch < trial.target_epoch:
            facts.unconfirmed.append((trial.id, name))
        elif phase == "Failed":
            what = describe_pod_end(pod)
            if terminating(pod) and uid(pod) not in deleting:
                facts.lost.append((trial.id, f"pod {name} was deleted while the trial was running ({what})"))
            else:
                facts.exits.append(TrialExit(trial.id, trial.target_epoch, summary.get("exitCode"), what))
    return facts


def unconfirmed_exit(trial_id: str, pod: str, until_epoch: int) -> TrialExit:
    """A pod that ended cleanly without its target's report (confirmed by reading the trial)."""
    return TrialExit(trial_id, until_epoch, 0, f"pod {pod}")
