"""ISS structured pruning: whole hidden units go (all gate rows and their biases, their recurrent and
next-layer columns), chosen by group norm; removed units no longer influence other units and output
exactly zero, so a smaller network can replace the masked one; group lasso."""

from __future__ import annotations

import pytest
import torch

from hyperprune.contract.pruning import PruningConfigError, parse_pruning_config
from hyperprune.contract.text import input_size
from hyperprune.contract.trial import DataConfig, ModelConfig
from hyperprune.contract.units import core_matrices, unreachable
from hyperprune.models import build_model
from hyperprune.pruning import build_pruner
from hyperprune.pruning.iss import unit_masks
from hyperprune.pruning.targets import prunable_matrices
from pruning_support import iss_case, new_run, tiny_lm


def iss_run(arch="lstm", layers=2, units=(3, 3), prune_epoch=1):
    cfg = iss_case(arch, 16, layers, list(units))
    cfg["params"]["pruneEpoch"] = prune_epoch
    run = new_run(cfg, arch=arch, layers=layers, epochs=3)
    run.start()
    return run


def test_removes_whole_units_with_the_smallest_group_norms():
    run = iss_run()
    pruner = run.pruner
    assert pruner.removal_counts == [3, 3]
    assert pruner.sparsity()[0] == 0.0  # nothing is removed before the prune epoch
    # Train the epoch by hand up to its end to capture the norms the prune ranks by.
    original = pruner.on_epoch_end
    norms_at_prune = []

    def capture(epoch, optimizer=None):
        norms_at_prune.extend(n.detach().clone() for n in pruner.group_norms())
        original(epoch, optimizer)

    pruner.on_epoch_end = capture
    run.train_epoch()
    removed = pruner.removed_units()
    assert [int(r.sum()) for r in removed] == [3, 3]
    for norms, flags in zip(norms_at_prune, removed):
        assert norms[flags].max() <= norms[~flags].min()
    # The masks are exactly the union of the removed units' groups.
    expected = unit_masks(pruner.matrices, pruner.layers, removed)
    masks = pruner.masks()
    assert all(torch.equal(masks[n], expected[n]) for n in masks)
    core = run.model.core
    for layer, flags in enumerate(removed):
        units = flags.nonzero().flatten()
        for name in (f"weight_ih_l{layer}", f"weight_hh_l{layer}"):
            rows = getattr(core, name).detach().view(4, 16, -1)[:, units, :]
            assert torch.count_nonzero(rows) == 0, f"{name}: rows of removed units in every gate"
        assert torch.count_nonzero(getattr(core, f"weight_hh_l{layer}").detach()[:, units]) == 0
        if layer == 0:
            assert torch.count_nonzero(core.weight_ih_l1.detach()[:, units]) == 0
        # Their biases go too (held at zero through later steps), so the unit is dead.
        for name in (f"bias_ih_l{layer}", f"bias_hh_l{layer}"):
            assert torch.count_nonzero(getattr(core, name).detach().view(4, 16)[:, units]) == 0, name
    run.train_epoch()  # fine-tuning moves every other bias but not the removed units'
    for layer, flags in enumerate(removed):
        assert torch.count_nonzero(getattr(core, f"bias_hh_l{layer}").detach().view(4, 16)[:, flags]) == 0
        assert torch.count_nonzero(getattr(core, f"bias_hh_l{layer}").detach().view(4, 16)[:, ~flags]) > 0


@pytest.mark.parametrize("arch,layers,units", [("lstm", 2, (3, 3)), ("gru", 2, (4, 2)), ("rhn", 1, (3,)), ("rnn_tanh", 1, (4,))])
def test_removed_units_output_exactly_zero_from_a_zero_state(arch, layers, units):
    run = iss_run(arch, layers, units, prune_epoch=0)
    run.train_epoch()
    removed = run.pruner.removed_units()
    core = run.model.core.eval()
    with torch.no_grad():
        out, _ = core(torch.randn(12, 3, core.input_size))
    assert torch.count_nonzero(out[:, :, removed[-1]]) == 0
    assert torch.count_nonzero(out[:, :, ~removed[-1]]) > 0


@pytest.mark.parametrize("arch,layers,units", [("lstm", 2, (3, 3)), ("gru", 2, (4, 2)), ("rhn", 1, (3,)), ("rnn_tanh", 1, (4,))])
def test_removed_units_no_longer_influence_other_units(arch, layers, units):
    run = iss_run(arch, layers, units, prune_epoch=0)
    pruner, core = run.pruner, run.model.core
    run.train_epoch()
    removed = pruner.removed_units()
    core.eval()
    x = torch.randn(5, 2, core.input_size)
    gen = torch.Generator().manual_seed(1)
    if arch == "rhn":
        state = torch.randn(2, 16, generator=gen)
        bumped = state.clone()
        bumped[:, removed[0]] += 3.0
    else:
        h = torch.randn(layers, 2, 16, generator=gen)
        bumped_h = h.clone()
        for layer, flags in enumerate(removed):
            bumped_h[layer][:, flags] += 3.0
        state, bumped = ((h, torch.zeros_like(h)), (bumped_h, torch.zeros_like(h))) if arch == "lstm" else (h, bumped_h)
    with torch.no_grad():
        out_a, _ = core(x, state)
        out_b, _ = core(x, bumped)
    kept_top = ~removed[-1]
    torch.testing.assert_close(out_a[:, :, kept_top], out_b[:, :, kept_top], rtol=0, atol=0)


def test_group_lasso_counts_each_weight_of_a_unit_once():
    run = iss_run(units=(3, 3))
    pruner = run.pruner
    params = dict(run.model.named_parameters())
    expected = 0.0
    for layer_index, layer in enumerate(pruner.layers):
        for j in range(layer.hidden):
            flags = [torch.zeros(l.hidden, dtype=torch.bool) for l in pruner.layers]
            flags[layer_index][j] = True
            group = unit_masks(pruner.matrices, pruner.layers, flags)
            squares = sum(float(params[n].detach()[~m].pow(2).sum()) for n, m in group.items())
            expected += squares**0.5
    reg = pruner.regularization()
    assert reg.requires_grad
    assert reg.item() == pytest.approx(1e-3 * expected, rel=1e-5)
    run.train_epoch()  # units removed at the end of epoch 1: the penalty stops
    assert pruner.regularization() is None


def test_group_lasso_shrinks_groups_compared_with_plain_training():
    def norms_after_one_epoch(strength):
        cfg = iss_case("lstm", 16, 1, [4])
        cfg["params"].update(groupLasso=strength, pruneEpoch=3)
        run = new_run(cfg, arch="lstm", layers=1, epochs=4, optimizer="sgd")
        run.start()
        run.train_epoch()
        return run.pruner.group_norms()[0]

    plain, lasso = norms_after_one_epoch(0.0), norms_after_one_epoch(0.05)
    assert bool((lasso < plain).all())


@pytest.mark.parametrize("arch, layers", [("lstm", 2), ("gru", 1), ("rnn_tanh", 3), ("rnn_relu", 1), ("rhn", 1)])
@pytest.mark.parametrize("embedding", [None, 7])
def test_the_contracts_core_matrices_are_the_models(arch, layers, embedding):
    # The spec checks ISS sparsities on these shapes, without torch: they must be the model's own.
    config = ModelConfig(arch=arch, hidden_size=10, num_layers=layers, embedding_size=embedding, rhn_depth=3)
    model = build_model(config, vocab_size=30)
    built = [(m.name, m.gates, m.shape, m.recurrent) for m in prunable_matrices(model)]
    described = [(m.name, m.gates, m.shape, m.recurrent) for m in core_matrices(config, input_size(config, DataConfig()))]
    assert described == built


def test_the_pruner_refuses_a_sparsity_as_the_spec_does():
    model = tiny_lm("lstm", hidden=12)
    with pytest.raises(PruningConfigError) as refused:
        build_pruner(model, parse_pruning_config({"method": "iss", "sparsity": 0.5}), steps_per_epoch=5, total_epochs=3, seed=0)
    spec_rule = unreachable(core_matrices(ModelConfig(arch="lstm", hidden_size=12), 12), False, 0.5)
    assert spec_rule is not None and str(refused.value) == f"pruning.sparsity: {spec_rule}"
