"""(2) The engine against the independent autograd reference, for every cell type and stacking."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from hyperprune.lyapunov import lyapunov_result
from hyperprune.lyapunov.reference import reference_per_sequence, reference_run
from hyperprune.models.rhn import RHN

from .helpers import inputs, seeded

T, B, WARMUP = 14, 3, 4


def positive_relu_rnn(layers: int) -> nn.RNN:
    # Relu units that never die: with non-negative inputs and weights and a positive bias every
    # pre-activation stays positive, so the Jacobian is full rank and the whole spectrum is well
    # defined (with dead units the trailing exponents are rounding noise in any implementation).
    rnn = nn.RNN(3, 6, layers, nonlinearity="relu").double()
    with torch.no_grad():
        for name, p in rnn.named_parameters():
            p.abs_()
            if name.startswith("bias"):
                p.add_(0.5)
            elif name.startswith("weight_hh"):
                p.mul_(0.6)
    return rnn


MODELS = {
    "rnn_tanh_1": lambda: nn.RNN(3, 6, 1).double(),
    "rnn_tanh_3": lambda: nn.RNN(3, 5, 3).double(),
    "rnn_relu_1": lambda: positive_relu_rnn(1),
    "rnn_relu_2": lambda: positive_relu_rnn(2),
    "gru_1": lambda: nn.GRU(3, 6, 1).double(),
    "gru_3": lambda: nn.GRU(3, 4, 3).double(),
    "lstm_1": lambda: nn.LSTM(3, 5, 1).double(),
    "lstm_2": lambda: nn.LSTM(3, 5, 2).double(),
    "lstm_3_nobias": lambda: nn.LSTM(3, 4, 3, bias=False).double(),
    "rhn_d1": lambda: RHN(3, 6, 1).double(),
    "rhn_d4": lambda: RHN(3, 5, 4).double(),
}


def make(name: str) -> nn.Module:
    return seeded(sum(map(ord, name)), MODELS[name])


def x_for(name: str, model: nn.Module) -> torch.Tensor:
    x = inputs(T, B, 3, seed=1, scale=1.5)
    return x.abs() if name.startswith("rnn_relu") else x


CASES = [(name, "full") for name in MODELS] + [(name, "hidden") for name in MODELS if name.startswith("lstm")]


@pytest.mark.parametrize("name,state", CASES)
def test_matches_autograd_reference(name, state):
    model = make(name)
    x = x_for(name, model)
    ref = reference_per_sequence(model, x, warmup=WARMUP, state=state)
    for tangent in ("gemm", "blocks"):
        got = lyapunov_result(model, x, warmup=WARMUP, state=state, dtype=torch.float64, tangent=tangent)
        assert got.per_sequence.shape == ref.shape
        assert torch.allclose(got.per_sequence, ref, atol=1e-5, rtol=0), (tangent, (got.per_sequence - ref).abs().max())
        assert torch.allclose(got.exponents, ref.mean(0), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["lstm_2", "gru_3", "rhn_d4", "rnn_tanh_3"])
def test_published_convention_matches_reference(name):
    model = make(name)
    x = x_for(name, model)
    state = "hidden" if name.startswith("lstm") else "full"
    ref = reference_per_sequence(model, x, warmup=WARMUP, state=state, convention="published")
    for tangent in ("gemm", "blocks"):
        got = lyapunov_result(model, x, warmup=WARMUP, state=state, convention="published", dtype=torch.float64, tangent=tangent)
        assert torch.allclose(got.per_sequence, ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["lstm_2", "gru_1", "rhn_d4"])
def test_k_directions_match_reference(name):
    model = make(name)
    x = x_for(name, model)
    run = reference_run(model, x, ks=(3, 1), warmup=WARMUP)
    for i, k in enumerate((3, 1)):
        got = lyapunov_result(model, x, k=k, warmup=WARMUP, dtype=torch.float64)
        assert torch.allclose(got.per_sequence, run.per_sequence[i], atol=1e-5, rtol=0)


def test_nonzero_initial_state_matches_reference():
    model = make("lstm_2")
    x = x_for("lstm_2", model)
    g = torch.Generator().manual_seed(3)
    h0 = (torch.randn(2, B, 5, generator=g, dtype=torch.float64), torch.randn(2, B, 5, generator=g, dtype=torch.float64))
    ref = reference_per_sequence(model, x, warmup=WARMUP, h0=h0)
    got = lyapunov_result(model, x, warmup=WARMUP, h0=h0, dtype=torch.float64)
    assert torch.allclose(got.per_sequence, ref, atol=1e-5, rtol=0)
    # ... and the initial state matters (the test would not notice an ignored h0 otherwise)
    zero = lyapunov_result(model, x, warmup=WARMUP, dtype=torch.float64)
    assert (zero.per_sequence - got.per_sequence).abs().max() > 1e-4


def test_pruned_model_matches_reference_through_masks():
    model = make("lstm_2")
    prune.l1_unstructured(model, "weight_hh_l0", amount=0.6)
    prune.random_unstructured(model, "weight_ih_l1", amount=0.5)
    x = x_for("lstm_2", model)
    ref = reference_per_sequence(model, x, warmup=WARMUP)
    got = lyapunov_result(model, x, warmup=WARMUP, dtype=torch.float64)
    assert torch.allclose(got.per_sequence, ref, atol=1e-5, rtol=0)


def test_reference_jacobian_noise_probe():
    # The benchmark's conditioning probe: rounding-level noise on J moves a well-conditioned spectrum
    # only at rounding level, a large noise visibly; one noise value per entry of ks.
    model = make("gru_1")
    x = x_for("gru_1", model)
    run = reference_run(model, x, ks=(None, None, None), warmup=WARMUP, jacobian_noise=(0.0, 1e-16, 1e-3))
    clean, tiny, big = run.per_sequence
    assert (clean - tiny).abs().max() < 1e-12
    assert (clean - big).abs().max() > 1e-6
    with pytest.raises(ValueError, match="one value per entry"):
        reference_run(model, x, ks=(None,), warmup=WARMUP, jacobian_noise=(0.0, 0.0))
