"""What the policy sees: the trials of one search and what they reported. Torch-free.

Engines own this state: they append trials when told to start them, record reports and errors, and
persist it (locally ``DIR/state.json``; on a cluster trial summaries in the search's status and spectra
in each trial's status). ``to_json``/``from_json`` give the plain-JSON form, exact for every float.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from hyperprune.contract.files import DENSE_ID as DENSE_ID  # re-exported: trial ids are part of the contract
from hyperprune.contract.files import candidate_id as candidate_id
from hyperprune.contract.efficiency import Efficiency
from hyperprune.contract.report import Mode
from hyperprune.spec.point import Point
from hyperprune.spec.status import TRIAL_PHASES
from hyperprune.spec.status import TrialPhase as Status

Role = Literal["dense", "candidate"]
Outcome = Literal["succeeded", "failed"]

STATUSES: tuple[Status, ...] = TRIAL_PHASES
# A trial in one of these may still train; the others are final.
ACTIVE: frozenset[str] = frozenset({"pending", "running", "paused", "errored"})
# A trial in one of these holds a worker (counts toward budget.parallelism).
OCCUPYING: frozenset[str] = frozenset({"pending", "running"})
TERMINAL: frozenset[str] = frozenset({"stopped", "completed", "diverged", "failed"})

STATE_VERSION = 1


@dataclass
class Observation:
    """What a trial reported at the end of one epoch."""

    epoch: int
    metric: float | None  # validation metric; None when not finite
    mode: Mode  # min: lower is better (perplexity); max: higher is better (accuracy)
    spectrum: np.ndarray | None = None  # Lyapunov exponents, when computed at this epoch
    efficiency: Efficiency | None = None  # sizes, FLOPs, timings, when measured at this epoch
    # Memo of the LS distance to one reference spectrum: (that reference array, distance). Derived
    # data only, never serialised; keyed by the reference object so a new reference recomputes.
    distance_memo: tuple[np.ndarray, float] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.metric is not None and not math.isfinite(self.metric):
            self.metric = None
        if self.spectrum is not None:
            self.spectrum = np.asarray(self.spectrum, dtype=np.float64)


@dataclass
class TrialState:
    """One trial as the policy sees it."""

    id: str
    role: Role
    params: Point  # the point of the search space (the dense reference's: Point.dense())
    status: Status = "pending"
    target_epoch: int = 0  # the epoch it was last told to reach
    epoch: int = 0  # epochs completed by its current run (what its checkpoint holds)
    epochs_spent: int = 0  # trial-epochs trained in all, retraining counted
    failures: int = 0  # attempts that crashed or lost their worker
    retryable: bool = True  # False when the last error cannot go away by retrying (a refused config)
    stop_reason: str | None = None  # why it was stopped or failed
    message: str | None = None  # last error, or the diverged report's message
    observations: dict[int, Observation] = field(default_factory=dict)

    @property
    def is_dense(self) -> bool:
        return self.role == "dense"

    @property
    def last_epoch(self) -> int:
        """The latest epoch it reported (0 if none)."""
        return max(self.observations, default=0)


@dataclass
class SearchState:
    """Every trial of one search, in creation order, and how the search ended."""

    trials: list[TrialState] = field(default_factory=list)
    promoted: str | None = None
    outcome: Outcome | None = None
    message: str | None = None
    # Work the policy keeps between decisions to save time (the TPE study of its candidates): derived
    # data only, never serialised or compared; a decision is the same with an empty memo.
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def trial(self, trial_id: str) -> TrialState:
        found = self.find(trial_id)
        if found is None:
            raise KeyError(f"no trial {trial_id!r} in this search")
        return found

    def find(self, trial_id: str) -> TrialState | None:
        """The trial of that id. A search of thousands of trials looks trials up thousands of times a
        decision: positions are indexed in the memo, checked on every use, rebuilt when stale."""
        trials = self.trials
        known: dict[str, int] = self.memo.get("positions", {})
        position = known.get(trial_id)
        if position is None or position >= len(trials) or trials[position].id != trial_id:
            positions = {t.id: i for i, t in enumerate(trials)}
            self.memo["positions"] = positions
            position = positions.get(trial_id)
            if position is None:
                return None
        return trials[position]

    @property
    def dense(self) -> TrialState | None:
        return next((t for t in self.trials if t.is_dense), None)

    @property
    def candidates(self) -> list[TrialState]:
        return [t for t in self.trials if not t.is_dense]

    @property
    def trial_epochs(self) -> int:
        """Trial-epochs trained by the whole search (dense reference and retraining included)."""
        return sum(t.epochs_spent for t in self.trials)

    def counts(self, *, dense: bool = False) -> dict[Status, int]:
        """Candidates by status; the dense reference too with ``dense``."""
        out: dict[Status, int] = {s: 0 for s in STATUSES}
        for t in self.trials if dense else self.candidates:
            out[t.status] += 1
        return out

    # ---- plain JSON ----

    def to_json(self, *, spectra: bool = True) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "promoted": self.promoted,
            "outcome": self.outcome,
            "message": self.message,
            "trials": [trial_to_json(t, spectra=spectra) for t in self.trials],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SearchState":
        if data.get("version", STATE_VERSION) != STATE_VERSION:
            raise ValueError(f"search state version {data.get('version')} is not {STATE_VERSION}")
        return cls(
            trials=[trial_from_json(t) for t in data.get("trials", [])],
            promoted=data.get("promoted"),
            outcome=data.get("outcome"),
            message=data.get("message"),
        )


def _float_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def observation_to_json(obs: Observation, *, spectra: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"epoch": obs.epoch, "metric": obs.metric, "mode": obs.mode}
    if spectra and obs.spectrum is not None:
        # Non-finite exponents become null: JSON (and Kubernetes) have no NaN.
        out["spectrum"] = [_float_or_none(x) for x in obs.spectrum.tolist()]
    if obs.efficiency is not None:
        out["efficiency"] = obs.efficiency.dump()
    return out


def observation_from_json(data: dict[str, Any]) -> Observation:
    spectrum = data.get("spectrum")
    return Observation(
        epoch=int(data["epoch"]),
        metric=data.get("metric"),
        mode=data["mode"],
        spectrum=None if spectrum is None else np.array([np.nan if x is None else x for x in spectrum], dtype=np.float64),
        efficiency=efficiency_or_none(data.get("efficiency")),
    )


def efficiency_or_none(data: Any) -> Efficiency | None:
    """An observation's efficiency from its JSON form (None when absent)."""
    return None if data is None else Efficiency.model_validate(data)


def trial_to_json(t: TrialState, *, spectra: bool = True) -> dict[str, Any]:
    return {
        "id": t.id,
        "role": t.role,
        "params": t.params.to_json(),
        "status": t.status,
        "targetEpoch": t.target_epoch,
        "epoch": t.epoch,
        "epochsSpent": t.epochs_spent,
        "failures": t.failures,
        "retryable": t.retryable,
        "stopReason": t.stop_reason,
        "message": t.message,
        "observations": [observation_to_json(o, spectra=spectra) for _, o in sorted(t.observations.items())],
    }


def trial_from_json(data: dict[str, Any]) -> TrialState:
    observations = [observation_from_json(o) for o in data.get("observations", [])]
    return TrialState(
        id=data["id"],
        role=data["role"],
        params=Point.from_json(data["params"]),
        status=data["status"],
        target_epoch=int(data.get("targetEpoch", 0)),
        epoch=int(data.get("epoch", 0)),
        epochs_spent=int(data.get("epochsSpent", 0)),
        failures=int(data.get("failures", 0)),
        retryable=bool(data.get("retryable", True)),
        stop_reason=data.get("stopReason"),
        message=data.get("message"),
        observations={o.epoch: o for o in observations},
    )
