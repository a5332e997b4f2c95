"""The search's status as it should be: phase, conditions, counts, summaries, best, dense, promotion. Pure.

Computed from the policy's state through its read model (``hyperprune.policy.summary``, which the
local engine's result.json reads too) and the operator's per-trial bookkeeping; the worker writes
the difference (``state.merge_patch``). See ``hyperprune.spec.status`` for the schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hyperprune.contract.document import dumped
from hyperprune.policy import SearchState, final_metric
from hyperprune.policy.summary import (
    best,
    latest_metric,
    measured_efficiency,
    promoted_front,
    savings_against_dense,
    trial_epochs,
)
from hyperprune_operator import naming
from hyperprune.spec import HyperpruneSearch
from hyperprune_operator.state import TrialRecord, final_report, set_condition, trial_summary


def search_phase(state: SearchState, promotion: Mapping[str, Any] | None) -> str:
    promoted = (promotion or {}).get("phase")
    if state.outcome == "failed" or promoted == "Failed":
        return "Failed"
    if state.outcome == "succeeded" and promoted == "Succeeded":
        return "Succeeded"
    return "Running" if state.trials else "Pending"


def trial_counts(state: SearchState) -> dict[str, int]:
    """Trials by phase, the dense reference included (it occupies a worker like any trial), and the total."""
    return {"total": len(state.trials), **{str(phase): n for phase, n in state.counts(dense=True).items()}}


def best_entry(search: HyperpruneSearch, state: SearchState, records: Mapping[str, TrialRecord]) -> dict[str, Any] | None:
    trial = best(search.spec, state)
    if trial is None:
        return None
    report = final_report(records[trial.id], trial) or {}
    out = {"trialId": trial.id, "metric": final_metric(trial), "testMetric": report.get("testMetric"),
           "sparsity": report.get("sparsity"), "params": trial.params.to_json(),
           "efficiency": dumped(measured_efficiency(trial)), "savings": dumped(savings_against_dense(state, trial))}
    return {k: v for k, v in out.items() if v is not None}


def front_entries(search: HyperpruneSearch, state: SearchState, records: Mapping[str, TrialRecord]) -> list[dict[str, Any]]:
    """A pareto search's front once promoted; each point's model stays in its trial's folder on the
    volume (the primary is also copied to spec.output.path)."""
    mount = search.spec.trial_template.volume.mount_path
    return [{"trialId": p.trial.id, "metric": p.metric, "cost": p.cost,
             "costName": search.spec.objective.cost if p.measured else "planned-density",
             "primary": p.trial.id == state.promoted,
             "modelPath": f"{naming.workdir(mount, search.name, p.trial.id, records[p.trial.id].run)}/model"}
            for p in promoted_front(search.spec, state)]


def dense_entry(state: SearchState, records: Mapping[str, TrialRecord]) -> dict[str, Any] | None:
    dense = state.dense
    if dense is None:
        return None
    report = final_report(records[dense.id], dense) or {}
    out = {"phase": dense.status, "epoch": dense.epoch, "metric": latest_metric(dense),
           "testMetric": report.get("testMetric"), "efficiency": dumped(measured_efficiency(dense))}
    return {k: v for k, v in out.items() if v is not None}


def desired_status(
    search: HyperpruneSearch,
    state: SearchState,
    records: Mapping[str, TrialRecord],
    *,
    promotion: Mapping[str, Any] | None,
    written: Mapping[str, Any],
    generation: int | None,
    start_time: str | None,
    now: str,
) -> dict[str, Any]:
    """The whole status; ``written`` is the status as last written (its conditions' transition times
    and completion time are kept)."""
    spec = search.spec
    phase = search_phase(state, promotion)
    summaries = {}
    for trial in state.trials:
        record = records[trial.id]
        summaries[trial.id] = trial_summary(trial, record, record.desired or record.written)
    by_phase = trial_counts(state)
    epochs = trial_epochs(spec, state)
    status: dict[str, Any] = {
        "phase": phase,
        "observedGeneration": generation,
        "strategy": spec.strategy.name,
        "metric": spec.metric,
        "mode": spec.metric_mode,
        "trials": by_phase,
        "trialSummaries": summaries,
        "trialEpochs": {"spent": epochs.spent, "avoided": epochs.avoided, "fullTraining": epochs.full_training},
        "outcome": state.outcome,
        "promotion": dict(promotion) if promotion else None,
        "best": best_entry(search, state, records),
        "front": front_entries(search, state, records),
        "dense": dense_entry(state, records),
        "startTime": start_time,
        "completionTime": written.get("completionTime"),
    }
    if phase in ("Succeeded", "Failed") and not status["completionTime"]:
        status["completionTime"] = now
    running = ", ".join(f"{n} {p}" for p, n in by_phase.items() if n and p != "total")
    promotion_failed = promotion is not None and promotion.get("phase") == "Failed"
    if state.outcome is not None:
        status["message"] = state.message
        if promotion_failed and promotion is not None:
            status["message"] = f"promotion failed: {promotion.get('message')}"
    else:
        status["message"] = f"{by_phase['total']} trials: {running}" if running else "starting"
    status["conditions"] = _conditions(written, phase, promotion, status["message"] or "", generation, now)
    return status


def _conditions(written: Mapping[str, Any], phase: str, promotion: Mapping[str, Any] | None, message: str,
                generation: int | None, now: str) -> list[dict[str, Any]]:
    conditions = set_condition(written.get("conditions") or [], "Invalid", "False", "SpecValid",
                               "the spec is valid", generation=generation, now=now)
    active = phase in ("Pending", "Running")
    conditions = set_condition(conditions, "Running", "True" if active else "False",
                               "TrialsRunning" if active else "SearchFinished",
                               "the search is training its trials" if active else "the search has finished",
                               generation=generation, now=now)
    if promotion:
        p = promotion["phase"]
        conditions = set_condition(
            conditions, "Promoted", "True" if p == "Succeeded" else "False",
            {"Pending": "Copying", "Running": "Copying", "Succeeded": "ModelCopied", "Failed": "PromotionFailed"}[p],
            promotion.get("message") or "", generation=generation, now=now)
    if phase in ("Succeeded", "Failed"):
        failed_by = "PromotionFailed" if (promotion or {}).get("phase") == "Failed" else "SearchFailed"
        conditions = set_condition(conditions, "Succeeded", "True" if phase == "Succeeded" else "False",
                                   "Promoted" if phase == "Succeeded" else failed_by, message,
                                   generation=generation, now=now)
        conditions = set_condition(conditions, "Failed", "True" if phase == "Failed" else "False",
                                   failed_by if phase == "Failed" else "Promoted", message,
                                   generation=generation, now=now)
    return conditions
