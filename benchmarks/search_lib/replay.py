"""Strategies replayed on recorded trajectories.

Trials are deterministic (the same config and seed give bit-identical results) and continuing from a
checkpoint equals an uninterrupted run, so what a strategy decides on a pool, and the trial-epochs it
spends, are exactly what ``hyperprune.policy.decide`` does when fed the ground truth's reports. The
replay is ``hyperprune.policy.simulate.Simulation`` with each trial's recorded epoch times: wall time
is the recorded seconds of the epochs a strategy trains, scheduled on ``budget.parallelism`` workers
(a spectrum's seconds count only at the epochs that strategy computes one; process start-up and
checkpoint loading are not included). ``live.py`` checks the replay against a real engine run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hyperprune.policy import Continue, Promote, Start, action_to_json
from hyperprune.policy.simulate import Simulation, Trajectory
from hyperprune.spec.models import SearchSpec
from hyperprune.spec.point import Point


class MissingEpoch(RuntimeError):
    """The ground truth lacks what a replayed strategy needs (a spectrum at one of its rung epochs)."""


@dataclass
class Recorded:
    """The ground truth of one task, looked up by point."""

    dense: dict[str, Any]
    candidates: list[dict[str, Any]]
    by_key: dict[str, dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.by_key = {Point.from_json(c["point"]).key: c for c in self.candidates}

    def record(self, point: Point) -> dict[str, Any]:
        if point.is_dense:
            return self.dense
        try:
            return self.by_key[point.key]
        except KeyError:
            raise MissingEpoch(f"no ground truth for point {point}") from None


def epoch_entry(record: dict[str, Any], epoch: int) -> dict[str, Any]:
    entries = record["epochs"]
    if 1 <= epoch <= len(entries) and entries[epoch - 1]["epoch"] == epoch:
        return entries[epoch - 1]
    for e in entries:
        if e["epoch"] == epoch:
            return e
    raise MissingEpoch(f"trial {record['id']} has no report for epoch {epoch}")


def trajectory_of(record: dict[str, Any], spectrum_epochs: set[int]) -> Trajectory:
    def metric(epoch: int) -> float:
        value = epoch_entry(record, epoch)["valMetric"]
        return math.inf if value is None else float(value)

    def spectrum(epoch: int) -> np.ndarray | None:
        values = epoch_entry(record, epoch)["spectrum"]
        if values is None:
            raise MissingEpoch(f"trial {record['id']} recorded no spectrum at epoch {epoch}; the strategy needs one")
        return np.array([math.nan if v is None else v for v in values], dtype=np.float64)

    diverge_at = record.get("divergedAt")
    if diverge_at is None and record["status"] != "completed":
        # A ground-truth trial that crashed or stopped short: replayed as diverging at the first epoch
        # it never reported (ranked last, never promoted); the results count it under candidateStatus.
        diverge_at = len(record["epochs"]) + 1
    return Trajectory(metric=metric, spectrum=spectrum, diverge_at=diverge_at)


@dataclass
class Replay(Simulation):
    """The simulator with each trial's own recorded epoch times."""

    recorded: Recorded | None = None

    def epoch_seconds(self, trial_id: str, epoch: int) -> float:
        record = self.recorded.record(self.state.trial(trial_id).params)  # type: ignore[union-attr]
        if epoch > len(record["epochs"]):  # the epoch it diverged (or crashed) in: about as long as the one before
            prior = [e for e in record["epochs"] if e["epoch"] < epoch]
            return float(prior[-1]["epochSeconds"]) if prior else 0.0
        entry = epoch_entry(record, epoch)
        seconds = float(entry["epochSeconds"])
        if epoch not in self._spectrum_epochs:
            seconds -= float(entry.get("lyapunovSeconds") or 0.0)
        return max(seconds, 0.0)


def replay(spec: SearchSpec, recorded: Recorded) -> Replay:
    epochs = set(spec.lyapunov_epochs())
    sim = Replay(spec, lambda tid, point: trajectory_of(recorded.record(point), epochs), recorded=recorded)
    return sim.run()


def essential(action_json: dict[str, Any]) -> dict[str, Any]:
    """The parts of an action that must agree between a replay and a live run (reasons carry
    formatted numbers and are compared separately)."""
    keep = ("action", "trialId", "role", "untilEpoch", "fromScratch", "rank", "of", "rungEpoch", "keep", "outcome")
    out = {k: action_json[k] for k in keep if k in action_json}
    if "params" in action_json:
        out["point"] = Point.from_json(action_json["params"]).key
    return out


def strategy_outcome(sim: Replay, recorded: Recorded) -> dict[str, Any]:
    """What one strategy spent and found."""
    state = sim.state
    trials = []
    for t in state.trials:
        rec = recorded.record(t.params)
        trials.append(
            {
                "id": t.id,
                "record": rec["id"],
                "status": t.status,
                "epochsSpent": t.epochs_spent,
                "epochReached": t.epoch,
                "stopReason": t.stop_reason,
            }
        )
    pick = state.trial(state.promoted) if state.promoted else None
    pick_rec = recorded.record(pick.params) if pick else None
    starts = [a for _, a in sim.log if isinstance(a, Start)]
    continues = [a for _, a in sim.log if isinstance(a, Continue)]
    return {
        "outcome": state.outcome,
        "message": state.message,
        "trialEpochs": state.trial_epochs,
        "candidateTrialEpochs": sum(t.epochs_spent for t in state.candidates),
        "wallSecondsReplayed": round(sim.clock, 3),
        "pick": pick_rec["id"] if pick_rec else None,
        "pickDescription": pick_rec["description"] if pick_rec else None,
        "pickValMetric": final_val(pick_rec) if pick_rec else None,
        "pickTestMetric": pick_rec.get("testMetric") if pick_rec else None,
        "launches": len(starts) + len(continues),
        "completed": sum(1 for t in state.candidates if t.status == "completed"),
        "stopped": sum(1 for t in state.candidates if t.status == "stopped"),
        "trials": trials,
        "actions": [action_to_json(a) for _, a in sim.log],
        "promoted": [action_to_json(a) for _, a in sim.log if isinstance(a, Promote)],
    }


def final_val(record: dict[str, Any]) -> float | None:
    if record["status"] != "completed":
        return None
    return record["epochs"][-1]["valMetric"]
