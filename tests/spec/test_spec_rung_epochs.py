"""strategy.rungs.epochs: explicit rung (lsh-sync: round) epochs replace first/step/count, checked like them."""

from __future__ import annotations

import pytest

from hyperprune.spec import SearchSpecError, parse_search


def document(strategy: str, **rungs) -> dict:
    return {
        "apiVersion": "hyperprune.io/v1alpha1", "kind": "HyperpruneSearch", "metadata": {"name": "r"},
        "spec": {"training": {"epochs": 10},
                 "candidates": [{"method": "magnitude", "sparsity": s, "params": {"pruneEpoch": 2}} for s in (0.3, 0.5, 0.7, 0.9)],
                 "strategy": {"name": strategy, "rungs": {"finalists": 1, **rungs}}},
    }


@pytest.mark.parametrize("strategy", ["lsh", "lsh-sync", "asha-loss"])
def test_explicit_epochs_are_the_rungs(strategy):
    spec = parse_search(document(strategy, epochs=[3, 5, 8])).spec
    assert spec.rung_epochs() == [3, 5, 8]
    assert {3, 5, 8, 10} <= set(spec.lyapunov_epochs())


@pytest.mark.parametrize("epochs, expected", [
    ([3, 3, 5], "strategy.rungs.epochs: rung epochs must increase"),
    ([3, 10], "strategy.rungs.epochs: every rung must come before the end of training"),
    ([2, 5], "strategy.rungs.epochs: the first rung (epoch 2) compares LS distances before every candidate is pruned"),
])
def test_bad_explicit_epochs_are_named(epochs, expected):
    with pytest.raises(SearchSpecError) as err:
        parse_search(document("lsh-sync", epochs=epochs))
    assert any(line.startswith(f"spec.{expected}") for line in err.value.errors), err.value.errors
