"""Objectives: the sparsest candidate within a tolerance of dense, the pareto front of metric against
cost (promoted point by point), rungs that keep the best of each sparsity, and the spec's refusals."""

from __future__ import annotations

import pytest
from policy_support import BASE_DOC, Continue, Promote, Script, Stop, ids, make_spec, merge, only

from hyperprune.contract.efficiency import Efficiency
from hyperprune.policy import decide, record_report
from hyperprune.policy.objectives import front_ranks, hypervolume
from hyperprune.policy.summary import promoted_front
from hyperprune.spec import SearchSpecError, parse_search

SPARSITIES = (0.5, 0.7, 0.8, 0.9)


def pool_spec(objective: dict, strategy: str = "full", sparsities=SPARSITIES, **overrides):
    pool = [{"method": "magnitude", "sparsity": s, "params": {"scope": "layer"}} for s in sparsities]
    return make_spec(space=None, candidates=pool, budget={"maxTrials": len(pool)},
                     strategy={"name": strategy}, objective=objective, **overrides)


def by_sparsity(script: Script) -> dict[float, str]:
    """The candidate of each sparsity of the pool (the search draws the pool in its own order)."""
    return {t.params.sparsity: t.id for t in script.state.candidates}


def finished(spec, dense: float, metrics: dict[float, float]) -> Script:
    """The dense model and the candidate of each sparsity trained to the end with these final metrics."""
    script = Script(spec)
    script.decide()
    script.train("dense", spec.final_epoch, metric=dense)
    for sparsity, trial_id in by_sparsity(script).items():
        script.train(trial_id, spec.final_epoch, metric=metrics[sparsity])
    return script


def test_front_ranks_sort_points_into_non_dominated_layers():
    points = [(1.0, 4.0), (2.0, 2.0), (4.0, 1.0), (3.0, 3.0), (4.0, 4.0), (2.0, 2.0)]
    assert front_ranks(points) == [0, 0, 0, 1, 2, 0]


def test_hypervolume_is_the_area_the_front_dominates_up_to_the_reference():
    assert hypervolume([(1.0, 3.0), (2.0, 1.0)], (4.0, 4.0)) == 3.0 * 1.0 + 2.0 * 2.0
    assert hypervolume([(1.0, 3.0), (2.0, 1.0), (3.0, 3.0)], (4.0, 4.0)) == 7.0  # a dominated point adds nothing
    assert hypervolume([(5.0, 1.0)], (4.0, 4.0)) == 0.0


def test_pareto_promotes_the_best_metric_and_lists_every_non_dominated_point():
    spec = pool_spec({"name": "pareto"})
    # 0.7 (sparser and better) dominates 0.5; 0.9 dominates 0.8.
    script = finished(spec, 57.0, {0.5: 60.0, 0.7: 58.0, 0.8: 65.0, 0.9: 64.0})
    trial = by_sparsity(script)
    assert promoted_front(spec, script.state) == []  # nothing promoted yet
    actions = script.decide()
    promote = only(actions, Promote)[0]
    assert promote.trial_id == trial[0.7]
    assert promote.reason.startswith("front of 2 over validation perplexity and planned density")
    assert "1 other front point promoted beside it" in promote.reason
    front = promoted_front(spec, script.state)
    assert [(p.trial.id, p.metric, p.measured) for p in front] == [(trial[0.9], 64.0, False), (trial[0.7], 58.0, False)]
    assert front[0].cost == pytest.approx(0.1)


def test_pareto_weighs_the_measured_cost_when_every_candidate_measured_one():
    spec = pool_spec({"name": "pareto", "cost": "bytes"})
    script = Script(spec)
    script.decide()
    trial = {**by_sparsity(script), 0.0: "dense"}
    # Measured bytes disagree with the planned sparsity: the s=0.5 model exported smallest.
    sizes = {0.0: 1000, 0.5: 100, 0.7: 300, 0.8: 200, 0.9: 400}
    metrics = {0.0: 57.0, 0.5: 60.0, 0.7: 58.0, 0.8: 61.0, 0.9: 59.0}
    for sparsity, trial_id in trial.items():
        script.train(trial_id, spec.final_epoch - 1, metric=metrics[sparsity])
        record_report(script.state, trial_id, epoch=spec.final_epoch, metric=metrics[sparsity], mode="min",
                      status="completed", efficiency=measured(sizes[sparsity]))
    script.decide()
    front = promoted_front(spec, script.state)
    assert [(p.trial.id, p.cost, p.measured) for p in front] == [(trial[0.5], 100.0, True), (trial[0.7], 300.0, True)]


def measured(export_bytes: int) -> Efficiency:
    return Efficiency(device="cpu (1 threads)", parameters=1000, nonzero_parameters=export_bytes, hidden_sizes=[8],
                      dense_bytes=1000, export_bytes=export_bytes, export_format="packed-mask",
                      dense_flops_per_step=2000, flops_per_step=2 * export_bytes)


@pytest.mark.parametrize(
    "metrics,winner,why",
    [
        ({0.5: 59.0, 0.7: 62.0, 0.8: 66.0, 0.9: 70.0}, 0.7, "cheapest by planned density (0.3) of 2 within 5% of dense 60"),
        ({0.5: 64.0, 0.7: 65.0, 0.8: 66.0, 0.9: 70.0}, 0.5, "no candidate within 5% of dense 60; best metric"),
    ],
    ids=["one-within", "none-within"],
)
def test_sparsest_within_promotes_the_sparsest_candidate_close_enough_to_dense(metrics, winner, why):
    spec = pool_spec({"name": "sparsest-within", "tolerance": 5})
    script = finished(spec, 60.0, metrics)
    promote = only(script.decide(), Promote)[0]
    assert promote.trial_id == by_sparsity(script)[winner] and promote.reason.startswith(why)


def test_sparsest_within_accuracy_allows_the_tolerance_below_dense():
    spec = pool_spec({"name": "sparsest-within", "tolerance": 2}, data={"corpus": "digits"})
    script = finished(spec, 0.9, {0.5: 0.93, 0.7: 0.89, 0.8: 0.87, 0.9: 0.5})
    # 0.89 >= 0.9 - 2 % of 0.9; 0.87 is not
    assert only(script.decide(), Promote)[0].trial_id == by_sparsity(script)[0.7]


@pytest.mark.parametrize("objective,kept", [("metric", [(0.5, "layer"), (0.5, "global")]),
                                            ("pareto", [(0.5, "layer"), (0.9, "layer")])])
def test_a_rung_weighing_cost_keeps_the_best_of_the_sparse_candidates_too(objective, kept):
    pool = [(0.5, "layer"), (0.5, "global"), (0.9, "layer"), (0.9, "global")]
    spec = make_spec(space=None, candidates=[{"method": "magnitude", "sparsity": s, "params": {"scope": scope}}
                                             for s, scope in pool],
                     budget={"maxTrials": 4}, objective={"name": objective},
                     strategy={"name": "asha-loss", "rungs": {"first": 2, "step": 2, "count": 1, "keepFraction": 0.5}})
    script = Script(spec)
    script.decide()
    trial = {(t.params.sparsity, t.params.params["scope"]): t.id for t in script.state.candidates}
    for key, metric in zip(pool, (70.0, 72.0, 80.0, 85.0)):
        script.train(trial[key], 2, metric=metric)
    actions = script.decide()
    assert sorted(ids(actions, Continue)) == sorted(trial[key] for key in kept)
    assert len(only(actions, Stop)) == 2


def test_objectives_are_deterministic_and_level_triggered():
    spec = pool_spec({"name": "pareto"})
    metrics = {0.5: 60.0, 0.7: 58.0, 0.8: 65.0, 0.9: 64.0}
    first, second = finished(spec, 57.0, metrics), finished(spec, 57.0, metrics)
    assert first.decide() == second.decide()  # Script.decide also checks that a second call adds nothing
    second.roundtrip()
    assert decide(spec, second.state) == [] and promoted_front(spec, second.state) == promoted_front(spec, first.state)


@pytest.mark.parametrize(
    "overrides,path,words",
    [
        ({"objective": {"name": "sparsest-within"}}, "spec.objective.tolerance", "needs a tolerance"),
        ({"objective": {"name": "pareto", "tolerance": 5}}, "spec.objective.tolerance", "only sparsest-within"),
        ({"objective": {"name": "sparsest-within", "tolerance": 5}, "dense": {"enabled": False},
          "strategy": {"name": "asha-loss"}}, "spec.objective.tolerance", "dense.enabled"),
        ({"objective": {"name": "pareto"}, "strategy": {"name": "lsh-sync"}}, "spec.objective.name", "lsh-sync"),
        ({"objective": {"name": "pareto"}, "strategy": {"name": "median"}}, "spec.objective.name", "median"),
        ({"objective": {"name": "pareto", "cost": "latency"}}, "spec.objective.cost", "device auto"),
        ({"objective": {"name": "pareto", "cost": "energy"}}, "spec.objective.cost", ""),
    ],
)
def test_an_objective_the_search_cannot_pursue_is_refused_naming_the_field(overrides, path, words):
    with pytest.raises(SearchSpecError) as caught:
        parse_search(merge(BASE_DOC, {"spec": overrides}))
    assert any(line.startswith(path) and words in line for line in caught.value.errors), caught.value.errors


def test_latency_is_accepted_once_the_device_is_fixed():
    spec = make_spec(objective={"name": "pareto", "cost": "latency"}, device="cpu")
    assert spec.objective.cost == "latency"
