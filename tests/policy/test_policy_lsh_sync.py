"""lsh-sync: the published synchronous rounds (keep floor(n/2)+1, retrain from scratch)."""

from __future__ import annotations

from policy_support import Continue, Promote, Script, Stop, ids, make_spec, only

from hyperprune.policy.rounds import survivors_count
from hyperprune.policy.simulate import Simulation, latent_trajectories


def sync_spec(**overrides):
    base = {
        "training": {"epochs": 12},
        "budget": {"maxTrials": 5, "parallelism": 6},
        "strategy": {"name": "lsh-sync", "rungs": {"first": 3, "step": 3, "finalists": 2}},
    }
    base.update(overrides)
    return make_spec(**base)


def test_floor_half_plus_one_survive():
    assert [survivors_count(n) for n in (1, 2, 3, 4, 5, 26)] == [1, 2, 2, 3, 3, 14]


def test_round_one_waits_for_every_candidate():
    script = Script(sync_spec())
    started = script.decide()
    assert [a.until_epoch for a in started] == [12, 3, 3, 3, 3, 3]
    script.train("dense", 3)
    for t, d in (("t000", 0.5), ("t001", 0.1), ("t002", 0.4), ("t003", 0.2)):
        script.train(t, 3, distances={3: d})
    assert script.decide() == []  # t004 has not reached epoch 3: no asynchronous promotion here


def test_rounds_keep_floor_half_plus_one_and_retrain_from_scratch():
    script = Script(sync_spec())
    script.decide()
    script.train("dense", 12)
    for t, d in (("t000", 0.5), ("t001", 0.1), ("t002", 0.4), ("t003", 0.2), ("t004", 0.3)):
        script.train(t, 3, distances={3: d})
    actions = script.decide()
    continued = only(actions, Continue)
    assert [c.trial_id for c in continued] == ["t001", "t003", "t004"]  # 5 -> 3
    assert all(c.from_scratch and c.until_epoch == 6 for c in continued)
    assert [(s.trial_id, s.rank, s.of, s.keep) for s in only(actions, Stop)] == [("t002", 4, 5, 3), ("t000", 5, 5, 3)]
    # Retrained from scratch: epochs 1..6 again (trial-epochs count the retraining).
    for t, d in (("t001", 0.3), ("t003", 0.1), ("t004", 0.2)):
        script.train(t, 6, distances={6: d})
    assert script.state.trial("t001").epochs_spent == 3 + 6
    actions = script.decide()
    # 3 -> floor(3/2)+1 = 2 = finalists: they retrain from scratch to the end.
    assert [(c.trial_id, c.until_epoch, c.from_scratch) for c in only(actions, Continue)] == [
        ("t003", 12, True),
        ("t004", 12, True),
    ]
    assert ids(actions, Stop) == ["t001"]
    script.train("t003", 12, metric=71.0)
    script.train("t004", 12, metric=70.0)
    actions = script.decide()
    assert only(actions, Promote)[0].trial_id == "t004"
    assert script.state.trial_epochs == 12 + 5 * 3 + 3 * 6 + 2 * 12


def test_survivors_waiting_for_a_worker_continue_after_others_retrained():
    script = Script(sync_spec(budget={"maxTrials": 5, "parallelism": 3}))
    script.decide()  # dense, t000, t001
    script.train("dense", 9)  # still training: it holds one of the three workers
    for t, d in (("t000", 0.5), ("t001", 0.1)):
        script.train(t, 3, distances={3: d})
    script.decide()  # t002, t003
    for t, d in (("t002", 0.4), ("t003", 0.2)):
        script.train(t, 3, distances={3: d})
    script.decide()  # t004
    script.train("t004", 3, distances={3: 0.3})
    actions = script.decide()
    assert ids(actions, Continue) == ["t001", "t003"]  # only two workers; t004 survives too, waits
    assert ids(actions, Stop) == ["t002", "t000"]
    # t001 retrains from scratch and, this time, is far at epoch 3: round 1 stays decided.
    script.train("t001", 6, distances={3: 2.0, 6: 0.1})
    assert script.decide() == [Continue("t004", 6, from_scratch=True, reason="kept at epoch 3")]


def test_trial_epochs_follow_the_published_schedule():
    spec = sync_spec(budget={"maxTrials": 8, "parallelism": 3})
    sim = Simulation(spec, latent_trajectories(seed=3)).run()
    # 8 to epoch 3, 5 to 6, 3 to 9, 2 finalists to 12, and the dense model to 12.
    assert sim.state.trial_epochs == 8 * 3 + 5 * 6 + 3 * 9 + 2 * 12 + 12
    assert sim.state.counts()["completed"] == 2
    assert all(c.from_scratch for c in sim.actions(Continue))
