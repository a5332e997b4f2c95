"""Pruning a user's own model: every recurrent module (or those named) masked gate-aware, masks keyed
by the parameters' real names, structured and data-free methods across several modules."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hyperprune.contract.pruning import parse_pruning_config
from hyperprune.pruning import build_pruner
from hyperprune.pruning.synflow import synaptic_flow


class TwoModules(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.ModuleDict({"rnn": nn.GRU(3, 8, batch_first=True)})
        self.proj = nn.Linear(8, 8)
        self.decoder = nn.LSTM(8, 6, num_layers=2)
        self.head = nn.Linear(6, 2)


def _pruner(model, method, sparsity, layers=None, **params):
    cfg = parse_pruning_config({"method": method, "sparsity": sparsity, "params": params})
    return build_pruner(model, cfg, steps_per_epoch=4, total_epochs=4, seed=0, layers=layers)


def test_every_recurrent_module_is_masked_by_its_real_parameter_names_gate_by_gate():
    torch.manual_seed(0)
    model = TwoModules()
    pruner = _pruner(model, "random", 0.6)
    pruner.before_training()
    assert sorted(pruner.masks()) == sorted([
        "encoder.rnn.weight_ih_l0", "encoder.rnn.weight_hh_l0",
        "decoder.weight_ih_l0", "decoder.weight_hh_l0", "decoder.weight_ih_l1", "decoder.weight_hh_l1"])
    overall, per = pruner.sparsity()
    assert overall == pytest.approx(0.6, abs=1e-3)
    for matrix, gates in pruner.gate_sparsity().items():  # uniform: every gate block at the target
        assert all(abs(s - 0.6) < 0.05 for s in gates.values()), (matrix, gates)
    assert set(pruner.gate_sparsity()["encoder.rnn.weight_hh_l0"]) == {"reset", "update", "new"}
    state = dict(model.named_parameters())
    for name, mask in pruner.masks().items():
        assert bool((state[name][~mask] == 0).all())
    assert not (model.proj.weight == 0).any() and not (model.head.weight == 0).any()


def test_only_the_named_layers_are_pruned():
    pruner = _pruner(TwoModules(), "magnitude", 0.5, layers=["decoder"], pruneEpoch=0)
    assert all(name.startswith("decoder.") for name in pruner.masks())


def test_iss_removes_units_module_by_module_and_synflow_chains_modules_of_matching_width():
    torch.manual_seed(0)
    model = TwoModules()
    iss = _pruner(model, "iss", 0.3, pruneEpoch=0)
    assert len(iss.layers) == 3  # the GRU's units, then the decoder's two layers
    # The decoder's first layer does not read the GRU's units directly (a Linear is between): its
    # input columns are not part of the GRU units' groups.
    assert [m.name for m in iss.layers[0].column_matrices] == ["encoder.rnn.weight_hh_l0"]
    iss.before_training()
    assert iss.sparsity()[0] == pytest.approx(0.3, abs=0.005)

    # SynFlow: a module whose input width is the previous module's hidden size reads its outputs.
    a, b = torch.ones(3, 2, dtype=torch.float64), torch.ones(3, 3, dtype=torch.float64)
    c, d = torch.ones(1, 3, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64)
    chained = synaptic_flow([([a, b], False), ([c, d], False)], unroll_steps=1)
    # step 1: h1 = A 1 = [2,2,2]; the second module reads it: C h1 = 6
    assert float(chained) == 6.0
    alone = synaptic_flow([([a, b], False), ([torch.ones(1, 4, dtype=torch.float64), d], False)], unroll_steps=1)
    assert float(alone) == 4.0  # width 4 != 3: starts from ones
    synflow = _pruner(TwoModules(), "synflow", 0.5, iterations=2, unrollSteps=3)
    synflow.before_training()
    assert synflow.sparsity()[0] == pytest.approx(0.5, abs=1e-3)
