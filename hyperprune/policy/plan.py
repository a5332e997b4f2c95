"""One decision in the making: the state as it will be once the actions chosen so far are applied.

``decide`` runs its steps in order (failures, dense reference, retries, the strategy's rungs, new
candidates, finishing); each later step sees what the earlier ones chose (a trial just stopped no
longer holds a worker, a trial just failed can no longer reach a rung), so one call reaches the
fixpoint: calling ``decide`` again on the resulting state yields nothing new.
"""

from __future__ import annotations

from hyperprune.policy.actions import Action, Continue, Fail, Start, Stop
from hyperprune.policy.state import ACTIVE, OCCUPYING, SearchState, TrialState
from hyperprune.spec.models import SearchSpec
from hyperprune.spec.point import Point


class Plan:
    def __init__(self, spec: SearchSpec, state: SearchState):
        self.spec = spec
        self.state = state
        self.actions: list[Action] = []
        self.status: dict[str, str] = {t.id: t.status for t in state.trials}
        self.target: dict[str, int] = {t.id: t.target_epoch for t in state.trials}
        self.order: dict[str, int] = {t.id: i for i, t in enumerate(state.trials)}
        self.candidates: list[TrialState] = state.candidates
        self.dense: TrialState | None = state.dense
        self.new_points: list[Point] = []  # candidates started by this decision
        self.rungs: list[int] = spec.rung_epochs()
        self.max_candidates: int = spec.max_candidates()
        self.slots = spec.budget.parallelism - sum(1 for s in self.status.values() if s in OCCUPYING)

    def emit(self, action: Action) -> None:
        self.actions.append(action)
        if isinstance(action, Start):
            self.status[action.trial_id] = "pending"
            self.target[action.trial_id] = action.until_epoch
            self.order[action.trial_id] = len(self.order)
            if action.role == "candidate":
                self.new_points.append(action.params)
            self.slots -= 1
        elif isinstance(action, Continue):
            self.status[action.trial_id] = "running"
            self.target[action.trial_id] = action.until_epoch
            self.slots -= 1
        elif isinstance(action, (Stop, Fail)):
            if self.status[action.trial_id] in OCCUPYING:
                self.slots += 1
            self.status[action.trial_id] = "stopped" if isinstance(action, Stop) else "failed"

    def active(self, trial: TrialState) -> bool:
        return self.status[trial.id] in ACTIVE

    def n_candidates(self) -> int:
        return len(self.candidates) + len(self.new_points)

    def can_create(self) -> bool:
        """More candidates may still be created (budget left and the space or pool not used up)."""
        return self.n_candidates() < self.max_candidates

    def anything_active(self) -> bool:
        return any(s in ACTIVE for s in self.status.values())

    def sort_key(self, trial: TrialState) -> int:
        """Ties are broken by creation order, which is trial-id order."""
        return self.order[trial.id]
