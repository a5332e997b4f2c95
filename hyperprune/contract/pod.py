"""What a trial pod and the operator agree on. Part of the contract.

The operator starts each trial pod with its config and identity in the environment; the pod pushes
every report into its own HyperpruneTrial's status, under ``status.reports["<epoch>"]``, in the form
``report_entry`` writes and ``TrialReportEntry`` reads. Size bounds keep a trial object far below
etcd's 1.5 MiB object limit.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field

from hyperprune.contract.document import Model
from hyperprune.contract.efficiency import Efficiency
from hyperprune.contract.report import MetricName, Mode, TrialReport

# The pod's environment, set by the operator.
ENV_CONFIG = "HYPERPRUNE_TRIAL_CONFIG"  # the TrialConfig as JSON (hyperprune trial --config-env)
ENV_NAME = "HYPERPRUNE_TRIAL_NAME"  # the HyperpruneTrial to patch
ENV_NAMESPACE = "HYPERPRUNE_NAMESPACE"  # its namespace (downward API, metadata.namespace)
ENV_RUN = "HYPERPRUNE_TRIAL_RUN"  # which run of the trial the reports belong to (a retrain from scratch starts a new one)
ENV_POD = "HYPERPRUNE_POD_NAME"  # the pod sending the reports (recorded with each one)

SPECTRUM_DIGITS = 6  # LS distances differ between candidates far above 1e-6 relative
SCALAR_DIGITS = 7
MESSAGE_CHARS = 1024
# The operator's bound on one trial object (etcd refuses objects over 1.5 MiB; leave headroom).
MAX_TRIAL_OBJECT_BYTES = 1_000_000


class TrialReportEntry(Model):
    """One epoch's report as the trial pod writes it (``report_entry``)."""

    epoch: int = Field(ge=1)
    run: int = Field(0, ge=0, description="which run of the trial sent it (see status.run)")
    status: Literal["running", "completed", "diverged"]
    metric: MetricName
    mode: Mode
    val_metric: float | None = None
    val_loss: float | None = None
    train_loss: float | None = None
    test_metric: float | None = None
    test_loss: float | None = None
    sparsity: float | None = None
    lyapunov: list[float | None] | None = Field(None, description="exponents, descending (only at Lyapunov epochs)")
    efficiency: Efficiency | None = Field(None, description="sizes, FLOPs and timings (at efficiency epochs and the last)")
    epoch_seconds: float | None = None
    wall_seconds: float | None = None
    time: str | None = None
    message: str | None = None
    pod: str | None = None


def _round(x: float | None, digits: int) -> float | None:
    if x is None or not math.isfinite(x):
        return None  # JSON and Kubernetes have no NaN/inf
    return float(f"{x:.{digits}g}")


def report_entry(report: TrialReport, run: int = 0, pod: str | None = None) -> dict[str, Any]:
    """One ``status.reports["<epoch>"]`` value (a ``TrialReportEntry`` on the wire).

    Per-layer sparsity stays in the pod's reports.jsonl: it adds a key per layer to every epoch."""
    entry: dict[str, Any] = {
        "epoch": report.epoch,
        "run": run,
        "status": report.status,
        "metric": report.metric,
        "mode": report.mode,
        "valMetric": _round(report.val_metric, SCALAR_DIGITS),
        "valLoss": _round(report.val_loss, SCALAR_DIGITS),
        "trainLoss": _round(report.train_loss, SCALAR_DIGITS),
        "sparsity": _round(report.sparsity, SCALAR_DIGITS),
        "epochSeconds": _round(report.epoch_seconds, 4),
        "wallSeconds": _round(report.wall_seconds, 4),
        "time": report.time,
    }
    if report.test_metric is not None:
        entry["testMetric"] = _round(report.test_metric, SCALAR_DIGITS)
        entry["testLoss"] = _round(report.test_loss, SCALAR_DIGITS)
    if report.lyapunov is not None:
        entry["lyapunov"] = [_round(x, SPECTRUM_DIGITS) for x in report.lyapunov]
    if report.efficiency is not None:
        entry["efficiency"] = report.efficiency.dump()
    if report.message:
        entry["message"] = report.message[:MESSAGE_CHARS]
    if pod:
        entry["pod"] = pod
    return entry


def report_patch(report: TrialReport, run: int = 0, pod: str | None = None) -> dict[str, Any]:
    """The merge patch of the status subresource carrying one report."""
    return {"status": {"reports": {str(report.epoch): report_entry(report, run, pod)}}}
