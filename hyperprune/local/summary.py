"""The plain-text summary ``hyperprune run`` prints when a search ends (from result.json)."""

from __future__ import annotations

from typing import Any

from hyperprune.contract.efficiency import Efficiency, savings_lines
from hyperprune.policy.actions import DENSE_READY
from hyperprune.spec.point import Point
from hyperprune.spec.summary import plural

STATUS_ORDER = ("completed", "stopped", "diverged", "failed", "running", "paused", "pending", "errored")


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def load_line(model_path: str) -> str:
    return f"from hyperprune import load_model; model, config = load_model({model_path!r})"


def summary_lines(result: dict[str, Any], report_path: str | None) -> list[str]:
    metric = result["metric"]
    lines = [
        f"Search {result['name']} {result['status']} (strategy {result['strategy']}) "
        f"in {_duration(result['wallSeconds'])}"
        + (f" over {result['sessions']} sessions" if result.get("sessions", 1) > 1 else "")
    ]
    if result["status"] != "succeeded":
        lines.append(f"  why: {result['message']}")
    candidates = [t for t in result["trials"] if t["role"] == "candidate"]
    counts = {s: sum(1 for t in candidates if t["status"] == s) for s in STATUS_ORDER}
    by_status = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    dense = result["dense"]
    dense_text = f"; dense reference {dense['status']}" if dense else ""
    if dense and dense["status"] == "stopped" and (dense.get("stopReason") or "").startswith(DENSE_READY):
        dense_text = f"; dense reference ready at epoch {dense['epochReached']} (the last rung)"
    lines.append(f"  trials: {plural(len(candidates), 'candidate')} — {by_status or 'none'}{dense_text}")
    full = result["fullTrialEpochs"]
    share = f", {result['trialEpochs'] / full:.0%} of the {full} that 'full' would spend" if full else ""
    lines.append(f"  cost: {result['trialEpochs']} trial-epochs{share}")
    best = result["best"]
    if best is not None:
        lines.append(f"  best: {best['id']} — {Point.from_json(best['params']).sentence()}")
        versus = ""
        if dense and dense["status"] == "completed" and dense.get("valMetric") is not None and best["valMetric"] is not None:
            gap = (best["valMetric"] - dense["valMetric"]) / dense["valMetric"]
            versus = f" vs dense {_num(dense['valMetric'])} ({gap:+.1%})"
        test = f" (test {_num(best['testMetric'])})" if best.get("testMetric") is not None else ""
        lines.append(f"        validation {metric} {_num(best['valMetric'])}{test}{versus}; "
                     f"realised sparsity {_num(best['sparsity'])}")
        if best.get("efficiency"):
            dense_efficiency = (dense or {}).get("efficiency")
            lines += [f"        {text}" for text in savings_lines(
                Efficiency.model_validate(best["efficiency"]),
                None if dense_efficiency is None else Efficiency.model_validate(dense_efficiency))]
        if best["model"] is not None:
            lines.append(f"  model: {best['model']}")
            lines.append(f"  load it: {load_line(best['model'])}")
        else:
            lines.append(f"  model: missing — the promoted folder was deleted, and {best['trialDir']}/model with it")
    else:
        problems = [t for t in result["trials"] if t["status"] in ("failed", "diverged")]
        for t in problems[:3]:
            lines.append(f"  {t['id']} {t['status']}: {t['stopReason'] or t['message']}")
            lines.append(f"      log: {t['trialDir']}/process.log")
    front = result.get("front") or []
    if front:
        cost = front[0]["costName"]
        lines.append(f"  front: {plural(len(front), 'point')} of {metric} against {cost}, cheapest first:")
        for point in front:
            where = point["model"] or "missing (its copy was deleted)"
            lines.append(f"        {point['id']} {metric} {_num(point['valMetric'])}, {cost} {_num(point['cost'])}"
                         f"{' (primary)' if point['primary'] else ''}: {where}")
    if report_path:
        lines.append(f"  report: {report_path}")
    return lines
