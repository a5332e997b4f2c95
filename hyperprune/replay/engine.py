"""A strategy's decisions replayed on recorded observations, offline. Torch-free.

Trials are deterministic and continuing from a checkpoint equals an uninterrupted run, so what a
strategy decides on recorded trajectories, and the trial-epochs it spends, are exactly what
``hyperprune.policy.decide`` does when fed those reports. The replay is the policy's simulator
(``policy.simulate.Simulation``) with each trial's recorded observations and, where recorded, its
epoch seconds (a spectrum's seconds counted only at the epochs the strategy computes one; process
start-up and checkpoint loading are not included).

A precomputed LS distance d at an epoch is replayed as a spectrum that lies exactly d from the dense
reference's there (the dense spectrum moved by d along one exponent; a one-exponent [0] reference
where only distances were recorded), so the policy's own distance gives d back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hyperprune.policy import action_to_json
from hyperprune.policy.simulate import Simulation, Trajectory
from hyperprune.replay.records import EpochRecord, RecordGap, Records, TrialRecord
from hyperprune.spec.models import SearchSpec


def metric_epochs(spec: SearchSpec) -> set[int] | None:
    """The epochs whose validation metric the strategy reads (None: every epoch)."""
    name = spec.strategy.name
    if name == "median":
        return None
    rungs = set(spec.rung_epochs())
    if name != "asha-loss":
        rungs -= set(spec.ls_rung_epochs()) if name == "lsh" else rungs
    return rungs | {spec.final_epoch}


@dataclass
class Reader:
    """What the replayed strategy may ask of the records, with a named gap where they lack it."""

    spec: SearchSpec
    records: Records
    reads_metric: set[int] | None = field(init=False)
    needs_spectrum: set[int] = field(init=False)

    def __post_init__(self) -> None:
        self.reads_metric = metric_epochs(self.spec)
        self.needs_spectrum = set(self.spec.ls_rung_epochs())

    def _entry(self, record: TrialRecord, epoch: int, what: str) -> EpochRecord:
        entry = record.at(epoch)
        if entry is None:
            ended = {"stopped": "the recorded search stopped it", "failed": "it failed",
                     "diverged": "it diverged", "completed": "its record ends"}[record.status]
            raise RecordGap(f"trial {record.id}, epoch {epoch}: not recorded ({ended} after epoch "
                            f"{record.last_epoch}); strategy {self.spec.strategy.name} needs its {what}")
        return entry

    def metric(self, record: TrialRecord, epoch: int) -> float:
        entry = self._entry(record, epoch, "validation metric")
        wanted = self.reads_metric is None or epoch in self.reads_metric
        if not entry.recorded and wanted:
            raise RecordGap(f"trial {record.id}, epoch {epoch}: recorded: false; strategy "
                            f"{self.spec.strategy.name} reads the validation metric at this epoch")
        return math.inf if entry.metric is None else entry.metric  # inf: a non-finite metric

    def dense_spectrum(self, epoch: int) -> np.ndarray | None:
        dense = self.records.dense
        entry = dense.at(epoch) if dense is not None else None
        if entry is not None and entry.spectrum is not None:
            return np.array(entry.spectrum, dtype=np.float64)
        if any((e := t.at(epoch)) is not None and e.distance is not None for t in self.records.trials):
            return np.zeros(1)
        return None

    def spectrum(self, record: TrialRecord, epoch: int) -> np.ndarray | None:
        needed = epoch in self.needs_spectrum
        entry = self._entry(record, epoch, "LS spectrum") if needed else record.at(epoch)
        if record.point.is_dense:
            found = self.dense_spectrum(epoch)
        elif entry is not None and entry.spectrum is not None:
            found = np.array(entry.spectrum, dtype=np.float64)
        elif entry is not None and entry.distance is not None:
            found = self.dense_spectrum(epoch)
            assert found is not None  # a distance makes the reference exist
            found = found.copy()
            found[0] += entry.distance
        else:
            found = None
        if found is None and needed:
            if entry is not None and not entry.recorded:
                raise RecordGap(f"trial {record.id}, epoch {epoch}: recorded: false; strategy "
                                f"{self.spec.strategy.name} ranks by LS distance at this rung")
            raise RecordGap(f"trial {record.id}, epoch {epoch}: no spectrum or distance recorded; strategy "
                            f"{self.spec.strategy.name} ranks by LS distance at this rung")
        return found

    def trajectory(self, record: TrialRecord) -> Trajectory:
        diverge_at = None
        if record.status in ("diverged", "failed"):
            # A diverged record: its next epoch is the one whose loss was not finite. A failed one
            # (crashed, stopped short) replays the same way: ranked last, never promoted.
            diverge_at = record.last_epoch + 1
        return Trajectory(metric=lambda e: self.metric(record, e), spectrum=lambda e: self.spectrum(record, e),
                          diverge_at=diverge_at)


@dataclass
class RecordedReplay(Simulation):
    """The simulator on recorded trajectories, with their recorded epoch times where given (1 s each
    otherwise)."""

    records: Records | None = None

    def epoch_seconds(self, trial_id: str, epoch: int) -> float:
        record = self.records.record(self.state.trial(trial_id).params)  # type: ignore[union-attr]
        entry = record.at(min(epoch, record.last_epoch))  # the epoch it diverged in: about the one before
        if entry is None or entry.seconds is None:
            return 1.0
        seconds = entry.seconds
        if epoch not in self._spectrum_epochs:
            seconds -= entry.spectrum_seconds
        return max(seconds, 0.0)


def replay(spec: SearchSpec, records: Records) -> RecordedReplay:
    """Run the spec's strategy on the records to its end; RecordGap names what it needed and lacked."""
    reader = Reader(spec, records)
    sim = RecordedReplay(spec, lambda trial_id, point: reader.trajectory(records.record(point)), records=records)
    return sim.run()  # type: ignore[return-value]


def better(mode: str) -> Any:
    """A sort key that puts the best metric first (None and non-finite last)."""
    sign = 1.0 if mode == "min" else -1.0
    return lambda v: math.inf if v is None or not math.isfinite(v) else sign * v


def regret(pick: float | None, winner: float | None, mode: str) -> float | None:
    """How much worse the pick is than the winner, as a fraction of the winner (0: as good; negative: better)."""
    if pick is None or winner is None or winner == 0:
        return None
    return (pick - winner) / abs(winner) if mode == "min" else (winner - pick) / abs(winner)


@dataclass(frozen=True)
class Outcome:
    """What a replayed strategy spent and found, beside what full search would have."""

    strategy: str
    outcome: str | None
    message: str | None
    trial_epochs: int  # the dense reference included
    candidate_trial_epochs: int
    full_trial_epochs: int | None  # every recorded candidate and the dense reference to the end (None: not recorded)
    wall_seconds: float
    pick: TrialRecord | None
    winner: TrialRecord | None  # full search's pick: the best final validation metric among completed records
    regret: float | None
    regret_on: str  # "test" or "validation" (when the records hold no test metric)
    actions: list[dict[str, Any]]

    @property
    def reduction(self) -> float | None:
        return self.full_trial_epochs / self.trial_epochs if self.full_trial_epochs and self.trial_epochs else None

    def to_json(self) -> dict[str, Any]:
        def trial(r: TrialRecord | None) -> dict[str, Any] | None:
            return None if r is None else {"id": r.id, "description": r.description,
                                           "valMetric": r.final_metric, "testMetric": r.test_metric}

        return {"strategy": self.strategy, "outcome": self.outcome, "message": self.message,
                "trialEpochs": self.trial_epochs, "candidateTrialEpochs": self.candidate_trial_epochs,
                "fullTrialEpochs": self.full_trial_epochs, "reductionVsFull": self.reduction,
                "wallSeconds": round(self.wall_seconds, 3), "pick": trial(self.pick), "fullWinner": trial(self.winner),
                "regret": self.regret, "regretOn": self.regret_on,
                "promoted": [a for a in self.actions if a["action"] == "promote"]}


def outcome_of(sim: RecordedReplay, spec: SearchSpec, records: Records) -> Outcome:
    state, mode, final = sim.state, spec.metric_mode, spec.final_epoch
    pick_state = state.trial(state.promoted) if state.promoted else None
    pick = records.record(pick_state.params) if pick_state is not None else None
    completed = [r for r in records.trials if r.status == "completed" and r.last_epoch == final]
    key = better(mode)
    winner = min(completed, key=lambda r: (key(r.final_metric), r.id)) if completed else None
    on_test = pick is not None and winner is not None and pick.test_metric is not None and winner.test_metric is not None
    value = (lambda r: r.test_metric) if on_test else (lambda r: r.final_metric)
    full = None
    if len(completed) == len(records.trials) and (records.dense is None or records.dense.last_epoch == final):
        full = (len(records.trials) + (1 if spec.dense.enabled else 0)) * final
    return Outcome(
        strategy=spec.strategy.name,
        outcome=state.outcome,
        message=state.message,
        trial_epochs=state.trial_epochs,
        candidate_trial_epochs=sum(t.epochs_spent for t in state.candidates),
        full_trial_epochs=full,
        wall_seconds=sim.clock,
        pick=pick,
        winner=winner,
        regret=regret(value(pick), value(winner), mode) if pick is not None and winner is not None else None,
        regret_on="test" if on_test else "validation",
        actions=[action_to_json(a) for _, a in sim.log],
    )
