"""Dynamic sparse training: RigL, SET and Selfish-RNN death, growth, redistribution and schedules."""

from __future__ import annotations

import math

import pytest
import torch

from hyperprune.pruning import build_pruner
from hyperprune.contract.pruning import parse_pruning_config
from hyperprune.pruning import topology
from pruning_support import batches, lm_loss, make_optimizer, new_run, tiny_lm


def built(cfg, *, arch="lstm", hidden=16, epochs=4, steps=4, seed=0):
    model = tiny_lm(arch, hidden, seed=seed)
    pruner = build_pruner(model, parse_pruning_config(cfg), steps_per_epoch=steps, total_epochs=epochs, seed=seed)
    pruner.before_training()
    return model, pruner


def backward(model, seed=0):
    model.zero_grad()
    lm_loss(model, batches(1, seed)[0]).backward()


# -- RigL -----------------------------------------------------------------------------------------


def test_rigl_drop_fraction_anneals_along_a_cosine():
    _, pruner = built({"method": "rigl", "sparsity": 0.5, "params": {"dropFraction": 0.4, "updateFrequency": 2, "endFraction": 0.5}}, epochs=10, steps=10)
    assert pruner.end_step == 50
    assert pruner.drop_fraction(0) == pytest.approx(0.4)
    assert pruner.drop_fraction(25) == pytest.approx(0.2)
    assert pruner.drop_fraction(50) == pytest.approx(0.0)
    assert pruner.is_update_step(2) and not pruner.is_update_step(3) and not pruner.is_update_step(50)


def test_rigl_drops_the_smallest_and_grows_where_gradients_are_largest():
    cfg = {"method": "rigl", "sparsity": 0.5, "params": {"init": "uniform", "dropFraction": 0.3, "updateFrequency": 1, "endFraction": 1.0}}
    model, pruner = built(cfg, epochs=2, steps=100)
    optimizer = make_optimizer(model, "adam")
    backward(model)
    w_hh = model.core.weight_hh_l0
    # Stale optimiser state everywhere: a regrown weight must not inherit it.
    optimizer.state[w_hh]["exp_avg"] = torch.ones_like(w_hh)
    before_mask = pruner.masks()["core.weight_hh_l0"]
    before_weights = w_hh.detach().clone()
    grad = w_hh.grad.detach().abs().clone()
    fraction = pruner.drop_fraction(1)
    pruner.before_step(1, optimizer)
    after_mask = pruner.masks()["core.weight_hh_l0"]
    exp_avg = optimizer.state[w_hh]["exp_avg"]
    for g in range(4):
        rows = slice(16 * g, 16 * (g + 1))
        old, new = before_mask[rows].reshape(-1), after_mask[rows].reshape(-1)
        mags, grads = before_weights[rows].abs().reshape(-1), grad[rows].reshape(-1)
        k = round(fraction * int(old.sum()))
        assert k > 0
        # Expected by definition: the k smallest kept weights are dropped, then the k pruned
        # positions (just-dropped included) with the largest |gradient| are grown.
        dropped = torch.zeros_like(old)
        dropped[torch.topk(torch.where(old, -mags, float("-inf")), k).indices] = True
        survivors = old & ~dropped
        grown = torch.zeros_like(old)
        grown[torch.topk(torch.where(survivors, float("-inf"), grads), k).indices] = True
        assert torch.equal(new, survivors | grown)
        # Grown weights (also those dropped and regrown at once) start at zero with no Adam
        # moments; survivors keep theirs.
        assert torch.count_nonzero(w_hh.detach()[rows].reshape(-1)[grown]) == 0
        assert torch.count_nonzero(exp_avg[rows].reshape(-1)[grown]) == 0
        assert bool((exp_avg[rows].reshape(-1)[survivors] == 1).all())
    assert torch.count_nonzero(w_hh.grad[~after_mask]) == 0, "gradients of pruned weights are masked"


# -- SET ------------------------------------------------------------------------------------------


def test_set_death_takes_the_weights_closest_to_zero_from_each_side():
    w = torch.tensor([0.1, 0.5, 0.2, -0.05, -0.9, -0.3, 0.7, -0.01])
    mask = torch.ones(8, dtype=torch.bool)
    died = topology.drop_set(w, mask, 4)
    assert died.tolist() == [True, False, True, True, False, False, False, True]
    # A side with too few weights passes its share on.
    mask = torch.tensor([True, True, True, False, False, False, True, True])
    assert int(topology.drop_set(w, mask, 4).sum()) == 4


def test_set_replaces_zeta_of_each_block_at_epoch_ends_and_not_after_the_last():
    run = new_run({"method": "set", "sparsity": 0.6, "params": {"init": "uniform", "zeta": 0.25}}, epochs=2)
    run.start()
    before = run.pruner.masks()
    run.train_epoch()
    after = run.pruner.masks()
    for m in run.pruner.matrices:
        old, new = m.blocks(before[m.name]), m.blocks(after[m.name])
        for g in range(m.gates):
            moved = int((old[g] & ~new[g]).sum())
            assert 0 < moved <= round(0.25 * int(old[g].sum())) + 1
    run.train_epoch()
    assert all(torch.equal(after[n], run.pruner.masks()[n]) for n in after)


# -- Selfish-RNN ----------------------------------------------------------------------------------


def selfish(params, **kw):
    return built({"method": "selfish", "sparsity": 0.6, "params": {"init": "uniform", **params}}, **kw)


def test_selfish_death_rate_schedules():
    _, cosine = selfish({"deathRate": 0.5}, epochs=10)
    assert cosine.death_rate(0) == pytest.approx(0.5)
    assert cosine.death_rate(5) == pytest.approx(0.005 + (0.5 - 0.005) * 0.5)
    assert cosine.death_rate(10) == pytest.approx(0.005)
    _, constant = selfish({"deathRate": 0.5, "deathRateSchedule": "constant"}, epochs=10)
    assert constant.death_rate(7) == 0.5


def test_selfish_magnitude_death_removes_the_smallest_of_each_block_and_keeps_sparsity():
    model, pruner = selfish({"death": "magnitude", "growth": "random"})
    weights = {m.name: m.param.detach().abs().clone() for m in pruner.matrices}
    before = pruner.masks()
    died = pruner._death(0.3)
    pruner.update_topology(0.3)
    after = pruner.masks()
    for m in pruner.matrices:
        old, new, dead, w = (m.blocks(t) for t in (before[m.name], after[m.name], died[m.name], weights[m.name]))
        for g in range(m.gates):
            kept = int(old[g].sum())
            assert int(dead[g].sum()) == math.ceil(0.3 * kept)
            assert w[g][dead[g]].max() <= w[g][old[g] & ~dead[g]].min()
            assert not (old[g] & ~dead[g] & ~new[g]).any(), "a survivor was lost"
            assert int(new[g].sum()) == kept  # no redistribution: each block regrows its dead
    assert abs(pruner.sparsity()[0] - 0.6) <= 0.005


def test_selfish_global_magnitude_death_uses_one_ranking():
    model, pruner = selfish({"death": "global_magnitude"})
    with torch.no_grad():
        model.core.weight_ih_l0.mul_(100.0)  # the input matrix's weights all outrank the recurrent ones
    before = pruner.masks()
    died = pruner._death(0.3)
    assert not died["core.weight_ih_l0"].any()
    assert int(died["core.weight_hh_l0"].sum()) == round(0.3 * sum(int(m.sum()) for m in before.values()))


def test_selfish_threshold_death_removes_weights_below_it():
    model, pruner = selfish({"death": "threshold", "threshold": 0.1})
    died = pruner._death(0.5)
    assert pruner.matrices and any(d.any() for d in died.values())
    for m in pruner.matrices:
        small = pruner.masks()[m.name] & (m.param.detach().abs() < 0.1)
        assert torch.equal(died[m.name], small)


def test_selfish_gradient_growth_uses_the_dense_gradient_of_the_last_step():
    model, pruner = selfish({"death": "magnitude", "growth": "gradient"})
    optimizer = make_optimizer(model, "sgd")
    backward(model)
    dense = model.core.weight_hh_l0.grad.detach().abs().clone()
    pruner.before_step(1, optimizer)
    assert torch.count_nonzero(model.core.weight_hh_l0.grad[~pruner.masks()["core.weight_hh_l0"]]) == 0
    optimizer.step()
    pruner.after_step(1)
    before = pruner.masks()["core.weight_hh_l0"]
    died = pruner._death(0.3)["core.weight_hh_l0"]
    pruner.update_topology(0.3, optimizer)
    after = pruner.masks()["core.weight_hh_l0"]
    grown = after & ~(before & ~died)
    candidates = ~(before & ~died)
    for g in range(4):
        rows = slice(16 * g, 16 * (g + 1))
        assert dense[rows][grown[rows]].min() >= dense[rows][candidates[rows] & ~grown[rows]].max()
    # Regrown weights start at zero with no momentum.
    assert torch.count_nonzero(model.core.weight_hh_l0.detach()[grown]) == 0
    momentum = optimizer.state[model.core.weight_hh_l0]["momentum_buffer"]
    assert torch.count_nonzero(momentum[grown]) == 0


def test_selfish_gradient_growth_without_steps_fails_clearly():
    _, pruner = selfish({"growth": "gradient"})
    with pytest.raises(RuntimeError, match="before_step"):
        pruner.update_topology(0.3)


def block_density(pruner, name, gate):
    m = next(m for m in pruner.matrices if m.name == name)
    return float(m.blocks(pruner.masks()[name])[gate].float().mean())


def test_selfish_magnitude_redistribution_moves_density_to_the_block_with_larger_weights():
    model, pruner = selfish({"death": "magnitude", "redistribution": "magnitude"})
    with torch.no_grad():
        model.core.weight_hh_l0[32:48] *= 10.0  # the cell gate's block of the recurrent matrix
    before = block_density(pruner, "core.weight_hh_l0", 2)
    others_before = [block_density(pruner, "core.weight_ih_l0", g) for g in range(4)]
    pruner.update_topology(0.5)
    assert block_density(pruner, "core.weight_hh_l0", 2) > before + 0.1
    assert all(block_density(pruner, "core.weight_ih_l0", g) < d for g, d in enumerate(others_before))
    assert abs(pruner.sparsity()[0] - 0.6) <= 0.005


@pytest.mark.parametrize("redistribution", ["none", "nonzeros"])
def test_selfish_nonzeros_redistribution_shares_regrowth_by_kept_counts(redistribution):
    # Threshold death empties the shrunken block; "none" regrows all it lost in place, "nonzeros"
    # shares the total regrowth in proportion to each block's kept count before death, so the
    # shrunken block only gets its proportional share back and the others gain density.
    model, pruner = selfish({"death": "threshold", "threshold": 0.01, "redistribution": redistribution})
    with torch.no_grad():
        model.core.weight_hh_l0[0:16] *= 1e-3
    before = [block_density(pruner, "core.weight_hh_l0", g) for g in range(4)]
    pruner.update_topology(0.5)
    after = [block_density(pruner, "core.weight_hh_l0", g) for g in range(4)]
    if redistribution == "none":
        assert after == before
    else:
        assert after[0] < before[0] - 0.1
        assert all(a > b for a, b in zip(after[1:], before[1:]))
    assert abs(pruner.sparsity()[0] - 0.6) <= 0.005


def test_selfish_updates_at_epoch_ends_but_not_after_the_last():
    run = new_run({"method": "selfish", "sparsity": 0.6}, epochs=2)
    run.start()
    start = run.pruner.masks()
    run.train_epoch()
    first = run.pruner.masks()
    assert any(not torch.equal(start[n], first[n]) for n in start)
    run.train_epoch()
    assert all(torch.equal(first[n], run.pruner.masks()[n]) for n in first)
