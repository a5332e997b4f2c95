"""Acceptance: every method reaches its target sparsity (within 0.5%) by its schedule's end and keeps
it through optimiser steps and epoch ends; pruned weights stay exactly zero under SGD with momentum
and weight decay and under Adam; biases, embedding and decoder are never masked (ISS holds its removed
units' biases at zero)."""

from __future__ import annotations

import pytest
import torch

from pruning_support import iss_case, new_run

EPOCHS = 4
TOLERANCE = 0.005

CASES = {
    "random-uniform": {"method": "random", "sparsity": 0.6},
    "random-er": {"method": "random", "sparsity": 0.6, "params": {"distribution": "er"}},
    "magnitude-layer": {"method": "magnitude", "sparsity": 0.6, "params": {"pruneEpoch": 1}},
    "magnitude-global": {"method": "magnitude", "sparsity": 0.7, "params": {"scope": "global", "pruneEpoch": 2}},
    "magnitude-at-init": {"method": "magnitude", "sparsity": 0.5, "params": {"pruneEpoch": 0}},
    "gmp-layer": {"method": "gmp", "sparsity": 0.6, "params": {"frequency": 3, "endFraction": 0.5, "initialSparsity": 0.1}},
    "gmp-global": {"method": "gmp", "sparsity": 0.6, "params": {"scope": "global", "startEpoch": 1, "frequency": 2, "endFraction": 0.75}},
    "lottery": {"method": "lottery", "sparsity": 0.6, "params": {"rounds": 2, "roundEpochs": 1}},
    "lottery-rewind": {"method": "lottery", "sparsity": 0.6, "params": {"scope": "layer", "rounds": 1, "roundEpochs": 2, "rewindEpoch": 1}},
    "snip": {"method": "snip", "sparsity": 0.6, "params": {"batches": 2}},
    "synflow": {"method": "synflow", "sparsity": 0.6, "params": {"iterations": 10, "unrollSteps": 4}},
    "set": {"method": "set", "sparsity": 0.6},
    "rigl": {"method": "rigl", "sparsity": 0.6, "params": {"updateFrequency": 2, "endFraction": 0.75}},
    "selfish-published": {"method": "selfish", "sparsity": 0.67, "params": {"deathRate": 0.5}},
    "selfish-er-global-gradient": {
        "method": "selfish",
        "sparsity": 0.67,
        "params": {"init": "er", "death": "global_magnitude", "growth": "gradient", "redistribution": "magnitude"},
    },
    "selfish-threshold-nonzeros": {
        "method": "selfish",
        "sparsity": 0.67,
        "params": {"death": "threshold", "threshold": 0.05, "redistribution": "nonzeros"},
    },
    "selfish-set-constant": {
        "method": "selfish",
        "sparsity": 0.67,
        "params": {"init": "er", "death": "set", "growth": "gradient", "deathRateSchedule": "constant", "deathRate": 0.4},
    },
}
GENERIC = ["random-er", "magnitude-layer", "gmp-layer", "lottery", "snip", "synflow", "set", "rigl", "selfish-er-global-gradient"]


def check_run(cfg: dict, **run_kw) -> None:
    run = new_run(cfg, epochs=EPOCHS, **run_kw)
    pruner = run.pruner
    assert pruner.final_sparsity_epoch < EPOCHS
    dense_names = {n for n, _ in run.model.named_parameters()} - set(pruner.masks())
    run.start()
    for _ in range(EPOCHS):
        run.train_epoch()
    for epoch, sparsity in run.sparsity_by_epoch.items():
        if epoch >= pruner.final_sparsity_epoch:
            assert abs(sparsity - cfg["sparsity"]) <= TOLERANCE, f"epoch {epoch}: sparsity {sparsity}"
    # Counted independently of sparsity(): pruned entries of the masks over all core matrices.
    masks = pruner.masks()
    pruned = sum(int((~m).sum()) for m in masks.values())
    assert abs(pruned / sum(m.numel() for m in masks.values()) - cfg["sparsity"]) <= TOLERANCE
    # Only the core's weight matrices carry masks; everything else trained densely, except that ISS
    # holds the biases of the units it removed at zero (the units are dead: hyperprune.pruning.iss).
    assert set(masks) == {n for n, _ in run.model.core.named_parameters(prefix="core") if "weight" in n}
    dead = {id(bias): flags for biases, flags in zip(getattr(pruner, "biases", []), pruner.removed_units()
                                                      if cfg["method"] == "iss" else []) for bias in biases}
    for name, param in run.model.named_parameters():
        if name not in dense_names:
            continue
        values = param.detach()
        if id(param) in dead:
            rows = values.view(-1, dead[id(param)].numel())
            assert torch.count_nonzero(rows[:, dead[id(param)]]) == 0, f"{name}: a removed unit's bias moved"
            values = rows[:, ~dead[id(param)]]
        assert torch.count_nonzero(values) == values.numel(), f"{name} has zeros"


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_lstm_stacked_reaches_and_keeps_target(case, optimizer):
    check_run(CASES[case], arch="lstm", layers=2, optimizer=optimizer)


@pytest.mark.parametrize("arch", ["gru", "rhn", "rnn_tanh"])
@pytest.mark.parametrize("case", GENERIC)
def test_other_cores_reach_and_keep_target(case, arch):
    check_run(CASES[case], arch=arch, optimizer="adam")


@pytest.mark.parametrize(
    "arch,hidden,layers,units",
    [("lstm", 16, 2, [3, 3]), ("gru", 16, 1, [4]), ("rhn", 16, 1, [3]), ("rnn_relu", 16, 2, [4, 2])],
)
def test_iss_reaches_and_keeps_target(arch, hidden, layers, units):
    check_run(iss_case(arch, hidden, layers, units), arch=arch, hidden=hidden, layers=layers, optimizer="sgd")
