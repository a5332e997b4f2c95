"""What a finished search leaves behind: ``DIR/result.json`` and the promoted model folder.

result.json (camelCase; metrics are validation metrics unless named test):

    name, strategy, status (succeeded | failed), message, metric (perplexity | accuracy), mode (min | max)
    rungEpochs, finalEpoch, objective ({name, tolerance, cost}: spec.objective)
    best: {id, params, description, config (the TrialConfig), valMetric, testMetric, sparsity,
           sparsityPerLayer, model (the promoted folder; null if it is gone), trialDir,
           efficiency (hyperprune.contract.efficiency.Efficiency: nonzero parameters, bytes dense and
           exported, FLOPs per step, kernel timings), savings (Savings: ratios against the dense's)} | null
    front: [{id, description, valMetric, testMetric, sparsity, cost, costName (the objective's cost, or
            planned-density where trials measured none), primary, model}] (pareto: every promoted point,
            cheapest first; the primary is ``best``; empty for the other objectives)
    dense: {id, status, valMetric, testMetric, epochsTrained, epochReached, stopReason, efficiency} | null
    trials: [{id, role, params, description, status, epochsTrained, epochReached, failures,
              stopReason, message, valMetric, testMetric, sparsity, rungs: [{epoch, valMetric, lsDistance}],
              trialDir}]
    counts (candidates by status), trialEpochs, fullTrialEpochs, wallSeconds, sessions
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hyperprune.local.follow import read_report_lines
from hyperprune.local.journal import read_journal
from hyperprune.local.layout import Workdir, read_json, write_json
from hyperprune.policy import SearchState, TrialState, final_metric
from hyperprune.policy.objectives import FrontPoint, front
from hyperprune.policy.summary import (
    measured_efficiency,
    promoted_front,
    rung_history,
    savings_against_dense,
    trial_epochs,
)
from hyperprune.contract.document import dumped
from hyperprune.contract.files import CONFIG_FILE, MODEL_DIR, REPORTS_FILE
from hyperprune.contract.promotion import promote_model, promoted_by_hyperprune
from hyperprune.contract.report import TrialReport
from hyperprune.spec.models import HyperpruneSearch, SearchSpec


def promote(workdir: Workdir, search: HyperpruneSearch, trial_id: str, output_folder: str) -> Path:
    """Copy the trial's ``model/`` folder to the output folder (``spec.output.folder`` in DIR),
    replacing an earlier promoted model there and nothing else (hyperprune.contract.promotion)."""
    return promote_model(workdir.trial(trial_id) / MODEL_DIR, workdir.output(output_folder),
                         search=search.metadata.name, trial=trial_id)


def promote_front(workdir: Workdir, search: HyperpruneSearch, spec: SearchSpec, state: SearchState, primary: str
                  ) -> list[Path]:
    """A pareto search's other front points, each copied to ``<output>-front/<trial id>`` the way the
    primary is (``front`` is computed from the completed candidates, so this can run before the
    primary's promotion is recorded)."""
    if spec.objective.name != "pareto":
        return []
    folder = workdir.output(spec.output.front_folder)
    return [promote_model(workdir.trial(p.trial.id) / MODEL_DIR, folder / p.trial.id,
                          search=search.metadata.name, trial=p.trial.id)
            for p in front(spec, state) if p.trial.id != primary]


def session_times(events: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """(start, end) of every engine session in the journal; a session killed without a word ends
    at its last event."""
    sessions: list[list[float]] = []
    for event in events:
        if event["event"] == "session":
            sessions.append([event["time"], event["time"]])
        elif sessions:
            sessions[-1][1] = event["time"]
    return [(a, b) for a, b in sessions]


def wall_seconds(events: list[dict[str, Any]]) -> float:
    return sum(end - start for start, end in session_times(events))


def last_report(workdir: Workdir, trial_id: str) -> TrialReport | None:
    reports = read_report_lines(workdir.trial(trial_id) / REPORTS_FILE)
    return reports[-1] if reports else None


def trial_entry(workdir: Workdir, spec: SearchSpec, state: SearchState, trial: TrialState) -> dict[str, Any]:
    report = last_report(workdir, trial.id)
    final = trial.status == "completed"
    epochs = sorted(set(spec.rung_epochs()) | {spec.final_epoch})
    return {
        "id": trial.id,
        "role": trial.role,
        "params": trial.params.to_json(),
        "description": trial.params.describe(),
        "status": trial.status,
        "epochsTrained": trial.epochs_spent,
        "epochReached": trial.epoch,
        "failures": trial.failures,
        "stopReason": trial.stop_reason,
        "message": trial.message,
        "valMetric": final_metric(trial),
        "testMetric": report.test_metric if final and report is not None else None,
        "sparsity": report.sparsity if report is not None else None,
        "rungs": [
            {"epoch": r.epoch, "valMetric": r.metric, "lsDistance": r.distance} for r in rung_history(state, trial, epochs)
        ],
        "trialDir": str(workdir.trial(trial.id)),
    }


def front_entry(workdir: Workdir, spec: SearchSpec, entry: dict[str, Any], point: FrontPoint, primary: str | None
                ) -> dict[str, Any]:
    """One point of a pareto search's front: its metrics, its cost and where its model was promoted."""
    model = (workdir.output(spec.output.folder) if point.trial.id == primary
             else workdir.output(spec.output.front_folder) / point.trial.id)
    return {
        "id": point.trial.id, "description": entry["description"], "valMetric": point.metric,
        "testMetric": entry["testMetric"], "sparsity": entry["sparsity"],
        "cost": point.cost, "costName": spec.objective.cost if point.measured else "planned-density",
        "primary": point.trial.id == primary,
        "model": str(model) if promoted_by_hyperprune(model) else None,
    }


def build_result(search: HyperpruneSearch, spec: SearchSpec, state: SearchState, workdir: Workdir) -> dict[str, Any]:
    events = read_journal(workdir.journal)
    epochs = trial_epochs(spec, state)
    trials = [trial_entry(workdir, spec, state, t) for t in state.trials]
    by_id = {t["id"]: t for t in trials}
    best = None
    if state.promoted is not None:
        entry = by_id[state.promoted]
        report = last_report(workdir, state.promoted)
        config_file = workdir.trial(state.promoted) / CONFIG_FILE
        best = {
            "id": state.promoted,
            "params": entry["params"],
            "description": entry["description"],
            "config": read_json(config_file) if config_file.exists() else None,
            "valMetric": entry["valMetric"],
            "testMetric": entry["testMetric"],
            "sparsity": entry["sparsity"],
            "sparsityPerLayer": report.sparsity_per_layer if report is not None else {},
            # null when the promoted folder is gone (deleted, and the winner's own model/ with it)
            "model": str(model) if promoted_by_hyperprune(model := workdir.output(spec.output.folder)) else None,
            "trialDir": entry["trialDir"],
            "efficiency": dumped(measured_efficiency(state.trial(state.promoted))),
            "savings": dumped(savings_against_dense(state, state.trial(state.promoted))),
        }
    dense = None
    if state.dense is not None:
        d = by_id[state.dense.id]
        dense = {k: d[k] for k in ("id", "status", "valMetric", "testMetric", "epochsTrained", "epochReached", "stopReason")}
        dense["efficiency"] = dumped(measured_efficiency(state.dense))
    return {
        "name": search.metadata.name,
        "strategy": spec.strategy.name,
        "status": state.outcome,
        "message": state.message,
        "metric": spec.metric,
        "mode": spec.metric_mode,
        "rungEpochs": spec.rung_epochs(),
        "finalEpoch": spec.final_epoch,
        "objective": spec.objective.dump(),
        "best": best,
        "front": [front_entry(workdir, spec, by_id[p.trial.id], p, state.promoted) for p in promoted_front(spec, state)],
        "dense": dense,
        "trials": trials,
        "counts": {k: v for k, v in state.counts().items() if v},
        "trialEpochs": epochs.spent,
        "fullTrialEpochs": epochs.full_training,
        "wallSeconds": round(wall_seconds(events), 3),
        "sessions": len(session_times(events)),
    }


def write_result(search: HyperpruneSearch, spec: SearchSpec, state: SearchState, workdir: Workdir) -> dict[str, Any]:
    result = build_result(search, spec, state, workdir)
    write_json(workdir.result, result)
    return result
