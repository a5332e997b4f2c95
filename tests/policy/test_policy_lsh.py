"""lsh: asynchronous LS-halving on hand-built scenarios."""

from __future__ import annotations

from hyperprune.spec import Point

import pytest
from policy_support import Continue, Finish, Promote, Script, Start, Stop, ids, make_spec, only

from hyperprune.policy import apply, mark_running


def started(script: Script) -> list[str]:
    actions = script.decide()
    return ids(actions, Start)


def test_dense_starts_first_and_candidates_train_to_the_first_rung():
    script = Script(make_spec())
    actions = script.decide()
    assert [type(a) for a in actions] == [Start] * 5
    assert actions[0] == Start("dense", "dense", actions[0].params, 6)
    assert actions[0].params.method == "none"
    assert [a.trial_id for a in actions[1:]] == ["t000", "t001", "t002", "t003"]
    assert all(a.until_epoch == 2 and a.role == "candidate" for a in actions[1:])


def test_parallelism_caps_what_starts():
    script = Script(make_spec(budget={"parallelism": 3}))
    assert started(script) == ["dense", "t000", "t001"]
    assert script.decide() == []


def two_rungs(**overrides):
    """Rungs at epochs 2 and 4 of 8: the first is asynchronous (ASHA), the last synchronous."""
    return make_spec(training={"epochs": 8}, strategy={"rungs": {"count": 2}}, **overrides)


def test_a_paused_trial_waits_for_the_dense_reference_at_its_rung():
    script = Script(two_rungs())
    script.decide()
    for t, d in (("t000", 0.1), ("t001", 0.4)):
        script.train(t, 2, distances={2: d})
    assert script.decide() == []  # the dense model has not reported epoch 2 yet
    script.train("dense", 2)
    actions = script.decide()
    assert actions == [Continue("t000", 4, reason="LS distance 0.1 ranked 1 of 2 at epoch 2; keeping 1")]


def test_asha_promotion_as_trials_arrive_then_the_rung_closes():
    script = Script(two_rungs())
    script.decide()
    script.train("dense", 2)
    script.train("t000", 2, distances={2: 0.1})
    assert script.decide() == []  # 1 seen: floor(0.5 * 1) = 0 may continue yet
    script.train("t001", 2, distances={2: 0.4})
    assert script.decide() == [Continue("t000", 4, reason="LS distance 0.1 ranked 1 of 2 at epoch 2; keeping 1")]
    script.train("t002", 2, distances={2: 0.2})
    assert script.decide() == []  # t002 ranks 2 of 3, floor(1.5) = 1
    script.train("t003", 2, distances={2: 0.3})
    # 4 seen, keep 2: t002 continues; nothing else can arrive at epoch 2, so the rung closes.
    actions = script.decide()
    assert only(actions, Continue) == [Continue("t002", 4, reason="LS distance 0.2 ranked 2 of 4 at epoch 2; keeping 2")]
    stops = only(actions, Stop)
    assert [(s.trial_id, s.rank, s.of, s.keep, s.rung_epoch) for s in stops] == [
        ("t003", 3, 4, 2, 2),
        ("t001", 4, 4, 2, 2),
    ]
    assert stops[1].reason == "LS distance 0.4 ranked 4 of 4 at epoch 2; keeping 2"
    assert stops[1].score == pytest.approx(0.4)


def test_survivors_continue_from_their_checkpoint_and_the_best_final_metric_is_promoted():
    script = Script(make_spec())
    script.decide()
    script.train("dense", 2)
    for t, d in (("t000", 0.1), ("t001", 0.4), ("t002", 0.2), ("t003", 0.3)):
        script.train(t, 2, distances={2: d})
    actions = script.decide()
    assert ids(actions, Continue) == ["t000", "t002"]
    assert all(not a.from_scratch for a in only(actions, Continue))
    # Closest in LS distance is not necessarily best at the end: the final metric decides.
    script.train("t000", 6, metric=90.0)
    script.train("t002", 6, metric=80.0)
    assert script.decide() == []  # the dense reference is still training
    script.train("dense", 6, metric=85.0)
    actions = script.decide()
    assert actions[0] == Promote("t002", "best validation perplexity 80 of 2 completed candidates; dense reference 85")
    assert isinstance(actions[1], Finish) and actions[1].outcome == "succeeded"
    assert script.state.trial("t000").epochs_spent == 6  # 2 + 4: continued, not retrained
    assert script.state.trial_epochs == 6 + 6 + 6 + 2 + 2


def test_a_free_worker_goes_to_the_trial_at_the_highest_rung():
    spec = make_spec(
        training={"epochs": 8},
        budget={"maxTrials": 4, "parallelism": 2},
        strategy={"rungs": {"count": 3, "keepFraction": 0.5}},
    )
    # Rungs at 2, 4 and 6 (the last, synchronous one).
    # A hand-built state: t000 and t001 reached epoch 4 (rung 2), t000 waits there as the better;
    # t002 waits at epoch 2 as the best there; t003 is training and holds the other worker.
    script = Script(spec)
    for action in (
        Start("dense", "dense", Point.dense(), 8),
        *(Start(t, "candidate", Point.of("random", 0.5), 2) for t in ("t000", "t001", "t002", "t003")),
    ):
        apply(script.state, action)
    script.train("dense", 8)
    for t, d in (("t000", 0.2), ("t001", 0.3), ("t002", 0.1)):
        script.train(t, 2, distances={2: d})
    for t in ("t000", "t001"):
        apply(script.state, Continue(t, 4))
    script.train("t000", 4, distances={4: 0.2})
    script.train("t001", 4, distances={4: 0.6})
    apply(script.state, Stop("t001", "by hand"))
    mark_running(script.state, "t003")
    # t000 ranks 1 of 2 at epoch 4; t002 ranks 1 of 3 at epoch 2; one worker is free.
    assert script.decide() == [Continue("t000", 6, reason="LS distance 0.2 ranked 1 of 2 at epoch 4; keeping 1")]


def test_a_trial_alone_at_a_rung_waits_and_its_worker_starts_a_new_candidate():
    spec = make_spec(
        training={"epochs": 8},
        budget={"maxTrials": 6, "parallelism": 2},
        strategy={"rungs": {"count": 2, "keepFraction": 0.5}},
    )
    script = Script(spec)
    assert started(script) == ["dense", "t000"]
    # Fill the state by hand: the dense model holds one worker throughout.
    script.train("dense", 4)
    script.train("t000", 2, distances={2: 0.3})
    assert started(script) == ["t001"]
    script.train("t001", 2, distances={2: 0.1})
    actions = script.decide()
    assert actions == [Continue("t001", 4, reason="LS distance 0.1 ranked 1 of 2 at epoch 2; keeping 1")]
    script.train("t001", 4, distances={4: 0.1})
    assert started(script) == ["t002"]  # t001 waits alone at epoch 4


def test_ties_rank_by_trial_id():
    script = Script(make_spec())
    script.decide()
    script.train("dense", 2)
    for t in ("t000", "t001", "t002", "t003"):
        script.train(t, 2, distances={2: 0.25})
    actions = script.decide()
    assert ids(actions, Continue) == ["t000", "t001"]
    assert ids(actions, Stop) == ["t002", "t003"]


def test_tied_final_metrics_promote_the_earlier_trial():
    script = Script(make_spec())
    script.decide()
    script.train("dense", 2)
    for t, d in (("t000", 0.3), ("t001", 0.1), ("t002", 0.2), ("t003", 0.4)):
        script.train(t, 2, distances={2: d})
    assert ids(script.decide(), Continue) == ["t001", "t002"]
    script.train("dense", 6)
    script.train("t002", 6, metric=70.0)
    script.train("t001", 6, metric=70.0)
    assert only(script.decide(), Promote)[0].trial_id == "t001"


def test_a_diverged_candidate_ranks_last_and_is_never_promoted():
    script = Script(make_spec(budget={"maxTrials": 3}, strategy={"rungs": {"finalists": 1}}))
    script.decide()
    script.train("dense", 2)
    script.report("t000", 1, metric=None, status="diverged")
    script.train("t001", 2, distances={2: 0.9})
    script.train("t002", 2, distances={2: 0.5})
    actions = script.decide()
    # 3 seen at the last rung, epoch 2 (the diverged one too, ranked last): 1 finalist.
    assert ids(actions, Continue) == ["t002"]
    assert [(s.trial_id, s.rank, s.of) for s in only(actions, Stop)] == [("t001", 2, 3)]
    script.train("dense", 6)
    script.train("t002", 6, metric=120.0)
    actions = script.decide()
    assert only(actions, Promote)[0].trial_id == "t002"
    assert script.state.trial("t000").status == "diverged"


def test_a_missing_spectrum_ranks_last_with_a_clear_reason():
    script = Script(make_spec(budget={"maxTrials": 2}))
    script.decide()
    script.train("dense", 2)
    script.train("t000", 2)  # no spectrum at the rung
    script.train("t001", 2, distances={2: 0.7})
    actions = script.decide()
    assert ids(actions, Continue) == ["t001"]
    (stop,) = only(actions, Stop)
    assert stop.trial_id == "t000" and stop.score is None
    assert stop.reason.startswith("no finite LS distance")


def test_new_candidates_fill_freed_workers_until_max_trials():
    spec = make_spec(budget={"maxTrials": 5, "parallelism": 3})
    script = Script(spec)
    assert started(script) == ["dense", "t000", "t001"]
    script.train("t000", 2, distances={2: 0.1})
    assert started(script) == ["t002"]
    script.train("t001", 2, distances={2: 0.2})
    assert started(script) == ["t003"]
    script.train("t002", 2, distances={2: 0.3})
    assert started(script) == ["t004"]
    script.train("t003", 2, distances={2: 0.4})
    assert script.decide() == []  # five created: the budget is spent
    assert len(script.state.candidates) == 5


def test_the_last_rung_waits_to_close_then_exactly_the_finalists_train_to_the_end():
    # With ASHA's early promotion, whoever arrives first and ranks well among the few seen so far
    # would train to the end; the most expensive step is decided only once everyone is in.
    script = Script(make_spec(budget={"maxTrials": 4, "parallelism": 2}, strategy={"rungs": {"finalists": 1}}))
    assert started(script) == ["dense", "t000"]
    script.train("dense", 2)
    script.train("t000", 2, distances={2: 0.1})
    assert started(script) == ["t001"]  # t000 ranks first but waits: the rung is still open
    script.train("t001", 2, distances={2: 0.4})
    assert started(script) == ["t002"]
    script.train("t002", 2, distances={2: 0.3})
    assert started(script) == ["t003"]
    script.train("t003", 2, distances={2: 0.2})
    actions = script.decide()  # the rung closes: one finalist, three stopped
    assert only(actions, Continue) == [Continue("t000", 6, reason="LS distance 0.1 ranked 1 of 4 at epoch 2; keeping 1")]
    assert [(s.trial_id, s.rank, s.keep) for s in only(actions, Stop)] == [("t003", 2, 1), ("t002", 3, 1), ("t001", 4, 1)]
