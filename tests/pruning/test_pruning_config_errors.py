"""The catalogue and build_pruner: every method is implemented; bad settings fail naming the field."""

from __future__ import annotations

import subprocess
import sys

import pytest
from torch import nn

from hyperprune.contract.pruning import METHODS, PruningConfigError, parse_pruning_config
from hyperprune.pruning import build_pruner
from hyperprune.pruning.build import IMPLEMENTATIONS
from pruning_support import tiny_lm


def build(cfg, *, model=None, epochs=4, steps=4):
    return build_pruner(model or tiny_lm(), parse_pruning_config(cfg), steps_per_epoch=steps, total_epochs=epochs, seed=0)


def test_every_catalogue_method_has_an_implementation():
    assert set(IMPLEMENTATIONS) == set(METHODS)
    for name, cls in IMPLEMENTATIONS.items():
        assert cls.method == name


def test_the_catalogue_imports_no_torch():
    code = "import sys, hyperprune.contract.pruning; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "cfg,field",
    [
        ({"method": "prune_everything", "sparsity": 0.5}, "pruning.method"),
        ({"sparsity": 0.5}, "pruning.method"),
        ({"method": "magnitude", "sparsity": 1.0}, "pruning.sparsity"),
        ({"method": "random", "sparsity": -0.1}, "pruning.sparsity"),
        ({"method": "selfish", "sparsity": 0.5, "params": {"deathRate": 1.5}}, "pruning.params.deathRate"),
        ({"method": "selfish", "sparsity": 0.5, "params": {"death": "oldest"}}, "pruning.params.death"),
        ({"method": "set", "sparsity": 0.5, "params": {"zetta": 0.2}}, "pruning.params.zetta"),
    ],
)
def test_invalid_settings_name_the_field(cfg, field):
    with pytest.raises(PruningConfigError) as err:
        build(cfg)
    assert err.value.field == field
    assert str(err.value).startswith(field + ":")


@pytest.mark.parametrize(
    "cfg,field",
    [
        ({"method": "magnitude", "sparsity": 0.5, "params": {"pruneEpoch": 4}}, "pruning.params.pruneEpoch"),
        ({"method": "iss", "sparsity": 0.5, "params": {"pruneEpoch": 5}}, "pruning.params.pruneEpoch"),
        ({"method": "lottery", "sparsity": 0.5, "params": {"rounds": 4, "roundEpochs": 1}}, "pruning.params.rounds"),
        ({"method": "lottery", "sparsity": 0.5, "params": {"rounds": 1, "roundEpochs": 1, "rewindEpoch": 1}}, "pruning.params.rewindEpoch"),
        ({"method": "gmp", "sparsity": 0.5, "params": {"startEpoch": 3, "endFraction": 0.5}}, "pruning.params.endFraction"),
        ({"method": "gmp", "sparsity": 0.5, "params": {"initialSparsity": 0.6}}, "pruning.params.initialSparsity"),
        ({"method": "rigl", "sparsity": 0.5, "params": {"updateFrequency": 100}}, "pruning.params.updateFrequency"),
    ],
)
def test_settings_that_do_not_fit_the_schedule_name_the_field(cfg, field):
    with pytest.raises(PruningConfigError, match="^" + field.replace(".", r"\.")):
        build(cfg)


def test_iss_refuses_a_model_where_whole_units_cannot_reach_the_target():
    # 8 units: one unit is ~9% of the weights of a 1-layer LSTM, so 0.5 is unreachable within 0.5%.
    with pytest.raises(PruningConfigError, match=r"^pruning\.sparsity: ISS removes whole hidden units.*\[8\]"):
        build({"method": "iss", "sparsity": 0.5}, model=tiny_lm(hidden=8))
    # A single unit can never be removed (each layer keeps one).
    with pytest.raises(PruningConfigError, match=r"^pruning\.sparsity"):
        build({"method": "iss", "sparsity": 0.3}, model=tiny_lm(hidden=1))


def test_model_without_a_recurrent_layer_is_refused():
    with pytest.raises(ValueError, match="holds no recurrent layer"):
        build({"method": "random", "sparsity": 0.5}, model=nn.Linear(3, 3))


def test_a_model_of_lstm_cells_is_refused_with_a_hint():
    model = nn.ModuleDict({"cell": nn.LSTMCell(3, 4)})
    with pytest.raises(ValueError, match=r"holds cells, 'cell', stepped one time step at a time"):
        build({"method": "random", "sparsity": 0.5}, model=model)


def test_a_bidirectional_layer_is_refused_naming_it():
    model = nn.ModuleDict({"enc": nn.GRU(3, 4, bidirectional=True)})
    with pytest.raises(ValueError, match=r"recurrent layer 'enc' is a bidirectional GRU"):
        build({"method": "random", "sparsity": 0.5}, model=model)


def test_parse_accepts_snake_and_camel_case_and_models():
    a = parse_pruning_config({"method": "selfish", "sparsity": 0.67, "params": {"death_rate": 0.4}})
    b = parse_pruning_config({"method": "selfish", "sparsity": 0.67, "params": {"deathRate": 0.4}})
    assert a == b and a.params.death_rate == 0.4
    assert parse_pruning_config(a) is a
