"""Errored trials, retries, maxFailedTrials, a failing dense reference, bad spectra, everything failing."""

from __future__ import annotations

import numpy as np
from policy_support import Continue, Fail, Finish, Promote, Script, Start, Stop, ids, make_spec, only

from hyperprune.policy import record_error, record_report


def test_an_errored_trial_resumes_from_its_checkpoint_until_its_retries_are_spent():
    script = Script(make_spec(budget={"retries": 2, "maxFailedTrials": 3}))
    script.decide()
    script.report("t001", 1)
    record_error(script.state, "t001", "worker lost")
    actions = script.decide()
    assert actions == [Continue("t001", 2, reason="retry 1 of 2, from its checkpoint at epoch 1: worker lost")]
    record_error(script.state, "t001", "worker lost again")
    assert ids(script.decide(), Continue) == ["t001"]
    record_error(script.state, "t001", "segfault")
    actions = script.decide()
    assert actions == [Fail("t001", "crashed 3 times (budget.retries = 2); last error: segfault")]
    assert script.state.trial("t001").status == "failed"


def test_an_error_that_retrying_cannot_fix_fails_the_trial_at_once():
    # A refused config (the trial's exit code 2) would fail the same way on every retry.
    script = Script(make_spec(budget={"retries": 2, "maxFailedTrials": 3}))
    script.decide()
    record_error(script.state, "t001", "refused its config (exit code 2): pruning.sparsity", retryable=False)
    actions = script.decide()
    assert actions == [Fail("t001", "not retried, the same error would recur: refused its config (exit code 2): pruning.sparsity")]
    assert script.state.trial("t001").status == "failed"


def test_whether_an_error_is_retryable_survives_a_restart():
    from hyperprune.policy import SearchState

    script = Script(make_spec(budget={"retries": 2}))
    script.decide()
    record_error(script.state, "t001", "refused", retryable=False)
    restored = SearchState.from_json(script.state.to_json())
    assert restored.trial("t001").retryable is False
    assert Script(script.spec, restored).decide() == script.decide()


def test_a_retry_waits_for_a_free_worker():
    script = Script(make_spec(budget={"parallelism": 2, "maxTrials": 4}))
    assert ids(script.decide(), Start) == ["dense", "t000"]
    record_error(script.state, "t000", "oom")
    record_error(script.state, "dense", "oom")
    # Two errored, two workers: both resume (the dense reference first), nothing new starts.
    assert ids(script.decide()) == ["dense", "t000"]


def test_more_failed_trials_than_allowed_end_the_search():
    script = Script(make_spec(budget={"retries": 0, "maxFailedTrials": 1}))
    script.decide()
    record_error(script.state, "t000", "bad data")
    assert only(script.decide(), Finish) == []  # one failed trial is allowed
    record_error(script.state, "t002", "bad data")
    actions = script.decide()
    assert ids(actions, Fail) == ["t002"]
    stopped = ids(actions, Stop)
    assert stopped == ["dense", "t001", "t003"]  # everything still active
    finish = actions[-1]
    assert finish == Finish("failed", "2 trials failed, more than budget.maxFailedTrials = 1; t002: crashed 1 time (budget.retries = 0); last error: bad data")
    assert script.decide() == []


def test_lsh_cannot_go_on_without_the_dense_reference():
    script = Script(make_spec(budget={"retries": 0, "maxFailedTrials": 5}))
    script.decide()
    script.train("t000", 2, distances={2: 0.1})
    record_error(script.state, "dense", "CUDA error")
    actions = script.decide()
    assert ids(actions, Fail) == ["dense"]
    assert ids(actions, Stop) == ["t000", "t001", "t002", "t003"]
    assert actions[-1].outcome == "failed"
    assert actions[-1].message.startswith("the dense reference failed (crashed 1 time")
    assert "lsh ranks candidates by LS distance to its spectra and cannot continue" in actions[-1].message


def test_lsh_cannot_go_on_when_the_dense_reference_diverges():
    script = Script(make_spec())
    script.decide()
    script.report("dense", 1, None, status="diverged")
    actions = script.decide()
    assert actions[-1].outcome == "failed"
    assert "the dense reference diverged" in actions[-1].message


def test_lsh_fails_clearly_when_the_dense_reference_skipped_a_rung_spectrum():
    script = Script(make_spec())
    script.decide()
    script.report("dense", 1)
    script.report("dense", 2, spectrum=None)  # a rung epoch without its spectrum
    script.state.trial("dense").observations[2].spectrum = None
    actions = script.decide()
    assert actions[-1] == Finish(
        "failed", "the dense reference reported no Lyapunov spectrum at rung epoch 2; lsh cannot rank candidates there"
    )


def test_full_goes_on_when_the_dense_reference_fails():
    script = Script(make_spec(strategy={"name": "full"}, budget={"retries": 0, "maxFailedTrials": 1}))
    script.decide()
    record_error(script.state, "dense", "oom")
    actions = script.decide()
    assert ids(actions, Fail) == ["dense"] and only(actions, Finish) == []
    for t, m in (("t000", 60.0), ("t001", 50.0), ("t002", 70.0), ("t003", 80.0)):
        script.train(t, 6, metric=m)
    actions = script.decide()
    assert only(actions, Promote)[0] == Promote("t001", "best validation perplexity 50 of 4 completed candidates")


def test_every_candidate_failing_ends_with_a_clear_failed_status():
    script = Script(make_spec(strategy={"name": "full"}, budget={"retries": 0, "maxFailedTrials": 10}))
    script.decide()
    script.train("dense", 6)
    for t in ("t000", "t001", "t002", "t003"):
        record_error(script.state, t, f"{t} cannot read data")
    actions = script.decide()
    assert ids(actions, Fail) == ["t000", "t001", "t002", "t003"]
    assert actions[-1] == Finish("failed", "no candidate completed (4 failed); last problem: t003: crashed 1 time "
                                           "(budget.retries = 0); last error: t003 cannot read data")


def test_every_candidate_diverging_ends_with_a_clear_failed_status():
    script = Script(make_spec(strategy={"name": "full"}))
    script.decide()
    script.train("dense", 6)
    for t in ("t000", "t001", "t002", "t003"):
        script.report(t, 1, None, status="diverged")
    actions = script.decide()
    assert actions == [Finish("failed", "no candidate completed (4 diverged); last problem: t003: diverged at epoch 1")]


def test_a_spectrum_of_the_wrong_length_fails_its_trial_with_a_clear_reason():
    script = Script(make_spec(budget={"maxFailedTrials": 2}))
    script.decide()
    script.train("dense", 2)
    record_report(script.state, "t000", epoch=1, metric=50.0, mode="min")
    record_report(script.state, "t000", epoch=2, metric=50.0, mode="min", spectrum=np.zeros(5))
    actions = script.decide()
    assert actions == [
        Fail(
            "t000",
            "epoch 2: a spectrum of 5 exponents cannot be compared with the dense reference's 8; "
            "every trial must use the same model size and lyapunov.k",
        )
    ]


def test_reports_of_ended_or_unknown_trials_are_ignored():
    script = Script(make_spec())
    script.decide()
    assert not record_report(script.state, "t999", epoch=1, metric=1.0, mode="min")
    script.train("dense", 2)
    for t, d in (("t000", 0.1), ("t001", 0.4), ("t002", 0.2), ("t003", 0.3)):
        script.train(t, 2, distances={2: d})
    script.decide()
    assert script.state.trial("t001").status == "stopped"
    assert not record_report(script.state, "t001", epoch=3, metric=1.0, mode="min")
    assert not record_error(script.state, "t001", "late crash")
    assert script.state.trial("t001").status == "stopped"


def test_the_last_problem_of_a_failed_search_is_a_failure_not_a_rung_decision():
    script = Script(make_spec(strategy={"name": "asha-loss", "generation": {"sampler": "random"}},
                              budget={"retries": 0, "maxFailedTrials": 10, "parallelism": 5}))
    script.decide()
    script.train("dense", 6)
    record_error(script.state, "t000", "t000 cannot read data")
    for t, m in (("t001", 10.0), ("t002", 90.0), ("t003", 95.0)):
        script.train(t, 2, metric=m)
    script.decide()  # t000 failed; the rung keeps t001 and t002, and stops t003
    assert script.state.trial("t003").status == "stopped"
    record_error(script.state, "t001", "oom")
    record_error(script.state, "t002", "disk full")
    actions = script.decide()
    finish = only(actions, Finish)[0]
    assert finish.outcome == "failed"  # t003, created last, was stopped by the rung: not the problem
    assert finish.message.endswith("last problem: t002: crashed 1 time (budget.retries = 0); last error: disk full")


def test_a_reopened_search_resumes_its_failed_trials_and_those_its_failure_stopped():
    from hyperprune.policy import reopen

    script = Script(make_spec(budget={"retries": 0, "maxFailedTrials": 1}))
    script.decide()
    script.train("t001", 2, distances={2: 0.1})  # paused at its rung
    record_error(script.state, "t000", "no space left on device")
    record_error(script.state, "t002", "no space left on device")
    script.decide()
    assert script.state.outcome == "failed"
    statuses = {t.id: t.status for t in script.state.trials}
    assert statuses == {"dense": "stopped", "t000": "failed", "t001": "stopped", "t002": "failed", "t003": "stopped"}
    script.roundtrip()

    assert reopen(script.state) == ["dense", "t000", "t001", "t002", "t003"]
    assert script.state.outcome is None
    assert script.state.trial("t001").status == "paused"  # it had reached its rung
    assert all(script.state.trial(t).failures == 0 for t in ("t000", "t002"))
    actions = script.decide()
    resumed = only(actions, Continue)
    assert [a.trial_id for a in resumed] == ["dense", "t000", "t002", "t003"]
    assert resumed[1].reason.startswith("resumed, from its checkpoint at epoch 0: reopened after: crashed 1 time")
    assert only(actions, Finish) == []


def test_reopening_leaves_a_succeeded_search_and_a_strategys_stops_alone():
    from hyperprune.policy import reopen

    script = Script(make_spec(strategy={"name": "full"}, budget={"maxTrials": 1}))
    script.decide()
    script.train("dense", 6)
    script.train("t000", 6)
    script.decide()
    assert script.state.outcome == "succeeded"
    assert reopen(script.state) == [] and script.state.outcome == "succeeded"


def test_a_lost_checkpoint_counts_the_epochs_trained_again():
    from hyperprune.policy import restart_from_scratch

    script = Script(make_spec())
    script.decide()
    script.train("t000", 2, distances={2: 0.3})
    assert script.state.trial("t000").epochs_spent == 2
    assert restart_from_scratch(script.state, "t000")
    script.train("t000", 2, distances={2: 0.3})
    assert script.state.trial("t000").epochs_spent == 4 and script.state.trial("t000").epoch == 2
