"""Exact resume through state_dict, determinism for a seed, and no use of the global RNG."""

from __future__ import annotations

import copy
import io

import pytest
import torch

from hyperprune.pruning import build_pruner
from hyperprune.contract.pruning import parse_pruning_config
from pruning_support import Run, iss_case, lm_loss, make_optimizer, new_run, tiny_lm

RESUMABLE = {
    "random": {"method": "random", "sparsity": 0.6},
    "gmp": {"method": "gmp", "sparsity": 0.6, "params": {"frequency": 3, "endFraction": 0.75}},
    "lottery": {"method": "lottery", "sparsity": 0.6, "params": {"rounds": 2, "roundEpochs": 1}},
    "set": {"method": "set", "sparsity": 0.6},
    "rigl": {"method": "rigl", "sparsity": 0.6, "params": {"updateFrequency": 3, "endFraction": 1.0}},
    "selfish-random": {"method": "selfish", "sparsity": 0.6, "params": {"redistribution": "magnitude"}},
    "selfish-gradient": {"method": "selfish", "sparsity": 0.6, "params": {"growth": "gradient", "death": "global_magnitude"}},
    "iss": iss_case("lstm", 16, 1, [4]),
}


def roundtrip(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


@pytest.mark.parametrize("case", sorted(RESUMABLE))
def test_resume_from_state_dict_reproduces_the_next_epoch_exactly(case):
    cfg = RESUMABLE[case]
    straight = new_run(cfg, epochs=4, optimizer="adam")
    straight.start()
    straight.train_epoch()
    checkpoint = roundtrip(
        {
            "model": straight.model.state_dict(),
            "optimizer": straight.optimizer.state_dict(),
            "pruner": straight.pruner.state_dict(),
        }
    )
    straight.train_epoch()
    straight.train_epoch()

    # A fresh process built with other seeds: everything that matters must come from the checkpoint.
    model = tiny_lm(seed=7)
    pruner = build_pruner(model, parse_pruning_config(cfg), steps_per_epoch=4, total_epochs=4, seed=5)
    optimizer = make_optimizer(model, "adam")
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    pruner.load_state_dict(checkpoint["pruner"])
    resumed = Run(model, pruner, optimizer, straight.data, 4, step=4, epoch=1)
    resumed.start()  # the runtime may call it on every start: after a resume it only re-applies masks
    resumed.train_epoch()
    resumed.train_epoch()

    masks_a, masks_b = straight.pruner.masks(), resumed.pruner.masks()
    assert all(torch.equal(masks_a[n], masks_b[n]) for n in masks_a)
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_state_of_another_method_is_refused():
    a = build_pruner(tiny_lm(), parse_pruning_config(RESUMABLE["set"]), steps_per_epoch=4, total_epochs=4, seed=0)
    b = build_pruner(tiny_lm(), parse_pruning_config(RESUMABLE["selfish-random"]), steps_per_epoch=4, total_epochs=4, seed=0)
    with pytest.raises(ValueError, match="'set'"):
        b.load_state_dict(a.state_dict())


@pytest.mark.parametrize("case", ["random", "set", "selfish-random", "rigl"])
def test_same_seed_same_masks_other_seed_other_masks(case):
    def final_masks(seed):
        run = new_run(RESUMABLE[case], epochs=3, seed=0)
        run.pruner = build_pruner(run.model, parse_pruning_config(RESUMABLE[case]), steps_per_epoch=4, total_epochs=3, seed=seed)
        run.start()
        for _ in range(3):
            run.train_epoch()
        return run.pruner.masks()

    a, b, c = final_masks(1), final_masks(1), final_masks(2)
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert any(not torch.equal(a[n], c[n]) for n in a)


def test_pruners_leave_the_global_rng_alone():
    state = torch.random.get_rng_state()
    for case in ("random", "set", "selfish-random", "rigl"):
        run = new_run(RESUMABLE[case], epochs=2)
        run.start()
        run.pruner.on_epoch_end(1, run.optimizer)
    snip = build_pruner(tiny_lm(), parse_pruning_config({"method": "snip", "sparsity": 0.5}), steps_per_epoch=1, total_epochs=1, seed=0)
    from pruning_support import batches

    snip.before_training(iter(batches(1)), lm_loss)
    assert torch.equal(state, torch.random.get_rng_state())
