"""Choosing lsh's default score leave-one-task-out, on the recorded trajectories of every task.

A *rule* is lsh with one score setting and one rung schedule (``RULES``; the published LS-only rule
is ``published``). Each is replayed (``hyperprune.replay``, nothing trained) on every task's ground
truth: trial-epochs with the dense reference counted (it trains only to the last LS rung), the
reduction vs full search, and the pick's regret (test metric vs full search's winner, the best final
validation metric).

Leave one task out: for each task, a rule is chosen on the OTHER tasks only (``choose``: among the
rules that reach the cost target on every training task, the smallest worst-case regret; ties by the
smallest worst-case cost), then scored on the held-out task. Only those out-of-fold numbers say how
the selection procedure does on a task it has not seen; a rule's in-sample numbers are reported
beside them, marked as such. With two tasks this is two folds of one training task each: weak
evidence, and said so.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from hyperprune.replay import RecordGap, outcome_of, replay
from hyperprune.replay.records import from_benchmark
from hyperprune.spec import SearchSpecError, parse_search

REDUCTION_TARGET = 10.0  # x fewer trial-epochs than full search, the dense reference counted
REGRET_TARGET = 0.01

EARLY = {"first": 2, "step": 1, "count": None}  # the benchmark's rungs: 2, 3, 4, 5 on 26 candidates


def _rungs(epochs: list[int] | None) -> dict[str, Any]:
    return {"epochs": epochs} if epochs else dict(EARLY)


# name -> (score section, rung epochs or None for the early rungs); fixed before any replay was seen.
RULES: dict[str, tuple[dict[str, Any], list[int] | None]] = {
    "published": ({"rule": "ls"}, None),
    "ls-top8": ({"rule": "ls", "exponents": 8}, None),
    "ls-top32": ({"rule": "ls", "exponents": 32}, None),
    "ls-2-4-8": ({"rule": "ls"}, [2, 4, 8]),
    "ls-then-val-8-16": ({"rule": "ls-then-metric", "metricFrom": 0.1}, [2, 4, 8, 16]),
    "ls-then-val-16": ({"rule": "ls-then-metric", "metricFrom": 0.2}, [2, 4, 8, 16]),
    "ls-then-val-20": ({"rule": "ls-then-metric", "metricFrom": 0.3}, [2, 4, 8, 20]),
    "ls-then-val-14": ({"rule": "ls-then-metric", "metricFrom": 0.2}, [2, 3, 4, 14]),
    "top32-then-val-16": ({"rule": "ls-then-metric", "metricFrom": 0.2, "exponents": 32}, [2, 4, 8, 16]),
    "top32-then-val-20": ({"rule": "ls-then-metric", "metricFrom": 0.3, "exponents": 32}, [2, 4, 8, 20]),
}


def rule_document(doc: dict[str, Any], rule: str) -> dict[str, Any]:
    score, epochs = RULES[rule]
    out = copy.deepcopy(doc)
    spec = out["spec"]
    rungs = {k: v for k, v in spec["strategy"].get("rungs", {}).items() if k in ("keepFraction", "finalists")}
    spec["strategy"] = {"name": "lsh", "rungs": {**rungs, **_rungs(epochs)}, "score": score}
    spec["dense"] = {"enabled": True}
    out["metadata"] = {"name": f"{out['metadata']['name']}-{rule}"[:60].rstrip("-")}
    return out


def replay_rule(traj: dict[str, Any], rule: str) -> dict[str, Any]:
    """One rule on one task's ground truth."""
    records = from_benchmark(traj, traj.get("label", "task"))
    try:
        spec = parse_search(rule_document(traj["document"], rule)).spec
        out = outcome_of(replay(spec, records), spec, records)
    except (SearchSpecError, RecordGap) as exc:
        return {"rule": rule, "invalid": str(exc).splitlines()[0]}
    return {"rule": rule, "rungEpochs": spec.rung_epochs(), "trialEpochs": out.trial_epochs,
            "candidateTrialEpochs": out.candidate_trial_epochs, "reduction": out.reduction,
            "regret": out.regret, "pick": out.pick.description if out.pick else None}


def _valid(row: dict[str, Any]) -> bool:
    return "invalid" not in row and row["regret"] is not None and row["reduction"] is not None


def choose(table: dict[str, dict[str, dict[str, Any]]], tasks: list[str]) -> str:
    """The rule chosen on ``tasks``: reaching the cost target on all of them, the smallest worst
    regret (then the largest worst reduction); without any that reaches it, the largest worst reduction."""
    def worst(rule: str) -> tuple[float, float]:
        rows = [table[t][rule] for t in tasks]
        if not all(_valid(r) for r in rows):
            return math.inf, 0.0
        return max(r["regret"] for r in rows), min(r["reduction"] for r in rows)

    candidates = sorted(RULES)
    meeting = [r for r in candidates if worst(r)[1] >= REDUCTION_TARGET and math.isfinite(worst(r)[0])]
    if meeting:
        return min(meeting, key=lambda r: (worst(r)[0], -worst(r)[1], r))
    return max(candidates, key=lambda r: (worst(r)[1], -worst(r)[0], r))


def leave_one_task_out(trajectories: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every rule on every task (in sample), and each task scored with the rule chosen on the others."""
    table = {task: {rule: replay_rule(traj, rule) for rule in RULES} for task, traj in trajectories.items()}
    folds = []
    tasks = sorted(trajectories)
    for held_out in tasks:
        training = [t for t in tasks if t != held_out]
        if not training:
            continue
        chosen = choose(table, training)
        row = table[held_out][chosen]
        folds.append({"heldOut": held_out, "trainedOn": training, "chosen": chosen, **{
            k: row.get(k) for k in ("trialEpochs", "reduction", "regret", "pick", "invalid")},
            "meetsTargets": _valid(row) and row["reduction"] >= REDUCTION_TARGET and row["regret"] <= REGRET_TARGET})
    overall = choose(table, tasks) if tasks else None
    return {"rules": {name: {"score": s, "rungEpochs": e or "2, 3, 4, 5 (first 2, step 1)"} for name, (s, e) in RULES.items()},
            "inSample": table, "outOfFold": folds, "chosenOnAllTasks": overall,
            "targets": {"reduction": REDUCTION_TARGET, "regret": REGRET_TARGET}}
