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

from hyperprune.schema import Model
from hyperprune.spec.status import TrialPhase
from hyperprune.trial.config import TrialConfig

TRIAL_KIND = "HyperpruneTrial"
TRIAL_PLURAL = "hyperprunetrials"


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


class TrialReportEntry(Model):
    """One epoch's report as the trial pod writes it (hyperprune.trial.kube_reporter.report_entry)."""

    epoch: int = Field(ge=1)
    run: int = Field(0, ge=0, description="which run of the trial sent it (see status.run)")
    status: Literal["running", "completed", "diverged"]
    metric: Literal["perplexity", "accuracy"]
    mode: Literal["min", "max"]
    val_metric: float | None = None
    val_loss: float | None = None
    train_loss: float | None = None
    test_metric: float | None = None
    test_loss: float | None = None
    sparsity: float | None = None
    lyapunov: list[float | None] | None = Field(None, description="exponents, descending (only at Lyapunov epochs)")
    epoch_seconds: float | None = None
    wall_seconds: float | None = None
    time: str | None = None
    message: str | None = None
    pod: str | None = None


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


def trial_crd() -> dict[str, Any]:
    from hyperprune.spec.crd import AGE, PrinterColumn, custom_resource_definition

    return custom_resource_definition(
        kind=TRIAL_KIND,
        plural=TRIAL_PLURAL,
        spec_model=TrialResourceSpec,
        status_model=TrialResourceStatus,
        description=(
            "One candidate (or the dense reference) of a HyperpruneSearch, created by the operator; its pods "
            "report each epoch's metric and Lyapunov spectrum into its status."
        ),
        short_names=("hpt", "hptrial"),
        printer_columns=(
            PrinterColumn("Search", "string", ".spec.search", "the search it belongs to", priority=1),
            PrinterColumn("Role", "string", ".spec.role", "dense reference or candidate"),
            PrinterColumn("Phase", "string", ".status.phase", "pending, running, paused, errored, stopped, completed, diverged or failed"),
            PrinterColumn("Epoch", "integer", ".status.epoch", "epochs completed"),
            PrinterColumn("Target", "integer", ".status.targetEpoch", "the epoch it was told to reach"),
            PrinterColumn("Distance", "number", ".status.lastDistance", "LS distance to the dense reference at its latest spectrum"),
            PrinterColumn("Metric", "number", ".status.lastMetric", "validation metric at its latest epoch"),
            PrinterColumn("Pod", "string", ".status.pod.name", "pod of the current attempt", priority=1),
            AGE,
        ),
    )


__all__ = [
    "TRIAL_KIND",
    "TRIAL_PLURAL",
    "HyperpruneTrial",
    "StopDetails",
    "TrialPod",
    "TrialReportEntry",
    "TrialResourceSpec",
    "TrialResourceStatus",
    "trial_crd",
]
