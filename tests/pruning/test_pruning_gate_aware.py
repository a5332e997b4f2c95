"""Gate-aware masks: layer-wise methods give every gate block its matrix's sparsity, so a gate with
small weights is not emptied by one with large weights; global ranking has no such guarantee."""

from __future__ import annotations

import pytest
import torch

from hyperprune.pruning import build_pruner
from hyperprune.contract.pruning import parse_pruning_config
from hyperprune.models import build_model
from hyperprune.pruning.allocation import er_densities
from hyperprune.contract.trial import ModelConfig
from pruning_support import new_run, tiny_lm

LAYERWISE = {
    "random": {"method": "random", "sparsity": 0.6},
    "magnitude": {"method": "magnitude", "sparsity": 0.6, "params": {"pruneEpoch": 1}},
    "gmp": {"method": "gmp", "sparsity": 0.6, "params": {"frequency": 2, "endFraction": 0.5}},
    "lottery": {"method": "lottery", "sparsity": 0.6, "params": {"scope": "layer", "rounds": 2, "roundEpochs": 1}},
    "set": {"method": "set", "sparsity": 0.6, "params": {"init": "uniform"}},
    "rigl": {"method": "rigl", "sparsity": 0.6, "params": {"init": "uniform", "updateFrequency": 2}},
    "selfish": {"method": "selfish", "sparsity": 0.6, "params": {"growth": "gradient"}},
}


@pytest.mark.parametrize("method", sorted(LAYERWISE))
@pytest.mark.parametrize("arch", ["lstm", "gru"])
def test_every_gate_block_has_the_target_sparsity(method, arch):
    run = new_run(LAYERWISE[method], arch=arch, layers=2, epochs=4)
    run.start()
    checked = 0
    for _ in range(4):
        run.train_epoch()
        if run.epoch >= run.pruner.final_sparsity_epoch:
            for name, gates in run.pruner.gate_sparsity().items():
                for gate, sparsity in gates.items():
                    checked += 1
                    assert abs(sparsity - 0.6) <= 0.005, (name, gate, sparsity)
    assert checked > 0, "the target sparsity was never reached within the run"


def test_er_gives_each_gate_block_its_matrix_density():
    # A wider input makes the ER densities of the input and recurrent matrices differ.
    model = build_model(ModelConfig(hidden_size=16, embedding_size=48), vocab_size=20)
    pruner = build_pruner(model, parse_pruning_config({"method": "random", "sparsity": 0.5, "params": {"distribution": "er"}}), steps_per_epoch=1, total_epochs=2, seed=0)
    pruner.before_training()
    densities = er_densities(pruner.matrices, 0.5)
    assert densities[0] != pytest.approx(densities[1])
    for m, density in zip(pruner.matrices, densities):
        for gate, sparsity in pruner.gate_sparsity()[m.name].items():
            assert abs((1 - sparsity) - density) <= 1.0 / m.block_numel + 1e-9, (m.name, gate)


def _scaled_forget_gate_model():
    model = tiny_lm("lstm", hidden=16)
    with torch.no_grad():
        for w in (model.core.weight_ih_l0, model.core.weight_hh_l0):
            w[16:32] *= 100.0  # the forget gate's rows dominate every magnitude ranking
    return model


def test_layer_scope_magnitude_keeps_small_gates_alive():
    model = _scaled_forget_gate_model()
    pruner = build_pruner(model, parse_pruning_config({"method": "magnitude", "sparsity": 0.5, "params": {"pruneEpoch": 0}}), steps_per_epoch=1, total_epochs=2, seed=0)
    pruner.before_training()
    assert pruner.gate_sparsity()
    for gates in pruner.gate_sparsity().values():
        assert all(abs(s - 0.5) <= 0.005 for s in gates.values()), gates


def test_global_scope_ranks_across_gates():
    model = _scaled_forget_gate_model()
    pruner = build_pruner(
        model, parse_pruning_config({"method": "magnitude", "sparsity": 0.5, "params": {"pruneEpoch": 0, "scope": "global"}}), steps_per_epoch=1, total_epochs=2, seed=0
    )
    pruner.before_training()
    assert pruner.gate_sparsity()
    for gates in pruner.gate_sparsity().values():
        assert gates["forget"] < 0.05
        assert all(gates[g] > 0.6 for g in ("input", "cell", "output")), gates
