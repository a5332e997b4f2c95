"""State, actions and reducers: JSON round trips, status transitions, trial-epoch accounting."""

from __future__ import annotations

from hyperprune.spec import Point

import json
import math

import numpy as np
import pytest

from hyperprune.policy import (
    Continue,
    Fail,
    Finish,
    Promote,
    SearchState,
    Start,
    Stop,
    action_from_json,
    action_to_json,
    apply,
    candidate_id,
    distance_history,
    ls_distance,
    ls_distances,
    record_error,
    record_report,
    record_trial_report,
)
from hyperprune.policy.distance import SpectrumMismatch
from hyperprune.contract.efficiency import Efficiency, KernelTiming
from hyperprune.contract.report import TrialReport
from hyperprune.policy.summary import measured_efficiency, savings_against_dense


def state_with_one_trial(target: int = 3) -> SearchState:
    state = SearchState()
    apply(state, Start("t000", "candidate", Point.of("random", 0.5), target))
    return state


def test_candidate_ids_sort_in_creation_order_up_to_a_thousand():
    assert [candidate_id(i) for i in (0, 7, 42, 999)] == ["t000", "t007", "t042", "t999"]
    assert candidate_id(1000) == "t1000"


def test_start_creates_a_pending_trial_once():
    state = state_with_one_trial()
    apply(state, Start("t000", "candidate", Point.of("random", 0.5), 9))  # replayed by a restarted engine
    (trial,) = state.trials
    assert (trial.status, trial.target_epoch, trial.params) == ("pending", 3, Point.of("random", 0.5))


def test_reports_move_a_trial_through_running_paused_and_completed():
    state = state_with_one_trial(target=2)
    assert record_report(state, "t000", epoch=1, metric=50.0, mode="min")
    assert state.trials[0].status == "running"
    assert record_report(state, "t000", epoch=2, metric=40.0, mode="min", spectrum=[0.1, -0.2])
    trial = state.trials[0]
    assert trial.status == "paused" and trial.epoch == 2 and trial.epochs_spent == 2
    np.testing.assert_array_equal(trial.observations[2].spectrum, [0.1, -0.2])
    apply(state, Continue("t000", 4))
    assert not record_report(state, "t000", epoch=2, metric=40.0, mode="min")  # a duplicate
    assert record_report(state, "t000", epoch=3, metric=35.0, mode="min")
    assert record_report(state, "t000", epoch=4, metric=30.0, mode="min", status="completed")
    assert trial.status == "completed" and trial.epochs_spent == 4
    assert not record_report(state, "t000", epoch=5, metric=1.0, mode="min")  # ended: ignored


def test_retraining_from_scratch_counts_its_epochs_again():
    state = state_with_one_trial(target=2)
    for epoch in (1, 2):
        record_report(state, "t000", epoch=epoch, metric=50.0, mode="min")
    apply(state, Continue("t000", 4, from_scratch=True))
    assert state.trials[0].epoch == 0
    for epoch in (1, 2, 3, 4):
        record_report(state, "t000", epoch=epoch, metric=40.0, mode="min")
    assert state.trials[0].epochs_spent == 2 + 4
    assert state.trial_epochs == 6


def test_an_error_keeps_the_checkpoint_epoch_and_counts_a_failure():
    state = state_with_one_trial(target=3)
    record_report(state, "t000", epoch=1, metric=50.0, mode="min")
    assert record_error(state, "t000", "pod deleted")
    trial = state.trials[0]
    assert (trial.status, trial.failures, trial.epoch, trial.message) == ("errored", 1, 1, "pod deleted")


def test_a_crash_after_the_target_epoch_was_reported_loses_nothing():
    state = state_with_one_trial(target=1)
    record_report(state, "t000", epoch=1, metric=50.0, mode="min")
    assert not record_error(state, "t000", "exit 1 while writing its log")
    trial = state.trials[0]
    assert (trial.status, trial.failures, trial.message) == ("paused", 0, "exit 1 while writing its log")


def test_diverged_report_ends_the_trial():
    state = state_with_one_trial()
    record_report(state, "t000", epoch=1, metric=float("nan"), mode="min", status="diverged", message="loss is NaN")
    trial = state.trials[0]
    assert trial.status == "diverged" and trial.message == "loss is NaN"
    assert trial.observations[1].metric is None  # NaN is never stored


def test_trial_reports_are_recorded_from_the_trial_runtime_model():
    state = state_with_one_trial(target=1)
    report = TrialReport(trial_id="t000", epoch=1, metric="perplexity", mode="min", val_metric=42.0, lyapunov=[0.5, -1.0])
    assert record_trial_report(state, report)
    obs = state.trials[0].observations[1]
    assert obs.metric == 42.0 and obs.mode == "min" and obs.spectrum.tolist() == [0.5, -1.0]
    assert state.trials[0].status == "paused"


def efficiency(nonzero: int, export_bytes: int, latency_ms: float, kernel: str = "dense") -> Efficiency:
    return Efficiency(
        device="cpu (1 threads)", parameters=1000, nonzero_parameters=nonzero, hidden_sizes=[8],
        dense_bytes=4000, export_bytes=export_bytes, export_format="dense" if kernel == "dense" else "packed-mask",
        dense_flops_per_step=2000, flops_per_step=2 * nonzero,
        timings=[KernelTiming(kernel=kernel, latency_ms=latency_ms, tokens_per_second=1000 / latency_ms, batch=4,
                              steps=5, repeats=3)],
    )


def test_a_measured_efficiency_is_kept_through_json_and_compared_with_the_dense_models():
    state = SearchState()
    apply(state, Start("dense", "dense", Point.dense(), 1))
    apply(state, Start("t000", "candidate", Point.of("random", 0.8), 1))
    for trial_id, measured in (("dense", efficiency(1000, 4000, 2.0)), ("t000", efficiency(200, 1200, 4.0, "torch-sparse-csr"))):
        report = TrialReport(trial_id=trial_id, epoch=1, metric="perplexity", mode="min", val_metric=9.0,
                             status="completed", efficiency=measured)
        assert record_trial_report(state, report)
    again = SearchState.from_json(json.loads(json.dumps(state.to_json())))
    assert measured_efficiency(again.trial("t000")) == efficiency(200, 1200, 4.0, "torch-sparse-csr")
    saved = savings_against_dense(again, again.trial("t000"))
    assert (saved.nonzero_parameters, saved.export_bytes, saved.flops_per_step) == (0.2, 0.3, 0.2)
    assert saved.speedup == 0.5 and saved.kernel == "torch-sparse-csr"  # sparse and slower: said so
    assert savings_against_dense(again, again.trial("dense")) is None


def test_actions_update_status_promotion_and_outcome():
    state = state_with_one_trial()
    apply(state, Stop("t000", "ranked last", rank=2, of=2, score=0.4, rung_epoch=3, keep=1))
    assert state.trials[0].status == "stopped" and state.trials[0].stop_reason == "ranked last"
    apply(state, Fail("t000", "gone"))
    assert state.trials[0].status == "failed"
    apply(state, Promote("t000", "best"))
    apply(state, Finish("succeeded", "done"))
    assert (state.promoted, state.outcome, state.message) == ("t000", "succeeded", "done")


@pytest.mark.parametrize(
    "action",
    [
        Start("dense", "dense", Point.dense(), 10),
        Continue("t001", 6, from_scratch=True, reason="kept"),
        Stop("t002", "LS distance 0.4 ranked 4 of 4 at epoch 3; keeping 2", rank=4, of=4, score=0.4, rung_epoch=3, keep=2),
        Fail("t003", "crashed"),
        Promote("t004", "best"),
        Finish("failed", "no candidate completed"),
    ],
)
def test_actions_round_trip_through_json(action):
    data = json.loads(json.dumps(action_to_json(action)))
    assert data["action"] == type(action).__name__.lower()
    assert "trialId" in data or isinstance(action, Finish)
    assert action_from_json(data) == action


def test_state_round_trips_through_json_exactly():
    state = state_with_one_trial(target=2)
    rng = np.random.default_rng(0)
    spectrum = rng.standard_normal(300) * 1e-3
    spectrum[5] = np.nan
    record_report(state, "t000", epoch=1, metric=1 / 3, mode="min")
    record_report(state, "t000", epoch=2, metric=0.1 + 0.2, mode="min", spectrum=spectrum)
    record_error(state, "t000", "oops")
    apply(state, Promote("t000", "best"))
    text = json.dumps(state.to_json(), allow_nan=False)  # strict JSON: NaN became null
    again = SearchState.from_json(json.loads(text))
    a, b = state.trials[0], again.trials[0]
    assert (a.id, a.status, a.epoch, a.epochs_spent, a.failures, a.message) == (
        b.id, b.status, b.epoch, b.epochs_spent, b.failures, b.message
    )
    assert b.observations[1].metric == 1 / 3 and b.observations[2].metric == 0.1 + 0.2
    np.testing.assert_array_equal(b.observations[2].spectrum, spectrum)  # NaN in the same place
    assert again.promoted == "t000"
    slim = state.to_json(spectra=False)
    assert "spectrum" not in slim["trials"][0]["observations"][1]


def test_distance_history_lists_the_ls_distance_wherever_both_have_spectra():
    state = SearchState()
    apply(state, Start("dense", "dense", Point.dense(), 4))
    apply(state, Start("t000", "candidate", Point.of("random", 0.5), 4))
    for epoch in (1, 2, 3):
        record_report(state, "dense", epoch=epoch, metric=10.0, mode="min", spectrum=[0.0, 0.0] if epoch != 2 else None)
        record_report(state, "t000", epoch=epoch, metric=10.0, mode="min", spectrum=[3.0, 4.0 * epoch])
    assert distance_history(state.trial("t000"), state.dense) == {1: 5.0, 3: pytest.approx(math.sqrt(9 + 144))}
    assert distance_history(state.trial("t000"), None) == {}


def test_l2_distance_and_its_errors():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 0.0])
    assert ls_distance(a, b) == pytest.approx(math.sqrt(13))
    assert ls_distance(np.array([np.nan, 0.0, 0.0]), b) == math.inf
    with pytest.raises(SpectrumMismatch, match="a spectrum of 2 exponents cannot be compared with the dense reference's 3"):
        ls_distance(np.zeros(2), b)
    many = [np.full(3, float(i)) for i in range(4)]
    np.testing.assert_allclose(ls_distances(many, b), [ls_distance(s, b) for s in many])
