"""Candidate generation: TPE seeded and conditioned on LS distances, random, no duplicates, pools."""

from __future__ import annotations

from collections import Counter

import pytest
from policy_support import Script, Start, make_spec, only

from hyperprune.policy import Evaluated, SpaceExhausted, propose
from hyperprune.policy.decide import generator_history
from hyperprune.policy.generation import Encoding, nearest, pool_space
from hyperprune.spec import Point

SPACE = {
    "methods": [
        {"method": "selfish", "params": {"deathRate": {"low": 0.3, "high": 0.7}, "death": ["magnitude", "threshold"]}},
        {"method": "magnitude", "params": {"scope": ["layer", "global"], "pruneEpoch": {"low": 0, "high": 1}}},
        {"method": "set", "params": {"zeta": {"low": 0.1, "high": 0.5}}},
    ],
    "sparsity": {"low": 0.5, "high": 0.9},
    "training": {"lr": {"low": 0.5, "high": 20.0, "log": True}},
}


def tpe_spec(**generation):
    return make_spec(
        space=SPACE,
        budget={"maxTrials": 40},
        strategy={"generation": {"sampler": "tpe", "startupTrials": 4, **generation}},
    )


def test_proposals_respect_the_space_and_its_conditional_parameters():
    spec = tpe_spec()
    own = {"selfish": {"deathRate", "death"}, "magnitude": {"scope", "pruneEpoch"}, "set": {"zeta"}}
    for index in range(12):
        point = propose(spec, [], index)
        assert set(point.params) == own[point.method]
        assert 0.5 <= point.sparsity <= 0.9 and 0.5 <= point.training["lr"] <= 20.0
        if point.method == "magnitude":
            assert isinstance(point.params["pruneEpoch"], int)
        # Every proposal is a valid trial config.
        spec.trial_config(f"t{index:03d}", point)


def test_proposals_are_deterministic_for_a_seed_and_history():
    spec = tpe_spec()
    history = [Evaluated(propose(spec, [], i), value=float(i)) for i in range(8)]
    assert propose(spec, history, 8) == propose(spec, history, 8)
    other_seed = make_spec(seed=7, space=SPACE, budget={"maxTrials": 40}, strategy={"generation": {"sampler": "tpe", "startupTrials": 4}})
    assert propose(other_seed, history, 8) != propose(spec, history, 8)


def test_the_study_kept_between_proposals_changes_no_proposal():
    # A search keeps its TPE study in its state's memo (hyperprune.policy.generation._Mirror): candidates
    # are added once and running ones move to their results. Every proposal must equal a fresh study's,
    # through arrivals, results, a failure and a changing "worst" value (which rebuilds the study).
    spec = tpe_spec()
    memo: dict = {}
    history: list[Evaluated] = []
    for index in range(30):
        fresh, kept = propose(spec, history, index), propose(spec, history, index, memo)
        assert kept == fresh, index
        history.append(Evaluated(kept))  # running
        if index >= 2:  # the candidate started two proposals ago reports its distance
            done = history[index - 2]
            history[index - 2] = Evaluated(done.point, value=float(index % 5) + 0.1 * index, failed=index % 11 == 0)
        if index == 20:  # a diverged candidate counts as the worst seen, which moves as results come in
            history[3] = Evaluated(history[3].point, value=100.0 + index)
    assert "tpe" in memo


def test_tpe_is_conditioned_on_the_observed_distances():
    spec = tpe_spec()
    points = [propose(spec, [], i) for i in range(16)]

    def history(good_method: str) -> list[Evaluated]:
        return [Evaluated(p, value=0.1 if p.method == good_method else 5.0) for p in points]

    picks = {good: Counter(propose(spec, history(good), 16 + k).method for k in range(12)) for good in ("set", "magnitude")}
    # Same seeds, different observations, different proposals: TPE follows the small distances.
    assert picks["set"]["set"] > picks["set"]["magnitude"]
    assert picks["magnitude"]["magnitude"] > picks["magnitude"]["set"]


def test_running_and_failed_candidates_enter_the_history_without_a_value():
    spec = tpe_spec()
    points = [propose(spec, [], i) for i in range(6)]
    history = [Evaluated(points[0], value=0.3), Evaluated(points[1]), Evaluated(points[2], failed=True)]
    proposal = propose(spec, history, 6)
    assert proposal.key not in {p.key for p in points[:3]}


def test_duplicates_are_never_proposed_and_an_exhausted_space_is_reported():
    space = {"methods": [{"method": "magnitude", "params": {"scope": ["layer", "global"]}}], "sparsity": [0.5, 0.75]}
    spec = make_spec(space=space, budget={"maxTrials": 10}, strategy={"generation": {"sampler": "tpe", "startupTrials": 1}})
    assert spec.max_candidates() == 4
    history: list[Evaluated] = []
    for index in range(4):
        history.append(Evaluated(propose(spec, history, index), value=float(index)))
    assert len({h.point.key for h in history}) == 4
    with pytest.raises(SpaceExhausted):
        propose(spec, history, 4)


def test_a_small_space_is_searched_exhaustively_by_decide():
    space = {"methods": [{"method": "magnitude", "params": {"scope": ["layer", "global"]}}], "sparsity": [0.5, 0.75]}
    spec = make_spec(space=space, budget={"maxTrials": 10, "parallelism": 11}, strategy={"name": "full"})
    actions = Script(spec).decide()
    starts = only(actions, Start)[1:]
    assert len(starts) == 4  # the space has 4 points: maxTrials is capped
    assert len({s.params.key for s in starts}) == 4


POOL = [
    {"method": "selfish", "sparsity": 0.67, "params": {"death": "magnitude", "deathRate": 0.4}},
    {"method": "selfish", "sparsity": 0.67, "params": {"death": "magnitude", "deathRate": 0.9}},
    {"method": "selfish", "sparsity": 0.67, "params": {"death": "set", "deathRate": 0.5}},
    {"method": "magnitude", "sparsity": 0.67, "params": {"scope": "global"}},
    {"method": "magnitude", "sparsity": 0.5, "params": {"scope": "layer"}},
]


def pool_spec(sampler: str, name: str = "lsh"):
    return make_spec(
        space=None,
        candidates=POOL,
        budget={"maxTrials": 10},
        strategy={"name": name, "generation": {"sampler": sampler, "startupTrials": 2}},
    )


def test_pool_space_contains_every_pool_point():
    pool = pool_spec("tpe").pool()
    encoding = Encoding(pool_space(pool))
    assert all(encoding.encode(p) is not None for p in pool)


def test_nearest_snaps_to_the_same_method_then_the_closest_value():
    pool = pool_spec("tpe").pool()
    proposal = Point.of("selfish", 0.67, {"death": "magnitude", "deathRate": 0.8})
    assert nearest(proposal, pool, pool) == pool[1]
    assert nearest(proposal, [pool[0], pool[3]], pool) == pool[0]
    assert nearest(Point.of("magnitude", 0.55, {"scope": "layer"}), pool, pool) == pool[4]


@pytest.mark.parametrize("sampler, name", [("tpe", "lsh"), ("random", "full")])
def test_a_pool_is_used_point_by_point_without_repeats(sampler, name):
    spec = pool_spec(sampler, name)
    assert spec.max_candidates() == 5
    history: list[Evaluated] = []
    for index in range(5):
        point = propose(spec, history, index)
        assert point in spec.pool()
        history.append(Evaluated(point, value=float(index)))
    assert sorted(h.point.key for h in history) == sorted(p.key for p in spec.pool())
    with pytest.raises(SpaceExhausted):
        propose(spec, history, 5)


def test_a_pool_candidate_that_turns_clipping_off_is_proposed_like_any_other():
    pool = [{**POOL[0], "training": {"clip": None}}, POOL[0], POOL[3]]
    spec = make_spec(space=None, candidates=pool, budget={"maxTrials": 3},
                     strategy={"name": "lsh", "generation": {"sampler": "tpe", "startupTrials": 1}})
    history: list[Evaluated] = []
    for index in range(3):
        history.append(Evaluated(propose(spec, history, index), value=float(index)))
    assert sorted(h.point.key for h in history) == sorted(p.key for p in spec.pool())
    assert any(h.point.training.get("clip", 0.25) is None for h in history)


def test_generator_history_uses_the_ls_distance_at_the_first_rung():
    script = Script(make_spec(budget={"maxTrials": 4, "parallelism": 5}))
    script.decide()
    script.train("dense", 2)
    script.train("t000", 2, distances={2: 0.25})
    script.report("t001", 1, None, status="diverged")
    script.train("t002", 2, distances={2: 0.75})
    from hyperprune.policy.plan import Plan

    history = generator_history(Plan(script.spec, script.state))
    assert [h.value for h in history] == [pytest.approx(0.25), pytest.approx(0.75), pytest.approx(0.75), None]
    assert [h.failed for h in history] == [False, False, False, False]
