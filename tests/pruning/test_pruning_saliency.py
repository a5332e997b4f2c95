"""SNIP and SynFlow scores on tiny hand-checked cases, and the masks they lead to."""

from __future__ import annotations

import math

import pytest
import torch

from hyperprune.models import build_model
from hyperprune.pruning import build_pruner
from hyperprune.contract.pruning import parse_pruning_config
from hyperprune.pruning.synflow import synflow_scores
from hyperprune.contract.trial import ModelConfig


def one_unit_rnn(inputs: int = 2, arch: str = "rnn_tanh", layers: int = 1, depth: int = 2):
    model = build_model(ModelConfig(arch=arch, hidden_size=1, num_layers=layers, rhn_depth=depth), num_classes=2, input_size=inputs)
    return model


def core_output_loss(model, x):
    return model.core(x)[0][-1].sum()


def test_snip_scores_are_abs_weight_times_gradient():
    model = one_unit_rnn()
    core = model.core
    with torch.no_grad():
        core.weight_ih_l0.copy_(torch.tensor([[0.5, -0.3]]))
        core.weight_hh_l0.fill_(0.8)
        core.bias_ih_l0.fill_(0.1)
        core.bias_hh_l0.fill_(0.0)
    x = torch.tensor([[[1.0, 2.0]], [[-1.0, 0.5]]])  # T=2, B=1, F=2
    # By hand: h1 = tanh(w.x1 + b), h2 = tanh(w.x2 + u h1 + b), L = h2.
    h1 = math.tanh(0.5 * 1.0 - 0.3 * 2.0 + 0.1)
    h2 = math.tanh(0.5 * -1.0 - 0.3 * 0.5 + 0.8 * h1 + 0.1)
    d2, d1 = 1 - h2**2, 1 - h1**2
    grad_w = [d2 * (x2 + 0.8 * d1 * x1) for x1, x2 in ((1.0, -1.0), (2.0, 0.5))]
    grad_u = d2 * h1
    expected_ih = [abs(0.5 * grad_w[0]), abs(-0.3 * grad_w[1])]
    expected_hh = abs(0.8 * grad_u)

    pruner = build_pruner(model, parse_pruning_config({"method": "snip", "sparsity": 0.34, "params": {"batches": 1}}), steps_per_epoch=1, total_epochs=1, seed=0)
    scores = pruner.scores(iter([x]), core_output_loss)
    torch.testing.assert_close(scores["core.weight_ih_l0"], torch.tensor([expected_ih]), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(scores["core.weight_hh_l0"], torch.tensor([[expected_hh]]), rtol=1e-5, atol=1e-7)
    # Keep round(0.66 * 3) = 2 weights: the lowest-scoring one goes.
    pruner.before_training(iter([x]), core_output_loss)
    ranked = sorted([(expected_ih[0], "ih0"), (expected_ih[1], "ih1"), (expected_hh, "hh")])
    masks = pruner.masks()
    flags = {"ih0": masks["core.weight_ih_l0"][0, 0], "ih1": masks["core.weight_ih_l0"][0, 1], "hh": masks["core.weight_hh_l0"][0, 0]}
    assert not flags[ranked[0][1]] and flags[ranked[1][1]] and flags[ranked[2][1]]


def test_snip_sums_gradients_over_its_batches():
    model = one_unit_rnn()
    a, b = torch.randn(3, 1, 2), torch.randn(3, 1, 2)
    pruner = build_pruner(model, parse_pruning_config({"method": "snip", "sparsity": 0.34, "params": {"batches": 2}}), steps_per_epoch=1, total_epochs=1, seed=0)
    both = pruner.scores(iter([a, b, torch.full((3, 1, 2), 100.0)]), core_output_loss)  # the third is not used
    w = model.core.weight_ih_l0
    ga = torch.autograd.grad(core_output_loss(model, a), w)[0]
    gb = torch.autograd.grad(core_output_loss(model, b), w)[0]
    torch.testing.assert_close(both["core.weight_ih_l0"], ((ga + gb) * w).abs().detach())


def test_snip_needs_data():
    model = one_unit_rnn()
    pruner = build_pruner(model, parse_pruning_config({"method": "snip", "sparsity": 0.3}), steps_per_epoch=1, total_epochs=1, seed=0)
    with pytest.raises(ValueError, match="batches, loss_fn"):
        pruner.before_training()


def _set(param, values):
    with torch.no_grad():
        param.copy_(torch.tensor(values, dtype=param.dtype).view_as(param))


def _flow(model, steps):
    pruner = build_pruner(model, parse_pruning_config({"method": "synflow", "sparsity": 0.0}), steps_per_epoch=1, total_epochs=1, seed=0)
    return synflow_scores(pruner.matrices, pruner._masks, unroll_steps=steps)


def test_synflow_vanilla_rnn_by_hand():
    # h_t = |a| + |b| h_{t-1}, h_0 = 0, R = h_1 + h_2 = 2|a| + |a||b|.
    model = one_unit_rnn(inputs=1)
    _set(model.core.weight_ih_l0, [0.5])
    _set(model.core.weight_hh_l0, [-0.4])
    scores = _flow(model, 2)
    assert scores["core.weight_ih_l0"].item() == pytest.approx(0.5 * (2 + 0.4))
    assert scores["core.weight_hh_l0"].item() == pytest.approx(0.5 * 0.4)


def test_synflow_lstm_sums_the_gates_of_a_unit():
    model = one_unit_rnn(inputs=1, arch="lstm")
    w_ih, w_hh = [0.1, -0.2, 0.3, 0.4], [0.5, 0.6, -0.7, 0.8]
    _set(model.core.weight_ih_l0, w_ih)
    _set(model.core.weight_hh_l0, w_hh)
    A, B = sum(map(abs, w_ih)), sum(map(abs, w_hh))  # R = 2A + AB over two steps
    scores = _flow(model, 2)
    torch.testing.assert_close(scores["core.weight_ih_l0"].view(-1), torch.tensor([abs(w) * (2 + B) for w in w_ih], dtype=torch.float64))
    torch.testing.assert_close(scores["core.weight_hh_l0"].view(-1), torch.tensor([abs(w) * A for w in w_hh], dtype=torch.float64))


def test_synflow_stacked_layers_chain():
    # One step: h1 = |a1|, h2 = |a2| h1, R = |a1||a2|; recurrent weights see no flow yet.
    model = one_unit_rnn(inputs=1, layers=2)
    for name, value in (("weight_ih_l0", 0.5), ("weight_hh_l0", 0.9), ("weight_ih_l1", -2.0), ("weight_hh_l1", 0.3)):
        _set(getattr(model.core, name), [value])
    scores = _flow(model, 1)
    assert scores["core.weight_ih_l0"].item() == pytest.approx(1.0)
    assert scores["core.weight_ih_l1"].item() == pytest.approx(1.0)
    assert scores["core.weight_hh_l0"].item() == 0.0 and scores["core.weight_hh_l1"].item() == 0.0


def test_synflow_rhn_chains_micro_steps():
    # Depth 2, gates summed: W = |W^h|+|W^t|, R0, R1 likewise. Two steps:
    # R = 2 R1 W + R0 R1^2 W, so scores: W: W (2 R1 + R0 R1^2), R0: R0 R1^2 W, R1: 2 R1 W + 2 R0 R1^2 W.
    model = one_unit_rnn(inputs=1, arch="rhn", depth=2)
    _set(model.core.weight_ih, [0.2, 0.3])
    _set(model.core.weight_hh_0, [0.4, -0.1])
    _set(model.core.weight_hh_1, [0.6, 0.5])
    W, R0, R1 = 0.5, 0.5, 1.1
    scores = _flow(model, 2)
    assert scores["core.weight_ih"].sum().item() == pytest.approx(W * (2 * R1 + R0 * R1**2))
    assert scores["core.weight_hh_0"].sum().item() == pytest.approx(R0 * R1**2 * W)
    assert scores["core.weight_hh_1"].sum().item() == pytest.approx(2 * R1 * W + 2 * R0 * R1**2 * W)


def test_synflow_is_data_free_and_hits_the_target():
    model = build_model(ModelConfig(arch="lstm", hidden_size=16, num_layers=2), vocab_size=10)
    pruner = build_pruner(model, parse_pruning_config({"method": "synflow", "sparsity": 0.8, "params": {"iterations": 20, "unrollSteps": 5}}), steps_per_epoch=1, total_epochs=1, seed=0)
    pruner.before_training()
    assert abs(pruner.sparsity()[0] - 0.8) <= 0.005
    assert all(s < 1.0 for s in pruner.sparsity()[1].values()), "a whole matrix collapsed"
