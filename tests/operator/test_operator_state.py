"""Rebuilding the policy's state from HyperpruneTrial resources, and the statuses written back."""

from __future__ import annotations

from hyperprune.policy import SearchState
from hyperprune.spec.trial_resource import TrialResourceStatus
from hyperprune_operator.state import (
    apply_merge,
    ingest_reports,
    merge_patch,
    read_trial,
    set_condition,
    trial_status_fields,
)


def entry(epoch: int, run: int = 0, status: str = "running", metric: float = 50.0, spectrum=None) -> dict:
    out = {"epoch": epoch, "run": run, "status": status, "metric": "perplexity", "mode": "min", "valMetric": metric}
    if spectrum is not None:
        out["lyapunov"] = spectrum
    return out


def body(status: dict | None = None, target: int = 2) -> dict:
    return {"metadata": {"name": "s-t000", "uid": "u"},
            "spec": {"trialId": "t000", "role": "candidate", "params": {"method": "random"}, "targetEpoch": target},
            "status": status or {}}


def test_a_trial_without_status_is_pending_at_its_first_attempt():
    trial, record = read_trial(body())
    assert (trial.status, trial.target_epoch, trial.epoch, record.attempt, record.run) == ("pending", 2, 0, 1, 0)
    assert not record.pod_created


def test_reports_sent_before_a_restart_are_replayed_through_the_policy():
    status = {"phase": "running", "targetEpoch": 2, "epoch": 1, "epochsSpent": 1, "attempt": 1,
              "reports": {"1": entry(1, spectrum=[-0.1, -0.2]), "2": entry(2, metric=40.0)}}
    trial, _ = read_trial(body(status))
    assert trial.status == "paused" and trial.epoch == 2 and trial.epochs_spent == 2
    assert sorted(trial.observations) == [1, 2] and trial.observations[1].spectrum.tolist() == [-0.1, -0.2]


def test_reports_of_a_stopped_trial_after_its_stop_are_not_observations():
    status = {"phase": "stopped", "targetEpoch": 2, "epoch": 2, "epochsSpent": 2, "stopReason": "far",
              "reports": {"1": entry(1), "2": entry(2), "3": entry(3)}}
    trial, record = read_trial(body(status))
    assert trial.status == "stopped" and sorted(trial.observations) == [1, 2]
    state = SearchState(trials=[trial])
    changed, ignored = ingest_reports(state, trial, record, {"4": entry(4)})
    assert (changed, ignored) == (False, [4]) and 4 not in trial.observations
    assert ingest_reports(state, trial, record, {"4": entry(4, metric=1.0)}) == (False, [])  # announced once


def test_reports_of_an_earlier_run_do_not_advance_a_retrained_trial():
    status = {"phase": "running", "targetEpoch": 3, "epoch": 0, "epochsSpent": 2, "run": 1, "attempt": 3,
              "reports": {"1": entry(1, run=0), "2": entry(2, run=0)}}
    trial, record = read_trial(body(status, target=1))
    assert trial.epoch == 0 and trial.status == "running" and sorted(trial.observations) == [1, 2]
    state = SearchState(trials=[trial])
    assert ingest_reports(state, trial, record, {"1": entry(1, run=0, metric=3.0)}) == (False, [])
    assert ingest_reports(state, trial, record, {"1": entry(1, run=1, metric=33.0)}) == (True, [])
    assert trial.epoch == 1 and trial.epochs_spent == 3 and trial.observations[1].metric == 33.0


def test_the_status_written_validates_against_the_crd_model_and_patches_only_what_changed():
    trial, record = read_trial(body({"reports": {"1": entry(1)}}))
    fields = trial_status_fields(trial, record, dense=None)
    patch = merge_patch(fields, record.written)
    assert patch["phase"] == "running" and patch["epoch"] == 1 and "stopReason" not in patch
    written = apply_merge(record.written, patch)
    TrialResourceStatus.model_validate({**written, "reports": {"1": entry(1)}})
    assert merge_patch(fields, written) == {}
    trial.stop_reason, trial.status = "far", "stopped"
    assert merge_patch(trial_status_fields(trial, record, None), written) == {"phase": "stopped", "stopReason": "far"}
    trial.stop_reason = None
    assert merge_patch(trial_status_fields(trial, record, None), {**written, "stopReason": "x"})["stopReason"] is None


def test_condition_transition_times_move_only_when_the_status_does():
    first = set_condition([], "Running", "True", "TrialsRunning", "a", generation=1, now="t1")
    again = set_condition(first, "Running", "True", "TrialsRunning", "b", generation=2, now="t2")
    assert again[0]["lastTransitionTime"] == "t1" and again[0]["message"] == "b" and again[0]["observedGeneration"] == 2
    flipped = set_condition(again, "Running", "False", "SearchFinished", "c", generation=2, now="t3")
    assert flipped[0]["lastTransitionTime"] == "t3"
    ordered = set_condition(flipped, "Invalid", "False", "SpecValid", "", generation=2, now="t3")
    assert [c["type"] for c in ordered] == ["Invalid", "Running"]
