"""TrialReport: one line of ``reports.jsonl``, one status update of a HyperpruneTrial. Part of the contract.

A trial appends one report per epoch it finishes; the epochs in ``lyapunov.epochs`` also carry the
spectrum. The last report of a run that reached ``training.epochs`` has status ``completed`` (and the
test metric when asked); a run whose loss became NaN/inf ends with status ``diverged`` and a message.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from hyperprune.contract.document import Model
from hyperprune.contract.efficiency import Efficiency

ReportStatus = Literal["running", "completed", "diverged"]
# What a trial measures on its validation split: perplexity (built-in language models), accuracy
# (built-in classification), or the name a task's entry point gives its own metric (mae, f1, ...).
MetricName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,39}$")]
Mode = Literal["min", "max"]  # min: lower is better (perplexity, an error); max: higher is better (accuracy)


class TrialReport(Model):
    trial_id: str
    epoch: int = Field(ge=0, description="epochs completed")
    status: ReportStatus = "running"
    metric: MetricName
    mode: Mode = Field(description="min: lower is better (perplexity); max: higher is better")
    train_loss: float | None = None
    val_loss: float | None = None
    val_metric: float | None = None
    test_metric: float | None = None
    test_loss: float | None = None
    sparsity: float = Field(0.0, description="realised fraction of zero weights over all prunable matrices")
    sparsity_per_layer: dict[str, float] = Field(default_factory=dict)
    lyapunov: list[float | None] | None = Field(
        None, description="exponents, descending, natural log per step; null for an exponent that is not finite"
    )
    lyapunov_seconds: float | None = None
    epoch_seconds: float = 0.0
    wall_seconds: float = Field(0.0, description="training time over all epochs so far, across resumes")
    tokens_per_second: float | None = None
    efficiency: Efficiency | None = Field(
        None, description="the model's sizes, FLOPs and kernel timings (at TrialConfig.efficiency's epochs and the last)"
    )
    message: str | None = None
    time: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
