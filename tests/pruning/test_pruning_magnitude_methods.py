"""One-shot magnitude, gradual magnitude (cubic schedule) and lottery tickets with rewinding."""

from __future__ import annotations

import copy

import pytest
import torch

from hyperprune.pruning import build_pruner
from hyperprune.contract.pruning import parse_pruning_config
from hyperprune.pruning.schedules import cubic_sparsity, lottery_round_sparsity
from pruning_support import new_run, tiny_lm


def test_magnitude_removes_the_smallest_weights_of_each_gate_block():
    model = tiny_lm("lstm", hidden=16, layers=2)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    pruner = build_pruner(model, parse_pruning_config({"method": "magnitude", "sparsity": 0.7, "params": {"pruneEpoch": 0}}), steps_per_epoch=1, total_epochs=2, seed=0)
    pruner.before_training()
    assert len(pruner.matrices) == 4  # 2 layers x (input-to-hidden, hidden-to-hidden)
    for m in pruner.matrices:
        weights, mask = m.blocks(before[m.name].abs()), m.blocks(pruner.masks()[m.name])
        for g in range(m.gates):
            assert weights[g][~mask[g]].max() <= weights[g][mask[g]].min()


def test_global_magnitude_removes_the_smallest_weights_of_the_core():
    model = tiny_lm("gru", hidden=16, layers=2)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    pruner = build_pruner(
        model, parse_pruning_config({"method": "magnitude", "sparsity": 0.7, "params": {"pruneEpoch": 0, "scope": "global"}}), steps_per_epoch=1, total_epochs=2, seed=0
    )
    pruner.before_training()
    masks = pruner.masks()
    pruned = torch.cat([before[n].abs()[~m] for n, m in masks.items()])
    kept = torch.cat([before[n].abs()[m] for n, m in masks.items()])
    assert pruned.max() <= kept.min()


def test_one_shot_prunes_at_its_epoch_and_never_before():
    run = new_run({"method": "magnitude", "sparsity": 0.6, "params": {"pruneEpoch": 2}}, epochs=4)
    run.start()
    run.train_epoch()
    assert run.pruner.sparsity()[0] == 0.0
    run.train_epoch()
    assert abs(run.pruner.sparsity()[0] - 0.6) <= 0.005


def test_cubic_schedule_formula():
    kw = dict(initial=0.1, final=0.9, start_step=10, end_step=30)
    assert cubic_sparsity(0, **kw) == 0.1 and cubic_sparsity(10, **kw) == 0.1
    assert cubic_sparsity(20, **kw) == pytest.approx(0.9 - 0.8 * 0.5**3)
    assert cubic_sparsity(30, **kw) == 0.9 and cubic_sparsity(99, **kw) == 0.9


def test_gmp_follows_the_cubic_schedule_at_its_update_steps_and_only_shrinks_masks():
    cfg = {"method": "gmp", "sparsity": 0.8, "params": {"startEpoch": 1, "frequency": 2, "endFraction": 0.75, "initialSparsity": 0.2}}
    run = new_run(cfg, epochs=4, steps_per_epoch=4)
    pruner = run.pruner
    assert (pruner.start_step, pruner.end_step, pruner.final_sparsity_epoch) == (4, 12, 3)
    run.start()
    seen = {}
    previous = pruner.masks()
    original_after_step = pruner.after_step

    def recording_after_step(step):
        original_after_step(step)
        seen[step] = pruner.sparsity()[0]

    pruner.after_step = recording_after_step
    for _ in range(4):
        run.train_epoch()
        masks = pruner.masks()
        assert all(not (masks[n] & ~previous[n]).any() for n in masks), "a pruned weight came back"
        previous = masks
    assert seen[3] == 0.0  # before startEpoch nothing is pruned
    for step in (4, 6, 8, 10, 12):
        assert seen[step] == pytest.approx(pruner.scheduled_sparsity(step), abs=0.005)
    assert seen[5] == seen[4] and seen[16] == pytest.approx(0.8, abs=0.005)


def test_gmp_catches_up_when_an_epoch_has_fewer_steps_than_promised():
    cfg = {"method": "gmp", "sparsity": 0.6, "params": {"frequency": 100, "endFraction": 0.5}}
    run = new_run(cfg, epochs=4, steps_per_epoch=4)
    run.steps_per_epoch = 3  # the loop runs 3 of the 4 promised steps: step 8 never happens
    run.start()
    run.train_epoch()
    run.train_epoch()
    assert abs(run.pruner.sparsity()[0] - 0.6) <= 0.005


def test_lottery_rewinds_to_the_initial_weights_and_clears_the_optimiser():
    cfg = {"method": "lottery", "sparsity": 0.75, "params": {"rounds": 2, "roundEpochs": 1}}
    run = new_run(cfg, epochs=3)
    initial = copy.deepcopy(run.model.state_dict())
    run.start()
    run.train_epoch()
    assert run.pruner.sparsity()[0] == pytest.approx(lottery_round_sparsity(0.75, 1, 2), abs=0.005) == pytest.approx(0.5, abs=0.005)
    masks = dict(run.pruner.masks())
    for name, value in run.model.state_dict().items():
        expected = initial[name] * masks[name] if name in masks else initial[name]
        torch.testing.assert_close(value, expected, rtol=0, atol=0, msg=name)
    assert len(run.optimizer.state) == 0
    run.train_epoch()
    assert abs(run.pruner.sparsity()[0] - 0.75) <= 0.005
    assert run.pruner.rounds_done == 2 and run.pruner.state_dict()["rewind_weights"] is None


def test_lottery_rewinds_to_the_weights_after_the_rewind_epoch():
    cfg = {"method": "lottery", "sparsity": 0.5, "params": {"rounds": 1, "roundEpochs": 2, "rewindEpoch": 1}}
    run = new_run(cfg, epochs=3)
    run.start()
    run.train_epoch()
    after_first = copy.deepcopy(run.model.state_dict())
    run.train_epoch()
    masks = run.pruner.masks()
    assert abs(run.pruner.sparsity()[0] - 0.5) <= 0.005
    # The prune used the weights of epoch 2: its survivors are the largest of those, not of epoch 1.
    for name, value in run.model.state_dict().items():
        expected = after_first[name] * masks[name] if name in masks else after_first[name]
        torch.testing.assert_close(value, expected, rtol=0, atol=0, msg=name)
