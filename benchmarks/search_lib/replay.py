"""Strategies replayed on the ground truth's trajectories: ``hyperprune replay`` (the packaged
``hyperprune.replay``) on the benchmark's records, plus what the benchmark reports per strategy.

``Recorded`` keeps the ground truth's plain records (what the analysis and the live check read) beside
the packaged ``Records`` the replay runs on, both looked up by point. ``live.py`` checks the replay
against a real engine run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hyperprune.policy import Continue, Promote, Start, action_to_json
from hyperprune.replay import RecordGap, RecordedReplay, Records
from hyperprune.replay import replay as replay_records
from hyperprune.replay.records import from_benchmark
from hyperprune.spec.models import SearchSpec
from hyperprune.spec.point import Point

MissingEpoch = RecordGap  # the ground truth lacks what a replayed strategy needs (named by trial and epoch)


@dataclass
class Recorded:
    """The ground truth of one task, looked up by point."""

    dense: dict[str, Any]
    candidates: list[dict[str, Any]]
    records: Records = field(init=False)
    by_key: dict[str, dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.records = from_benchmark({"dense": self.dense, "candidates": self.candidates}, "ground truth")
        self.by_key = {Point.from_json(c["point"]).key: c for c in self.candidates}

    def record(self, point: Point) -> dict[str, Any]:
        if point.is_dense:
            return self.dense
        try:
            return self.by_key[point.key]
        except KeyError:
            raise MissingEpoch(f"no ground truth for point {point}") from None


def epoch_entry(record: dict[str, Any], epoch: int) -> dict[str, Any]:
    for e in record["epochs"]:
        if e["epoch"] == epoch:
            return e
    raise MissingEpoch(f"trial {record['id']}, epoch {epoch}: not recorded")


def replay(spec: SearchSpec, recorded: Recorded) -> RecordedReplay:
    return replay_records(spec, recorded.records)


def essential(action_json: dict[str, Any]) -> dict[str, Any]:
    """The parts of an action that must agree between a replay and a live run (reasons carry
    formatted numbers and are compared separately)."""
    keep = ("action", "trialId", "role", "untilEpoch", "fromScratch", "rank", "of", "rungEpoch", "keep", "outcome")
    out = {k: action_json[k] for k in keep if k in action_json}
    if "params" in action_json:
        out["point"] = Point.from_json(action_json["params"]).key
    return out


def strategy_outcome(sim: RecordedReplay, recorded: Recorded) -> dict[str, Any]:
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
