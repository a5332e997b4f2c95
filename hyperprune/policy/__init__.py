"""The search policy: one pure decision function for every engine. Torch-free (numpy, Optuna TPE).

    from hyperprune.policy import SearchState, decide, apply, record_report
    actions = decide(spec, state)          # spec: hyperprune.spec.SearchSpec
    for action in actions:
        apply(state, action)               # then carry it out; persist state.to_json()

Strategies: lsh (asynchronous LS-halving with TPE generation), lsh-sync (the published procedure),
full, asha-loss, median, random. ``hyperprune.policy.simulate`` drives ``decide`` with synthetic
trajectories, without training anything.
"""

from hyperprune.policy.actions import (
    Action,
    Continue,
    Fail,
    Finish,
    Promote,
    Start,
    Stop,
    action_from_json,
    action_to_json,
    describe,
)
from hyperprune.policy.decide import STRATEGY_STEPS, best_candidate, decide, final_metric
from hyperprune.policy.distance import SpectrumMismatch, ls_distance, ls_distances
from hyperprune.policy.generation import Evaluated, SpaceExhausted, propose
from hyperprune.policy.scoring import distance_history
from hyperprune.policy.state import (
    ACTIVE,
    DENSE_ID,
    OCCUPYING,
    TERMINAL,
    Observation,
    SearchState,
    TrialState,
    candidate_id,
)
from hyperprune.policy.transitions import (
    TrialExit,
    apply,
    mark_running,
    record_error,
    record_exit,
    record_report,
    record_trial_report,
    reopen,
    restart_from_scratch,
)

__all__ = [
    "ACTIVE",
    "DENSE_ID",
    "OCCUPYING",
    "STRATEGY_STEPS",
    "TERMINAL",
    "Action",
    "Continue",
    "Evaluated",
    "Fail",
    "Finish",
    "Observation",
    "Promote",
    "SearchState",
    "SpaceExhausted",
    "SpectrumMismatch",
    "Start",
    "Stop",
    "TrialExit",
    "TrialState",
    "action_from_json",
    "action_to_json",
    "apply",
    "best_candidate",
    "candidate_id",
    "decide",
    "describe",
    "distance_history",
    "final_metric",
    "ls_distance",
    "ls_distances",
    "mark_running",
    "propose",
    "record_error",
    "record_exit",
    "record_report",
    "record_trial_report",
    "reopen",
    "restart_from_scratch",
]
