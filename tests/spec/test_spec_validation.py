"""Every invalid field is named by its path, all at once, before anything trains."""

from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from hyperprune.spec import HyperpruneSearch, SearchSpecError, load_search, parse_search

GOOD = {
    "apiVersion": "hyperprune.io/v1alpha1",
    "kind": "HyperpruneSearch",
    "metadata": {"name": "good"},
    "spec": {
        "training": {"epochs": 8},
        "space": {
            "methods": [
                {"method": "magnitude", "params": {"scope": ["layer", "global"]}},
                {"method": "selfish", "params": {"deathRate": {"low": 0.4, "high": 0.9}, "death": ["magnitude", "set"]}},
            ],
            "sparsity": [0.5, 0.75],
        },
        "strategy": {"rungs": {"first": 2, "step": 2}},
    },
}


def errors_of(**changes) -> list[str]:
    """Validation errors after setting dotted paths (``space.methods.1.params.deathRate``) in GOOD's spec."""
    doc = copy.deepcopy(GOOD)
    for dotted, value in changes.items():
        node = doc["spec"]
        *parents, last = dotted.split("__")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    with pytest.raises(SearchSpecError) as info:
        parse_search(doc)
    return info.value.errors


DELETE = object()


def test_the_good_spec_is_valid():
    assert parse_search(GOOD).spec.space.size() is None


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"space__methods__1__params__deathRate": {"low": 0.4, "high": 1.5}},
         "spec.space.methods[1].params.deathRate.high: Input should be less than 1"),
        ({"space__methods__1__params__deathRate": 7},
         "spec.space.methods[1].params.deathRate: Input should be less than 1"),
        ({"space__methods__1__params__death": ["magnitude", "sideways"]},
         "spec.space.methods[1].params.death[1]: Input should be 'magnitude', 'global_magnitude', 'threshold' or 'set'"),
        ({"space__methods__1__params__deathRate": "fast"},
         "spec.space.methods[1].params.deathRate: Input should be a valid number, unable to parse string as a number"),
        ({"space__methods__0__params__speed": 3},
         "spec.space.methods[0].params.speed: unknown parameter of method 'magnitude'; known: scope, pruneEpoch"),
        ({"space__methods__0__params__scope": {"low": 0, "high": 1}},
         "spec.space.methods[0].params.scope: a range needs a numeric parameter; give a value or a list of choices"),
        ({"space__methods__0__params__pruneEpoch": {"low": 0, "high": 2.5}},
         "spec.space.methods[0].params.pruneEpoch.high: pruneEpoch is an integer; got 2.5"),
        ({"space__methods__0__params__scope": ["layer", "layer"]},
         "spec.space.methods[0].params.scope[1]: duplicate choice 'layer'"),
        ({"space__methods__1__params__deathRate": {"low": 0.9, "high": 0.4}},
         "spec.space.methods[1].params.deathRate: low (0.9) must be below high (0.4); give a single value to fix it"),
        ({"space__methods__1__params__deathRate": {"low": 0.4, "high": 0.9, "log": True, "step": 0.1}},
         "spec.space.methods[1].params.deathRate: give either log or step, not both"),
        ({"space__methods__1__params__deathRate": {"a": 1}},
         "spec.space.methods[1].params.deathRate.low: Field required"),
        ({"space__methods__1__params__deathRate": [{"x": 1}]},
         "spec.space.methods[1].params.deathRate[0]: expected a number, a string or a boolean"),
        ({"space__methods__1__method": "pixie"},
         "spec.space.methods[1].method: Input should be 'random', 'magnitude', 'gmp', 'lottery', 'snip', 'synflow', 'set', 'rigl', 'selfish' or 'iss'"),
        ({"space__sparsity": [0.5, 1.0]}, "spec.space.sparsity[1]: Input should be less than 1"),
        ({"space__sparsity": {"low": -0.1, "high": 0.5}}, "spec.space.sparsity.low: Input should be greater than or equal to 0"),
        ({"space__methods": []},
         "spec.space.methods: the search space is empty: list at least one pruning method (random, magnitude, gmp, "
         "lottery, snip, synflow, set, rigl, selfish, iss), or give a pool in spec.candidates"),
        ({"space__training": {"epochs": [5, 10]}},
         "spec.space.training.epochs: training.epochs is the horizon of every schedule and of the search; it cannot vary"),
        ({"space__training": {"lr": {"low": 0, "high": 1}}}, "spec.space.training.lr.low: Input should be greater than 0"),
        ({"space__training": {"lr": {"low": 0.0, "high": 1, "log": True}}},
         "spec.space.training.lr: a log range needs low > 0"),
        ({"space__model": {"hiddenSize": [32, 64]}},
         "spec.space.model.hiddenSize: only model.dropout can vary between candidates: other model settings change the "
         "recurrent state, and spectra of different sizes cannot be compared with the dense reference"),
        ({"strategy__rungs__first": 8},
         "spec.strategy.rungs.first: the first rung (epoch 8) must come before the end of training (spec.training.epochs = 8)"),
        ({"strategy__rungs__keepFraction": 1.0}, "spec.strategy.rungs.keepFraction: Input should be less than 1"),
        ({"strategy__rungs__keepFraction": 0}, "spec.strategy.rungs.keepFraction: Input should be greater than 0"),
        ({"strategy__rungs__count": 5},
         "spec.strategy.rungs.count: 5 rungs do not fit before epoch 8: rungs can be at epochs [2, 4, 6] (at most 3)"),
        ({"strategy__name": "hyperband"},
         "spec.strategy.name: Input should be 'lsh', 'lsh-sync', 'full', 'asha-loss', 'median' or 'random'"),
        ({"dense": {"enabled": False}},
         "spec.dense.enabled: strategy lsh ranks candidates by their distance to the dense model's spectra; enable "
         "the dense reference or choose full, asha-loss, median or random"),
        ({"strategy__name": "median", "strategy__generation": {"sampler": "tpe"}},
         "spec.strategy.generation.sampler: tpe minimises the LS distance at the first rung, which only lsh and "
         "lsh-sync use; choose random"),
        ({"budget": {"parallelism": 0}}, "spec.budget.parallelism: Input should be greater than 0"),
        ({"budget": {"retries": -1}}, "spec.budget.retries: Input should be greater than or equal to 0"),
        ({"lyapunov": {"k": 100}, "model": {"hiddenSize": 16}},
         "spec.lyapunov.k: 100 exponents requested but the model's state has 32"),
        ({"lyapunov": {"distance": "cosine"}}, "spec.lyapunov.distance: Input should be 'l2'"),
        ({"model": {"tieWeights": True, "embeddingSize": 32}},
         "spec.model.tieWeights: tied weights need model.embeddingSize equal to model.hiddenSize"),
        ({"data": {"corpus": "ptb"}}, "spec.data: corpus 'ptb' needs a data directory in 'path'"),
        ({"trialTemplate": {"volume": {"mountPath": "/x"}}},
         "spec.trialTemplate.volume: set exactly one of persistentVolumeClaim, hostPath, emptyDir"),
        ({"trialTemplate": {"imagePullPolicy": "Sometimes"}},
         "spec.trialTemplate.imagePullPolicy: Input should be 'Always', 'IfNotPresent' or 'Never'"),
        ({"colour": "blue"}, "spec.colour: Extra inputs are not permitted"),
    ],
)
def test_errors_name_their_field_path(changes, expected):
    assert expected in errors_of(**changes)


def test_every_error_is_reported_at_once():
    errors = errors_of(
        space__methods__1__params__deathRate={"low": 0.4, "high": 1.5},
        space__methods__0__params__speed=3,
        budget={"parallelism": 0},
        strategy__rungs__first=9,
        dense={"enabled": False},
    )
    # in document order: section by section
    assert [e.split(":")[0] for e in errors] == [
        "spec.space.methods[0].params.speed",
        "spec.space.methods[1].params.deathRate.high",
        "spec.budget.parallelism",
        "spec.strategy.rungs.first",
        "spec.dense.enabled",
    ]


POOL = [
    {"method": "selfish", "sparsity": 0.67, "params": {"deathRate": 0.5}},
    {"method": "magnitude", "sparsity": 0.5},
]


def pool_errors(pool, **spec) -> list[str]:
    doc = {**GOOD, "spec": {"training": {"epochs": 8}, "strategy": {"rungs": {"first": 2}}, "candidates": pool, **spec}}
    with pytest.raises(SearchSpecError) as info:
        parse_search(doc)
    return info.value.errors


def test_pool_errors_name_the_candidate():
    errors = pool_errors([
        {"method": "selfish", "sparsity": 0.67, "params": {"deathRate": 1.5, "speed": 2}},
        {"method": "magnitude", "sparsity": 0.5},
        {"method": "magnitude", "sparsity": 0.5},
        {"method": "set", "sparsity": 0.9, "training": {"epochs": 3, "lr": -1}, "model": {"dropout": 0.99, "numLayers": 2}},
    ])
    assert errors == [
        "spec.candidates[0].params.deathRate: Input should be less than 1",
        "spec.candidates[0].params.speed: Extra inputs are not permitted",
        "spec.candidates[2]: duplicate of spec.candidates[1]",
        "spec.candidates[3].training.epochs: training.epochs is the horizon of every schedule and of the search; it cannot vary",
        "spec.candidates[3].training.lr: Input should be greater than 0",
        "spec.candidates[3].model.numLayers: only model.dropout can vary between candidates: other model settings "
        "change the recurrent state, and spectra of different sizes cannot be compared with the dense reference",
    ]
    assert pool_errors([]) == ["spec.candidates: the candidate pool is empty"]
    assert pool_errors(POOL, space={"methods": [{"method": "set"}]}) == [
        "spec.space: give either spec.space or spec.candidates (an explicit pool), not both"
    ]


def test_envelope_errors():
    doc = {"apiVersion": "v1", "kind": "Search", "metadata": {"name": "Bad_Name"}, "extra": 1, "spec": GOOD["spec"]}
    with pytest.raises(SearchSpecError) as info:
        parse_search(doc)
    assert info.value.errors == [
        "apiVersion: expected hyperprune.io/v1alpha1, got 'v1'",
        "kind: expected HyperpruneSearch, got 'Search'",
        "metadata.name: String should match pattern '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$'",
        "extra: Extra inputs are not permitted",
    ]
    with pytest.raises(SearchSpecError, match="expected a HyperpruneSearch document"):
        parse_search(["not", "a", "mapping"])
    with pytest.raises(SearchSpecError) as info:
        parse_search({"apiVersion": "hyperprune.io/v1alpha1", "kind": "HyperpruneSearch", "metadata": {"name": "x"}})
    assert info.value.errors == ["spec: Field required"]


def test_model_validate_enforces_the_semantic_rules_too():
    doc = copy.deepcopy(GOOD)
    doc["spec"]["strategy"]["rungs"]["first"] = 8
    with pytest.raises(ValidationError, match=r"spec.strategy.rungs.first\n  the first rung \(epoch 8\)"):
        HyperpruneSearch.model_validate(doc)


def test_load_search_reports_file_problems(tmp_path):
    with pytest.raises(SearchSpecError, match="cannot read"):
        load_search(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("spec: [unclosed\n")
    with pytest.raises(SearchSpecError, match="not valid YAML"):
        load_search(bad)
    two = tmp_path / "two.yaml"
    two.write_text("a: 1\n---\nb: 2\n")
    with pytest.raises(SearchSpecError, match="holds 2 YAML documents, expected one HyperpruneSearch"):
        load_search(two)


def test_ls_strategies_refuse_a_first_rung_before_every_candidate_is_pruned():
    # Before its pruning schedule ends a candidate is (nearly) the dense model: its LS distance is
    # small for the wrong reason. The latest schedule in a range is its largest value.
    errors = errors_of(space__methods__0__params__pruneEpoch={"low": 0, "high": 3})
    assert errors == [
        "spec.strategy.rungs.first: the first rung (epoch 2) compares LS distances before every candidate is "
        "pruned: spec.space.methods[0] (magnitude) reaches its sparsity only after epoch 3; set rungs.first to 4 "
        "or more, or end that pruning schedule earlier"
    ]


def test_the_schedule_rule_applies_to_pools_and_only_to_ls_strategies():
    doc = copy.deepcopy(GOOD)
    del doc["spec"]["space"]
    doc["spec"]["candidates"] = [
        {"method": "selfish", "sparsity": 0.5},
        {"method": "gmp", "sparsity": 0.5, "params": {"endFraction": 0.5}},
    ]
    with pytest.raises(SearchSpecError) as info:
        parse_search(doc)
    assert [e.split(":")[0] for e in info.value.errors] == ["spec.strategy.rungs.first"]
    assert "spec.candidates[1] (gmp) reaches its sparsity only after epoch 4" in info.value.errors[0]
    doc["spec"]["strategy"]["rungs"]["first"] = 5
    assert parse_search(doc).spec.strategy.rungs.first == 5
    doc["spec"]["strategy"] = {"name": "asha-loss", "rungs": {"first": 2, "step": 2}, "generation": {"sampler": "random"}}
    assert parse_search(doc).spec.strategy.name == "asha-loss"  # ranks by validation metric: no such rule
