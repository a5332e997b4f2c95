"""The torch-free schedule (MethodParams.pruned_after_epoch in the catalogue), which the search spec checks rungs against,
never says a method is pruned earlier than its real pruner does."""

from __future__ import annotations

import pytest
from pruning_support import tiny_lm

from hyperprune.contract.pruning import METHODS, parse_pruning_config
from hyperprune.pruning import build_pruner

EPOCHS = 12

CASES = [
    ("random", {}),
    ("magnitude", {"pruneEpoch": 3}),
    ("gmp", {"endFraction": 0.5}),
    ("gmp", {"endFraction": 0.34, "frequency": 3}),
    ("gmp", {"endFraction": 0.99, "startEpoch": 2}),
    ("lottery", {"rounds": 2, "roundEpochs": 2}),
    ("snip", {}),
    ("synflow", {"iterations": 2}),
    ("set", {}),
    ("rigl", {"updateFrequency": 5}),
    ("selfish", {}),
    ("iss", {"pruneEpoch": 2}),
]


def test_every_method_of_the_catalogue_is_covered():
    assert {m for m, _ in CASES} == set(METHODS) - {"none"}


@pytest.mark.parametrize("steps_per_epoch", [7, 10])
@pytest.mark.parametrize(("method", "params"), CASES)
def test_the_mirror_matches_or_bounds_the_pruner(method, params, steps_per_epoch):
    sparsity = 0.4922 if method == "iss" else 0.5  # ISS removes whole units: a sparsity it can reach
    config = parse_pruning_config({"method": method, "sparsity": sparsity, "params": params})
    pruner = build_pruner(tiny_lm(hidden=64), config, steps_per_epoch=steps_per_epoch, total_epochs=EPOCHS, seed=0)
    mirror = config.params.pruned_after_epoch(EPOCHS)
    assert pruner.final_sparsity_epoch <= mirror
    if method != "gmp":  # gmp's pruner rounds to whole steps and may end an epoch earlier
        assert pruner.final_sparsity_epoch == mirror
    else:
        assert mirror - pruner.final_sparsity_epoch <= 1
