"""The rules both engines share: what a trial's exit means (record_exit), and the read model every
reader shows (hyperprune.policy.summary)."""

from __future__ import annotations

import numpy as np

from hyperprune.contract.files import REFUSED_CONFIG_EXIT
from hyperprune.policy import SearchState, Start, Stop, TrialExit, apply, record_exit, record_report
from hyperprune.policy.summary import best, latest_distance, latest_metric, leader, rung_history, trial_epochs
from hyperprune.spec import Point
from policy_support import make_spec


def started(target: int = 2) -> SearchState:
    state = SearchState()
    apply(state, Start("dense", "dense", Point.dense(), 6))
    apply(state, Start("t000", "candidate", Point.of("random", 0.5), target))
    return state


def test_an_exit_after_the_target_epoch_changes_nothing():
    state = started()
    record_report(state, "t000", epoch=1, metric=50.0, mode="min")
    record_report(state, "t000", epoch=2, metric=40.0, mode="min")
    assert not record_exit(state, TrialExit("t000", 2, 1, "exit code 1"))  # it reported its target first
    assert state.trial("t000").status == "paused" and state.trial("t000").failures == 0


def test_a_clean_exit_short_of_the_target_is_an_error_retried_from_the_checkpoint():
    state = started()
    record_report(state, "t000", epoch=1, metric=50.0, mode="min")
    assert record_exit(state, TrialExit("t000", 2, 0, "pod s-t000-1", detail="error: disk full"))
    trial = state.trial("t000")
    assert trial.status == "errored" and trial.retryable and trial.failures == 1
    assert trial.message == "pod s-t000-1 exited without reporting epoch 2 (last reported: 1): error: disk full"


def test_a_refused_config_is_not_retried():
    state = started()
    assert record_exit(state, TrialExit("t000", 2, REFUSED_CONFIG_EXIT, "refused its config (exit code 2)",
                                        detail="error: pruning.params.zeta: must be in (0, 1)"))
    trial = state.trial("t000")
    assert trial.status == "errored" and not trial.retryable
    assert trial.message == "refused its config (exit code 2): error: pruning.params.zeta: must be in (0, 1)"


def test_the_read_model_plans_full_training_from_the_spec_not_from_the_trials_so_far():
    spec = make_spec(training={"epochs": 6}, budget={"maxTrials": 8, "parallelism": 2})
    state = started()
    record_report(state, "t000", epoch=1, metric=50.0, mode="min")
    apply(state, Start("t001", "candidate", Point.of("random", 0.6), 2))
    epochs = trial_epochs(spec, state)
    assert epochs.full_training == (spec.max_candidates() + 1) * 6 and epochs.spent == 1 and epochs.avoided == 0


def test_metric_distance_and_leader_read_the_observations():
    spec = make_spec(training={"epochs": 6}, budget={"maxTrials": 8, "parallelism": 3})
    state = started(target=6)
    apply(state, Start("t001", "candidate", Point.of("random", 0.6), 6))
    spectrum = np.array([-0.1, -0.2, -0.3])
    record_report(state, "dense", epoch=1, metric=40.0, mode="min", spectrum=spectrum)
    record_report(state, "t000", epoch=1, metric=50.0, mode="min", spectrum=spectrum + 0.3)
    record_report(state, "t001", epoch=1, metric=45.0, mode="min", spectrum=spectrum + 0.1)
    t0, t1 = state.trial("t000"), state.trial("t001")
    assert latest_metric(t0) == 50.0
    distance, epoch = latest_distance(t0, state.dense)
    assert epoch == 1 and distance == np.linalg.norm([0.3, 0.3, 0.3])
    assert [(r.epoch, r.metric) for r in rung_history(state, t1, [1, 3])] == [(1, 45.0)]
    assert leader(state, "min") == (t1, 45.0, False)  # no candidate has completed yet
    assert best(spec, state) is None  # nothing to promote yet
    apply(state, Stop("t001", "ranked last"))  # a stopped trial leads no more, however good it was
    assert leader(state, "min") == (t0, 50.0, False)
    apply(state, Stop("t000", "ranked last"))
    assert leader(state, "min") is None
