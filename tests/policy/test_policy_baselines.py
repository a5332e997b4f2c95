"""The baselines: full, asha-loss, median, random."""

from __future__ import annotations

import pytest
from policy_support import Continue, Promote, Script, Start, Stop, ids, make_spec, only

from hyperprune.policy.median import running_average
from hyperprune.policy.scoring import random_score


def test_full_trains_every_candidate_to_the_end_and_promotes_the_best():
    spec = make_spec(strategy={"name": "full"})
    script = Script(spec)
    actions = script.decide()
    assert [(a.trial_id, a.until_epoch) for a in actions] == [("dense", 6)] + [(f"t00{i}", 6) for i in range(4)]
    for t, m in (("dense", 60.0), ("t000", 64.0), ("t001", 59.0), ("t002", 61.0)):
        script.train(t, 6, metric=m)
        assert only(script.decide(), Stop) == []
    script.train("t003", 6, metric=58.5)
    actions = script.decide()
    assert only(actions, Promote) == [Promote("t003", "best validation perplexity 58.5 of 4 completed candidates; dense reference 60")]
    assert script.state.trial_epochs == 5 * 6


def test_asha_loss_ranks_by_validation_metric_not_distance():
    spec = make_spec(strategy={"name": "asha-loss"})
    script = Script(spec)
    script.decide()
    # Distances say the opposite of the metric: asha-loss must ignore them.
    for t, metric, d in (("t000", 90.0, 0.1), ("t001", 80.0, 0.4), ("t002", 70.0, 0.3), ("t003", 85.0, 0.2)):
        script.train(t, 2, metric=metric, distances={2: d})
    actions = script.decide()
    assert ids(actions, Continue) == ["t002", "t001"]
    assert only(actions, Continue)[0].reason == "validation perplexity 70 ranked 1 of 4 at epoch 2; keeping 2"
    assert ids(actions, Stop) == ["t003", "t000"]


def test_asha_loss_with_accuracy_keeps_the_highest():
    spec = make_spec(strategy={"name": "asha-loss"}, data={"corpus": "digits"})
    assert spec.metric_mode == "max"
    script = Script(spec)
    script.decide()
    for t, acc in (("t000", 0.91), ("t001", 0.95), ("t002", 0.50), ("t003", 0.93)):
        script.train(t, 2, metric=acc)
    actions = script.decide()
    assert ids(actions, Continue) == ["t001", "t003"]
    assert only(actions, Continue)[0].reason == "validation accuracy 0.95 ranked 1 of 4 at epoch 2; keeping 2"


def test_asha_loss_needs_no_dense_reference():
    spec = make_spec(strategy={"name": "asha-loss"}, dense={"enabled": False})
    script = Script(spec)
    assert ids(script.decide(), Start) == ["t000", "t001", "t002", "t003"]


def test_random_selection_is_seeded_and_ignores_quality():
    def kept(seed: int) -> list[str]:
        script = Script(make_spec(seed=seed, strategy={"name": "random"}, budget={"maxTrials": 4}))
        script.decide()
        for t, m in (("t000", 50.0), ("t001", 60.0), ("t002", 70.0), ("t003", 80.0)):
            script.train(t, 2, metric=m)
        return sorted(ids(script.decide(), Continue))

    assert kept(0) == kept(0)
    draws = {seed: kept(seed) for seed in range(6)}
    assert len({tuple(v) for v in draws.values()}) > 1  # different seeds keep different trials
    # Whatever is kept is exactly the two best draws.
    for seed, chosen in draws.items():
        order = sorted((f"t00{i}" for i in range(4)), key=lambda t: random_score(seed, t, 2))
        assert chosen == sorted(order[:2])


def median_spec(**rule):
    return make_spec(
        strategy={"name": "median", "median": {"graceEpochs": 2, "minTrials": 3, **rule}},
        budget={"maxTrials": 6, "parallelism": 7},
        training={"epochs": 10},
    )


def test_running_average_is_the_mean_up_to_the_epoch():
    script = Script(median_spec())
    script.decide()
    for epoch, m in ((1, 30.0), (2, 20.0), (3, 10.0)):
        script.report("t000", epoch, m)
    trial = script.state.trial("t000")
    assert running_average(trial, 2) == pytest.approx(25.0)
    assert running_average(trial, 3) == pytest.approx(20.0)


def test_median_rule_uses_a_true_median_not_a_mean():
    script = Script(median_spec())
    actions = script.decide()
    assert all(a.until_epoch == 10 for a in actions)  # no rungs: everyone is told to go to the end
    # Three others' running averages at epoch 2: 10.5, 11.5, 300 -> median 11.5 (the mean would be 107).
    for t, (m1, m2) in (("t000", (11, 10)), ("t001", (12, 11)), ("t002", (400, 200))):
        script.report(t, 1, m1)
        script.report(t, 2, m2)
    script.report("t003", 1, 40.0)
    assert script.decide() == []  # still in its grace period
    script.report("t003", 2, 30.0)
    actions = script.decide()
    stopped = {s.trial_id: s for s in only(actions, Stop)}
    assert "t003" in stopped  # best 30 > median 11.5 (a mean-based rule would keep it: 30 < 107)
    assert stopped["t003"].reason == (
        "best validation perplexity by epoch 2 (30) is worse than the median 11.5 of 3 other trials' running averages"
    )
    assert "t000" not in stopped and "t001" not in stopped


def test_median_rule_waits_for_enough_other_trials():
    script = Script(median_spec(minTrials=3))
    script.decide()
    for t, m in (("t000", 10.0), ("t001", 11.0)):
        script.train(t, 3, metric=m)
    script.train("t002", 3, metric=500.0)
    # t002 sees only two others at epoch 3: not enough for a median.
    assert script.decide() == []
    script.train("t003", 3, metric=12.0)
    assert "t002" in ids(script.decide(), Stop)


def test_median_rule_with_accuracy():
    script = Script(
        make_spec(
            data={"corpus": "digits"},
            strategy={"name": "median", "median": {"graceEpochs": 1, "minTrials": 2}},
            budget={"maxTrials": 3, "parallelism": 4},
        )
    )
    script.decide()
    script.train("t000", 2, metric=0.9)
    script.train("t001", 2, metric=0.8)
    script.train("t002", 2, metric=0.3)
    stops = only(script.decide(), Stop)
    assert [s.trial_id for s in stops] == ["t002"]
    assert "accuracy by epoch 2 (0.3)" in stops[0].reason
