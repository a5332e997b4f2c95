"""Promotion as a small state machine: which promotion pod to create, and what its phase means. Pure.

(The promotion pod's own program, which copies the model on the trial volume, is
``hyperprune_operator.promote``.)

``status.promotion`` records the trial promoted, the attempts made and the current pod. A step reads
the current attempt's pod and returns the new promotion status, whether to create an attempt's pod
(a new attempt is written to the status first, so a restarted operator resumes that attempt instead
of starting another), and the Events to post:

    no attempt yet, or the pod failed, or it vanished while running  -> a new attempt (up to the limit)
    the recorded attempt's pod was never created (a restart between)  -> create it
    the pod runs                                                      -> Running
    the pod succeeded                                                 -> Succeeded (Promoted event)
    attempts used up                                                  -> Failed (PromotionFailed event)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hyperprune_operator import naming
from hyperprune_operator.objects import Body
from hyperprune_operator.pods import describe_pod_end, pod_phase

Event = tuple[str, str, str]  # (reason, message, Normal | Warning), about the search


@dataclass(frozen=True)
class PromotionStep:
    promotion: dict[str, Any]  # the promotion status after this step
    create: int | None = None  # create the promotion pod of this attempt
    record_first: bool = False  # write the status (the new attempt) before creating its pod
    events: tuple[Event, ...] = ()


def promotion_step(promotion: dict[str, Any], pod: Body | None, *, search: str, max_attempts: int,
                   now: str) -> PromotionStep:
    """The next step of a promotion whose current attempt's pod is ``pod`` (None: absent, or not
    this search's)."""
    p = dict(promotion)
    if p["phase"] in ("Succeeded", "Failed"):
        return PromotionStep(p)
    attempts = int(p.get("attempts", 0))
    phase = pod_phase(pod)
    if attempts and pod is None and p["phase"] == "Pending":
        return PromotionStep(p, create=attempts)
    if attempts == 0 or (pod is None and p["phase"] == "Running") or phase == "Failed":
        if attempts and phase == "Failed" and pod is not None:
            p["message"] = describe_pod_end(pod)
        elif attempts:
            p["message"] = f"promotion pod {p.get('pod')} was deleted"
        if attempts >= max_attempts:
            p.update(phase="Failed", time=now)
            return PromotionStep(p, events=((
                "PromotionFailed",
                f"the model of {p['trialId']} could not be copied after {attempts} attempts: {p.get('message')}",
                "Warning",
            ),))
        attempts += 1
        p.update(phase="Pending", attempts=attempts, pod=naming.promotion_pod_name(search, attempts))
        return PromotionStep(p, create=attempts, record_first=True)
    if phase == "Running" and p["phase"] == "Pending":
        p["phase"] = "Running"
    elif phase == "Succeeded":
        p.update(phase="Succeeded", time=now, message=f"model of {p['trialId']} copied to {p['containerPath']}")
        return PromotionStep(p, events=((
            "Promoted",
            f"the model of {p['trialId']} is at {p['path']} in {p['volume']} ({p['containerPath']} in trial pods)",
            "Normal",
        ),))
    return PromotionStep(p)
