"""Scripted searches for policy tests: specs from a few overrides, reports by hand, no processes."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np

from hyperprune.policy import SearchState, apply, decide, record_report
from hyperprune.policy.actions import Action, Continue, Fail, Finish, Promote, Start, Stop
from hyperprune.spec import parse_search

EXPONENTS = 8
BASE_DOC: dict[str, Any] = {
    "apiVersion": "hyperprune.io/v1alpha1",
    "kind": "HyperpruneSearch",
    "metadata": {"name": "scripted"},
    "spec": {
        "training": {"epochs": 6},
        "space": {
            "methods": [
                {"method": "selfish", "params": {"deathRate": {"low": 0.3, "high": 0.7}, "death": ["magnitude", "threshold"]}},
                {"method": "magnitude", "params": {"scope": ["layer", "global"]}},
            ],
            "sparsity": [0.5, 0.75],
        },
        "budget": {"maxTrials": 4, "parallelism": 5, "maxFailedTrials": 1, "retries": 1},
        "strategy": {"name": "lsh", "rungs": {"first": 2, "step": 2, "count": 1, "keepFraction": 0.5}},
        # trained to the end, so the scripted schedules read it there (the default, to the last rung:
        # test_policy_dense_reference.py)
        "dense": {"compare": True},
    },
}


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Nested update; a None value removes the key."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def make_spec(**spec_overrides: Any):
    """A SearchSpec: BASE_DOC's spec with nested overrides (camelCase keys, as in YAML)."""
    return parse_search(merge(BASE_DOC, {"spec": spec_overrides})).spec


def reference(epoch: int) -> np.ndarray:
    """The dense spectrum at an epoch."""
    return -np.arange(EXPONENTS, dtype=np.float64) / (epoch + 1)


def at_distance(epoch: int, distance: float) -> np.ndarray:
    """A spectrum exactly `distance` away from the dense one (L2)."""
    shift = np.zeros(EXPONENTS)
    shift[0] = distance
    return reference(epoch) + shift


class Script:
    """A hand-driven engine: decide, apply, report."""

    def __init__(self, spec: Any, state: SearchState | None = None):
        self.spec = spec
        self.state = state or SearchState()
        self.log: list[Action] = []

    def decide(self) -> list[Action]:
        actions = decide(self.spec, self.state)
        for action in actions:
            apply(self.state, action)
        self.log += actions
        # Level-triggered: once applied, the same state asks for nothing more.
        assert decide(self.spec, self.state) == [], "decide is not idempotent"
        return actions

    def report(
        self,
        trial_id: str,
        epoch: int,
        metric: float = 100.0,
        *,
        distance: float | None = None,
        spectrum: np.ndarray | None = None,
        status: str = "running",
    ) -> None:
        if distance is not None:
            spectrum = at_distance(epoch, distance)
        elif spectrum is None and trial_id == "dense" and epoch in self.spec.lyapunov_epochs():
            spectrum = reference(epoch)
        if epoch >= self.spec.final_epoch and status == "running":
            status = "completed"
        recorded = record_report(
            self.state, trial_id, epoch=epoch, metric=metric, mode=self.spec.metric_mode, spectrum=spectrum, status=status
        )
        assert recorded, f"report of {trial_id} at epoch {epoch} was ignored"

    def train(self, trial_id: str, until: int, metric: float = 100.0, *, distances: dict[int, float] | None = None) -> None:
        """Report every epoch from the trial's current one to `until`."""
        trial = self.state.trial(trial_id)
        for epoch in range(trial.epoch + 1, until + 1):
            d = (distances or {}).get(epoch)
            self.report(trial_id, epoch, metric, distance=d)

    def roundtrip(self) -> None:
        """Persist and reload the state as an engine restart would."""
        self.state = SearchState.from_json(json.loads(json.dumps(self.state.to_json())))


def only(actions: list[Action], kind: type) -> list[Action]:
    return [a for a in actions if isinstance(a, kind)]


def ids(actions: list[Action], kind: type | None = None) -> list[str]:
    return [a.trial_id for a in actions if (kind is None or isinstance(a, kind)) and hasattr(a, "trial_id")]


__all__ = [
    "BASE_DOC",
    "Continue",
    "Fail",
    "Finish",
    "Promote",
    "Script",
    "Start",
    "Stop",
    "at_distance",
    "ids",
    "make_spec",
    "merge",
    "only",
    "reference",
]
