"""The status of a HyperpruneSearch, as the operator writes it. Torch-free.

The CRD's status schema is generated from ``SearchStatus`` (``hyperprune crd``), so the API server
checks what the operator writes and ``kubectl explain hyperprunesearch.status`` documents it.

    status:
      phase: Running                 # Pending | Running | Succeeded | Failed | Invalid
      observedGeneration: 1
      conditions: [...]              # Invalid, Running, Promoted, Succeeded, Failed (API conventions)
      trials: {total: 7, running: 2, stopped: 3, completed: 1, ...}   # every trial, dense included
      trialSummaries: {t003: {id: t003, phase: stopped, epoch: 2, lastDistance: 0.41, stopReason: ...}}
      best: {trialId: t001, metric: 93.2, ...}
      dense: {metric: 91.8, ...}     # the dense reference: the target the best is compared with
      promotion: {trialId: t001, phase: Succeeded, volume: persistentVolumeClaim:data, path: quickstart/best}
      trialEpochs: {spent: 31, avoided: 24, fullTraining: 88}

``trialSummaries`` (by trial id, so a merge patch updates one trial's entry) is also the search's list
of its trials: only trials listed there (or started again by the policy after a restart) take part in
the search; any other HyperpruneTrial is ignored. Creation order is the ids' order: dense, t000, t001, ...
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, JsonValue

from hyperprune.contract.document import Model
from hyperprune.contract.efficiency import Efficiency, Savings
from hyperprune.contract.report import MetricName

SearchPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Invalid"]
# A trial's status as the policy keeps it (hyperprune.policy.state) and the trial's phase on the cluster.
TrialPhase = Literal["pending", "running", "paused", "errored", "stopped", "completed", "diverged", "failed"]
TRIAL_PHASES: tuple[TrialPhase, ...] = ("pending", "running", "paused", "errored", "stopped", "completed", "diverged", "failed")

DATE_TIME: dict[str, JsonValue] = {"format": "date-time"}


class Condition(Model):
    """A condition as the Kubernetes API conventions define it (metav1.Condition)."""

    type: str = Field(max_length=316, pattern=r"^[A-Z][A-Za-z0-9]*$", description="Invalid, Running, Promoted, Succeeded or Failed")
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", description="CamelCase")
    message: str = Field("", max_length=32768)
    last_transition_time: str = Field(json_schema_extra=DATE_TIME, description="when status last changed")
    observed_generation: int | None = Field(None, ge=0, description="the spec generation the condition is about")


class TrialCounts(Model):
    """Trials by phase; the dense reference is counted (it is a trial of the search)."""

    total: int = Field(0, ge=0)
    pending: int = Field(0, ge=0)
    running: int = Field(0, ge=0)
    paused: int = Field(0, ge=0, description="reached their target epoch, waiting for a decision")
    errored: int = Field(0, ge=0, description="last attempt crashed or lost its pod; retried from the checkpoint")
    stopped: int = Field(0, ge=0, description="stopped early by the strategy")
    completed: int = Field(0, ge=0, description="trained to the final epoch")
    diverged: int = Field(0, ge=0)
    failed: int = Field(0, ge=0)


class TrialSummary(Model):
    id: str = Field(min_length=1)
    role: Literal["dense", "candidate"]
    params: dict[str, Any] = Field(default_factory=dict, description="the point of the search space")
    phase: TrialPhase
    epoch: int = Field(0, ge=0, description="epochs its current run has completed")
    target_epoch: int = Field(0, ge=0)
    run: int = Field(0, ge=0, description="retrainings from scratch (lsh-sync)")
    epochs_spent: int = Field(0, ge=0)
    failures: int = Field(0, ge=0)
    last_metric: float | None = Field(None, description="validation metric at its latest epoch")
    last_distance: float | None = Field(None, description="LS distance to the dense reference at its latest spectrum")
    stop_reason: str | None = None


class BestTrial(Model):
    trial_id: str
    metric: float | None = Field(None, description="validation metric at the final epoch")
    test_metric: float | None = None
    sparsity: float | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    efficiency: Efficiency | None = Field(None, description="its exported model's sizes, FLOPs and timings")
    savings: Savings | None = Field(None, description="against the dense reference's measurement")


class FrontEntry(Model):
    """One point of a pareto search's front (spec.objective.name pareto)."""

    trial_id: str
    metric: float = Field(description="validation metric at the final epoch")
    cost: float = Field(description="the objective's cost as measured (or planned density, see costName)")
    cost_name: str = Field(description="nonzero-params, bytes, latency, or planned-density where trials measured none")
    primary: bool = Field(False, description="the point promoted to spec.output.path (best metric on the front)")
    model_path: str = Field(description="its model folder as mounted in trial pods (compact export inside)")


class DenseTarget(Model):
    """The dense reference: its final metric is the target the best candidate is compared with."""

    phase: TrialPhase
    epoch: int = Field(0, ge=0)
    metric: float | None = Field(None, description="validation metric at its latest epoch")
    test_metric: float | None = None
    efficiency: Efficiency | None = Field(None, description="its model's sizes, FLOPs and timings")


class Promotion(Model):
    trial_id: str
    phase: Literal["Pending", "Running", "Succeeded", "Failed"]
    attempts: int = Field(0, ge=0, description="promotion pods started")
    pod: str | None = None
    volume: str = Field(description="the trial volume: persistentVolumeClaim:NAME, hostPath:PATH or emptyDir")
    path: str = Field(description="where the model is inside that volume")
    container_path: str = Field(description="the same place as mounted in trial and promotion pods")
    message: str | None = None
    time: str | None = Field(None, json_schema_extra=DATE_TIME)


class TrialEpochs(Model):
    spent: int = Field(0, ge=0, description="trial-epochs trained, dense reference and retraining included")
    avoided: int = Field(0, ge=0, description="epochs early-stopped candidates did not train")
    full_training: int = Field(0, ge=0, description="what training every candidate and the dense model to the end costs")


class SearchStatus(Model):
    phase: SearchPhase = "Pending"
    observed_generation: int | None = Field(None, ge=0)
    message: str | None = None
    conditions: list[Condition] = Field(default_factory=list)
    strategy: str | None = None
    metric: MetricName | None = None
    mode: Literal["min", "max"] | None = None
    trials: TrialCounts = Field(default_factory=TrialCounts)
    trial_summaries: dict[str, TrialSummary] = Field(
        default_factory=dict, description="every trial of the search, by id (creation order: dense, t000, t001, ...)"
    )
    best: BestTrial | None = None
    front: list[FrontEntry] = Field(default_factory=list, description="pareto: the promoted front, cheapest first")
    dense: DenseTarget | None = None
    promotion: Promotion | None = None
    trial_epochs: TrialEpochs = Field(default_factory=TrialEpochs)
    outcome: Literal["succeeded", "failed"] | None = Field(None, description="the policy's verdict")
    start_time: str | None = Field(None, json_schema_extra=DATE_TIME)
    completion_time: str | None = Field(None, json_schema_extra=DATE_TIME)


__all__ = [
    "TRIAL_PHASES",
    "BestTrial",
    "Condition",
    "DenseTarget",
    "FrontEntry",
    "Promotion",
    "SearchPhase",
    "SearchStatus",
    "TrialCounts",
    "TrialEpochs",
    "TrialPhase",
    "TrialSummary",
]
