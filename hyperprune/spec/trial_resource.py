"""The HyperpruneTrial custom resource: one candidate (or the dense reference) of a search. Torch-free.

The operator creates one per trial, named ``<search>-<trialId>`` and owned by the search, and one pod
per attempt of it, owned by the trial. Two writers share the status without racing, each with JSON
merge patches of its own keys:

* the operator: ``phase`` (the policy's trial status), ``targetEpoch``, ``run``, ``attempt``,
  ``epoch``, ``epochsSpent``, ``failures``, ``stopReason``/``stop``, ``message``, ``pod``,
  ``lastMetric``/``lastDistance`` (for ``kubectl get``);
* the trial pod (``hyperprune.trial.kube_reporter``): ``reports["<epoch>"]``, one key per epoch.

The spec is written once, at creation: what to train (the exact ``TrialConfig`` the pods run, so a
later edit of the search cannot change a trial half-way) and where it starts (``targetEpoch``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PositiveInt

from hyperprune.contract.document import Model
from hyperprune.contract.pod import TrialReportEntry
from hyperprune.spec.status import TrialPhase
from hyperprune.contract.trial import TrialConfig



class TrialResourceSpec(Model):
    """What one trial trains. Written by the operator when it creates the trial."""

    search: str = Field(min_length=1, description="name of the HyperpruneSearch this trial belongs to")
    trial_id: str = Field(
        min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", description="dense, t000, t001, ..."
    )
    role: Literal["dense", "candidate"]
    params: dict[str, Any] = Field(default_factory=dict, description="the point of the search space")
    target_epoch: PositiveInt = Field(description="the epoch its first pod trains to (later targets: status.targetEpoch)")
    config: TrialConfig = Field(description="the trial config every pod of this trial runs")


class TrialPod(Model):
    """The pod of the current attempt, as last observed."""

    name: str
    attempt: int = Field(ge=1)
    phase: Literal["Pending", "Running", "Succeeded", "Failed", "Unknown", "Deleted"] | None = None
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None


class StopDetails(Model):
    """Why the strategy stopped the trial: its rank at a rung."""

    rank: int | None = None
    of: int | None = None
    keep: int | None = None
    score: float | None = Field(None, description="what it was ranked by (LS distance, metric, draw)")
    rung_epoch: int | None = None


class TrialResourceStatus(Model):
    # written by the operator
    phase: TrialPhase | None = None
    target_epoch: int | None = Field(None, ge=1, description="the epoch it was last told to reach")
    run: int = Field(0, ge=0, description="retrainings from scratch; run N > 0 trains in a fresh work dir")
    attempt: int = Field(0, ge=0, description="pods started for this trial")
    epoch: int = Field(0, ge=0, description="epochs its current run has completed")
    epochs_spent: int = Field(0, ge=0, description="trial-epochs trained, retraining counted")
    failures: int = Field(0, ge=0, description="attempts that crashed or lost their pod")
    stop_reason: str | None = None
    stop: StopDetails | None = None
    message: str | None = None
    last_metric: float | None = None
    last_distance: float | None = None
    distance_epoch: int | None = None
    pod: TrialPod | None = None
    # written by the trial pod
    reports: dict[str, TrialReportEntry] = Field(default_factory=dict, description="by epoch")


class HyperpruneTrial(Model):
    api_version: Literal["hyperprune.io/v1alpha1"]
    kind: Literal["HyperpruneTrial"]
    metadata: dict[str, Any]
    spec: TrialResourceSpec
    status: TrialResourceStatus | None = None


__all__ = [
    "HyperpruneTrial",
    "StopDetails",
    "TrialPod",
    "TrialReportEntry",
    "TrialResourceSpec",
    "TrialResourceStatus",
]
