"""lsh's score (spec.strategy.score): the published LS distance over all exponents by default, the
largest few exponents only (``exponents``), or LS early and the validation metric from ``metricFrom``
of training on (``ls-then-metric``)."""

from __future__ import annotations

import numpy as np
import pytest

from hyperprune.policy.rungs import LsDistance
from hyperprune.policy.simulate import Simulation, Trajectory
from hyperprune.policy.state import Observation, TrialState
from hyperprune.spec import Point, SearchSpecError
from policy_support import make_spec

SPARSITIES = (0.3, 0.5, 0.7, 0.9)


def spec(**score):
    return make_spec(**{"training": {"epochs": 8}, "space": None,
                        "candidates": [{"method": "magnitude", "sparsity": s, "params": {"pruneEpoch": 0}} for s in SPARSITIES],
                        "budget": {"maxTrials": 4, "parallelism": 5}, "dense": {"compare": False},
                        "strategy": {"name": "lsh", "rungs": {"epochs": [2, 4], "keepFraction": 0.5, "finalists": 1},
                                     "score": score}})


def disagreeing(trial_id: str, point: Point) -> Trajectory:
    """LS distance i + 1 for candidate i (c0 closest); the validation metric from epoch 4 on ranks c1
    best, then c0, c2, c3."""
    i = -1 if point.is_dense else SPARSITIES.index(point.sparsity)
    late = {0: 110.0, 1: 100.0, 2: 120.0, 3: 130.0}.get(i, 90.0)
    return Trajectory(metric=lambda e: late if e >= 4 else 200.0,
                      spectrum=lambda e: np.array([float(i + 1), -1.0]))


def promoted_sparsity(sim: Simulation) -> float:
    return sim.state.trial(sim.state.promoted).params.sparsity


def test_the_published_rule_ranks_every_rung_by_ls_distance():
    sim = Simulation(spec(), disagreeing).run()
    assert promoted_sparsity(sim) == 0.3  # c0, the closest


def test_ls_then_metric_ranks_early_rungs_by_ls_and_later_ones_by_the_validation_metric():
    s = spec(rule="ls-then-metric", metricFrom=0.5)
    assert s.ls_rung_epochs() == [2] and s.dense_epochs() == 2  # the dense reference is read at rung 2 only
    sim = Simulation(s, disagreeing).run()
    assert promoted_sparsity(sim) == 0.5  # c1: kept by LS at epoch 2, first by validation at epoch 4
    stops = [a for _, a in sim.log if type(a).__name__ == "Stop" and a.trial_id != "dense"]
    assert {a.rung_epoch for a in stops} == {2, 4}
    assert all("validation perplexity" in a.reason for a in stops if a.rung_epoch == 4)
    assert all("LS distance" in a.reason for a in stops if a.rung_epoch == 2)


def test_exponents_measure_the_distance_over_the_largest_exponents_only():
    dense = TrialState("dense", "dense", Point.dense())
    dense.observations[2] = Observation(2, 1.0, "min", np.array([1.0, 0.0, -5.0]))
    far_tail = TrialState("t0", "candidate", Point.of("random", 0.5))
    far_tail.observations[2] = Observation(2, 1.0, "min", np.array([0.0, 1.0, -50.0]))  # top 2 equal, tail far
    assert LsDistance(dense).scores([far_tail], 2)[0] == pytest.approx(np.sqrt(1 + 1 + 45.0**2))
    assert LsDistance(dense, top=2).scores([far_tail], 2)[0] == 0.0
    assert "top 2 exponents" in LsDistance(dense, top=2).describe(0.0)


@pytest.mark.parametrize("strategy, score, field", [
    ("asha-loss", {"rule": "ls-then-metric"}, "strategy.score.rule"),
    ("lsh-sync", {"rule": "ls-then-metric"}, "strategy.score.rule"),
    ("full", {"exponents": 8}, "strategy.score.exponents"),
])
def test_a_score_a_strategy_cannot_use_is_named(strategy, score, field):
    with pytest.raises(SearchSpecError) as err:
        make_spec(strategy={"name": strategy, "score": score})
    assert any(line.startswith(f"spec.{field}") for line in err.value.errors), err.value.errors
