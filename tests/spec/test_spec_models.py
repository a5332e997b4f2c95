"""The HyperpruneSearch models: defaults, normalisation, schedules, and the trial configs they produce."""

from __future__ import annotations

import pytest

from hyperprune.spec import HyperpruneSearch, Point, parse_search
from hyperprune.spec.space import Range
from hyperprune.spec.strategy import default_rung_count, sync_round_count
from hyperprune.contract.trial import TrialConfig

MINIMAL = {
    "apiVersion": "hyperprune.io/v1alpha1",
    "kind": "HyperpruneSearch",
    "metadata": {"name": "minimal"},
    "spec": {"space": {"methods": [{"method": "magnitude"}]}},
}


UNBOUNDED = {"methods": [{"method": "magnitude"}], "sparsity": {"low": 0.5, "high": 0.9}}


def search(**spec):
    """A search over an unbounded space (so maxTrials decides how many candidates), with overrides."""
    return parse_search({**MINIMAL, "spec": {"space": UNBOUNDED, **spec}})


def test_a_minimal_spec_works_with_sensible_defaults():
    s = parse_search(MINIMAL).spec
    assert s.strategy.name == "lsh" and s.strategy.sampler == "tpe"
    assert s.dense.enabled and s.budget.max_trials is None and s.budget.parallelism == 2
    assert s.max_candidates() == 1  # one method at one sparsity: the space holds one point
    assert search().spec.max_candidates() == 16
    assert s.final_epoch == 10 and s.rung_epochs() == [3]
    assert s.space.sparsity == 0.67 and s.lyapunov.distance == "l2"
    assert s.metric_mode == "min"
    assert s.trial_template.volume.host_path.path == "/var/lib/hyperprune"
    assert s.output.path == "best"


def test_keys_are_camel_case_on_the_wire_and_snake_case_is_accepted():
    s = search(space={"methods": [{"method": "selfish", "params": {"death_rate": {"low": 0.4, "high": 0.9}}}],
                      "training": {"weight_decay": [0.0, 1e-5]}})
    assert list(s.spec.space.methods[0].params) == ["deathRate"]
    assert list(s.spec.space.training) == ["weightDecay"]
    dumped = s.dump()
    assert dumped["spec"]["trialTemplate"]["imagePullPolicy"] == "IfNotPresent"
    assert dumped["spec"]["strategy"]["rungs"]["keepFraction"] == 0.5
    assert HyperpruneSearch.model_validate(dumped).dump() == dumped


def test_metadata_keeps_fields_the_api_server_adds():
    doc = {**MINIMAL, "metadata": {"name": "x", "uid": "123", "resourceVersion": "7", "generation": 2}}
    assert parse_search(doc).metadata.model_extra["uid"] == "123"


@pytest.mark.parametrize(
    "name, strategy, epochs, expected",
    [
        ("lsh", {"rungs": {"first": 3, "step": 3}}, 10, [3, 6, 9]),  # 16 -> 8 -> 4 -> 2: 3 rungs
        ("lsh", {"rungs": {"first": 2, "step": 2}}, 6, [2, 4]),  # 3 rungs wanted, 2 fit
        ("lsh", {"rungs": {"first": 2, "step": 2, "count": 2}}, 10, [2, 4]),
        ("lsh-sync", {"rungs": {"first": 3, "step": 3}}, 100, [3, 6, 9, 12]),  # 16 -> 9 -> 5 -> 3 -> 2
        ("lsh-sync", {"rungs": {"first": 3, "step": 3}}, 10, [3, 6, 9]),
        ("asha-loss", {"rungs": {"first": 1, "step": 1, "keepFraction": 0.25}}, 10, [1]),  # 16 -> 4
        ("random", {"rungs": {"first": 1, "step": 2}}, 10, [1, 3, 5]),  # 16 -> 8 -> 4 -> 2
        ("full", {}, 10, []),
        ("median", {}, 10, []),
    ],
)
def test_rung_schedules(name, strategy, epochs, expected):
    s = search(training={"epochs": epochs}, strategy={"name": name, **strategy}).spec
    assert s.rung_epochs() == expected


def test_lsh_sync_needs_a_round_per_halving_until_the_finalists():
    assert sync_round_count(40, 2) == 6  # 40 -> 21 -> 11 -> 6 -> 4 -> 3 -> 2, as published
    assert sync_round_count(3, 2) == 1
    assert sync_round_count(10, 1) == 4  # 10 -> 6 -> 4 -> 3 -> 2: floor(2/2)+1 cannot shrink further


def test_default_rung_count_halves_max_trials_down_to_the_finalists():
    assert default_rung_count(16, 0.5, 2) == 3  # 16 -> 8 -> 4 -> 2
    assert default_rung_count(10, 0.5, 2) == 2  # 10 -> 5 -> 2 (a third rung would leave 1)
    assert default_rung_count(40, 1 / 3, 2) == 2  # 40 -> 13 -> 4
    assert default_rung_count(2, 0.5, 2) == 1


def test_trial_configs_share_the_recipe_and_seed_and_carry_the_point():
    s = search(
        seed=7,
        training={"epochs": 8, "lr": 2.0},
        model={"hiddenSize": 48, "dropout": 0.1},
        strategy={"rungs": {"first": 2, "step": 2}},
        space={"methods": [{"method": "selfish"}], "training": {"lr": {"low": 1, "high": 10}}, "model": {"dropout": [0.0, 0.3]}},
    ).spec
    point = Point.of("selfish", 0.75, {"deathRate": 0.6, "death": "threshold"}, {"lr": 4.0}, {"dropout": 0.3})
    config = s.trial_config("t003", point)
    assert isinstance(config, TrialConfig)
    assert (config.trial_id, config.seed) == ("t003", 7)
    assert (config.pruning.method, config.pruning.sparsity) == ("selfish", 0.75)
    assert (config.pruning.params.death_rate, config.pruning.params.death) == (0.6, "threshold")
    assert (config.training.lr, config.training.epochs, config.model.dropout, config.model.hidden_size) == (4.0, 8, 0.3, 48)
    assert config.lyapunov.epochs == [2, 4, 6, 8]  # the rungs and the final epoch
    dense = s.trial_config("dense")
    assert (dense.pruning.method, dense.pruning.sparsity, dense.seed, dense.training.lr) == ("none", 0.0, 7, 2.0)
    assert dense.lyapunov.epochs == config.lyapunov.epochs


def test_strategies_without_rungs_still_compute_the_first_rung_spectrum_for_analysis():
    s = search(strategy={"name": "full", "rungs": {"first": 3}}, training={"epochs": 10}).spec
    assert s.lyapunov_epochs() == [3, 10]


def test_space_size_and_points():
    s = search(space={
        "methods": [
            {"method": "magnitude", "params": {"scope": ["layer", "global"], "pruneEpoch": {"low": 0, "high": 2}}},
            {"method": "random"},
        ],
        "sparsity": [0.5, 0.75],
    }).spec
    assert s.space.size() == (2 * 3 + 1) * 2
    points = list(s.space.points())
    assert len(points) == len({p.key for p in points}) == 14
    assert points[0] == Point.of("magnitude", 0.5, {"scope": "layer", "pruneEpoch": 0})
    assert s.max_candidates() == 14
    assert search(space={"methods": [{"method": "set", "params": {"zeta": {"low": 0.1, "high": 0.5}}}]}).spec.space.size() is None
    stepped = search(space={"methods": [{"method": "set", "params": {"zeta": {"low": 0.1, "high": 0.5, "step": 0.1}}}]})
    assert stepped.spec.space.size() == 5


def test_point_keys_treat_equal_numbers_alike():
    assert (Point.of("magnitude", 0.5, {"pruneEpoch": 1})).key == (Point.of("magnitude", 0.5, {"pruneEpoch": 1.0})).key
    assert (Point.of("magnitude", 0.5)).key != (Point.of("magnitude", 0.75)).key
    assert (Point.of("set", 0.5, {"zeta": 0.1 + 0.2})).key == (Point.of("set", 0.5, {"zeta": 0.3})).key


def test_a_pool_replaces_the_space():
    s = parse_search({
        **MINIMAL,
        "spec": {"candidates": [
            {"method": "selfish", "sparsity": 0.67, "params": {"death_rate": 0.5}},
            {"method": "magnitude", "sparsity": 0.5, "training": {"lr": 3}},
        ]},
    }).spec
    assert s.pool() == [
        Point.of("selfish", 0.67, {"deathRate": 0.5}),
        Point.of("magnitude", 0.5, training={"lr": 3}),
    ]
    assert s.max_candidates() == 2


def test_ranges_know_their_bounds():
    r = Range(low=1, high=4, step=1)
    assert (r.low, r.high, type(r.low)) == (1, 4, int)
