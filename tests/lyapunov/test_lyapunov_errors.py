"""Bad input gets a clear error naming the problem."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hyperprune.lyapunov import lyapunov_spectrum
from hyperprune.models.rhn import RHN

from .helpers import LinearCell, inputs, seeded


@pytest.fixture
def lstm():
    return seeded(40, lambda: nn.LSTM(3, 4, 2).double())


def x(T=8, B=2, I=3):
    return inputs(T, B, I)


@pytest.mark.parametrize(
    "model,match",
    [
        (nn.Linear(3, 4), "unsupported model type torch.nn.modules.linear.Linear"),
        (nn.Sequential(nn.LSTM(3, 4)), "unsupported model type"),
        (nn.LSTMCell(3, 4), "unsupported model type"),
    ],
)
def test_unsupported_module_type(model, match):
    with pytest.raises(TypeError, match=match):
        lyapunov_spectrum(model, x(), warmup=2)


def test_not_a_module():
    with pytest.raises(TypeError, match="must be a torch.nn.Module"):
        lyapunov_spectrum(lambda v: v, x(), warmup=2)


def test_unregistered_extension_is_unsupported():
    with pytest.raises(TypeError, match="unsupported model type"):
        lyapunov_spectrum(LinearCell(torch.eye(2, dtype=torch.float64)), x(I=2), warmup=2)


@pytest.mark.parametrize(
    "module,match",
    [
        (nn.LSTM(3, 4, bidirectional=True), "bidirectional"),
        (nn.GRU(3, 4, bidirectional=True), "bidirectional"),
        (nn.LSTM(3, 4, proj_size=2), "proj_size=2"),
    ],
)
def test_unsupported_configurations(module, match):
    with pytest.raises(ValueError, match=match):
        lyapunov_spectrum(module, x().float(), warmup=2)


def test_a_batch_first_module_takes_its_inputs_batch_first():
    torch.manual_seed(0)
    time_first = nn.GRU(3, 4).double()
    batch_first = nn.GRU(3, 4, batch_first=True).double()
    batch_first.load_state_dict(time_first.state_dict())
    inputs = x()
    assert torch.equal(
        lyapunov_spectrum(time_first, inputs, warmup=2), lyapunov_spectrum(batch_first, inputs.transpose(0, 1), warmup=2)
    )


def test_k_larger_than_the_state(lstm):
    with pytest.raises(ValueError, match=r"k=17 exceeds the state size N=16"):
        lyapunov_spectrum(lstm, x(), k=17, warmup=2)
    with pytest.raises(ValueError, match=r"k=9 exceeds the state size N=8"):
        lyapunov_spectrum(lstm, x(), k=9, warmup=2, state="hidden")
    assert lyapunov_spectrum(lstm, x(), k=8, warmup=2, state="hidden").shape == (8,)


@pytest.mark.parametrize("k,exc,match", [(0, ValueError, "k must be >= 1"), (2.5, TypeError, "k must be an integer"), (True, TypeError, "k must be an integer")])
def test_bad_k(lstm, k, exc, match):
    with pytest.raises(exc, match=match):
        lyapunov_spectrum(lstm, x(), k=k, warmup=2)


def test_inputs_with_the_wrong_shape(lstm):
    with pytest.raises(ValueError, match=r"shape \[T, B, input_size=3\]"):
        lyapunov_spectrum(lstm, torch.zeros(8, 3, dtype=torch.float64), warmup=2)
    with pytest.raises(ValueError, match="expects input_size=3"):
        lyapunov_spectrum(lstm, x(I=5), warmup=2)
    with pytest.raises(ValueError, match="empty batch"):
        lyapunov_spectrum(lstm, torch.zeros(8, 0, 3, dtype=torch.float64), warmup=2)


def test_inputs_with_the_wrong_dtype(lstm):
    with pytest.raises(TypeError, match="floating point.*int64"):
        lyapunov_spectrum(lstm, torch.zeros(8, 2, 3, dtype=torch.long), warmup=2)
    with pytest.raises(TypeError, match="inputs must be a tensor"):
        lyapunov_spectrum(lstm, [[0.0]], warmup=2)


def test_too_few_steps_for_the_warmup(lstm):
    with pytest.raises(ValueError, match="T=10 time steps but warmup=10"):
        lyapunov_spectrum(lstm, x(T=10), warmup=10)


def test_non_finite_inputs(lstm):
    bad = x()
    bad[3, 1, 0] = float("nan")
    with pytest.raises(ValueError, match="inputs contain NaN or inf"):
        lyapunov_spectrum(lstm, bad, warmup=2)


def test_non_finite_weights_are_named(lstm):
    with torch.no_grad():
        lstm.weight_hh_l1[0, 0] = float("inf")
    with pytest.raises(ValueError, match="weight_hh_l1 contains NaN or inf"):
        lyapunov_spectrum(lstm, x(), warmup=2)
    rhn = seeded(41, lambda: RHN(3, 4, 2).double())
    with torch.no_grad():
        rhn.bias_1[2] = float("nan")
    with pytest.raises(ValueError, match="bias_1 contains NaN or inf"):
        lyapunov_spectrum(rhn, x(), warmup=2)


def test_non_finite_result_raises_instead_of_returning_nan(linear_cell):
    # 1e200 growth per step overflows float64 within a 3-step QR interval: no silent NaN spectrum.
    cell = linear_cell(1e200 * torch.eye(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="not finite"):
        lyapunov_spectrum(cell, x(I=2), warmup=2, qr_interval=3)
    # with a QR every step the same map is fine: log(1e200) per step
    lam = lyapunov_spectrum(cell, x(I=2), warmup=2)
    assert torch.allclose(lam, torch.full((3,), 200 * 2.302585092994046, dtype=torch.float64))


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"state": "cell"}, ValueError, "state must be 'full' or 'hidden'"),
        ({"convention": "log2"}, ValueError, "convention must be 'natural' or 'published'"),
        ({"dtype": torch.float16}, TypeError, "dtype must be torch.float32 or torch.float64"),
        ({"dtype": "bfloat16"}, TypeError, "dtype must be"),
        ({"qr_interval": 0}, ValueError, "qr_interval must be >= 1"),
        ({"warmup": -1}, ValueError, "warmup must be >= 0"),
        ({"seed": -3}, ValueError, "seed must be >= 0"),
    ],
)
def test_bad_options(lstm, kwargs, exc, match):
    kwargs.setdefault("warmup", 2)
    with pytest.raises(exc, match=match):
        lyapunov_spectrum(lstm, x(), **kwargs)


def test_bad_initial_states(lstm):
    with pytest.raises(TypeError, match=r"pair \(h0, c0\)"):
        lyapunov_spectrum(lstm, x(), warmup=2, h0=torch.zeros(2, 2, 4))
    with pytest.raises(ValueError, match=r"h0\[1\] \(c\) must have shape \[2, 2, 4\]"):
        lyapunov_spectrum(lstm, x(), warmup=2, h0=(torch.zeros(2, 2, 4), torch.zeros(1, 2, 4)))
    gru = nn.GRU(3, 4, 1)
    with pytest.raises(ValueError, match=r"h0 must have shape \[1, 2, 4\]"):
        lyapunov_spectrum(gru, x(), warmup=2, h0=torch.zeros(2, 4))
    rhn = RHN(3, 4, 2)
    with pytest.raises(ValueError, match=r"RHN must have shape \[2, 4\]"):
        lyapunov_spectrum(rhn, x(), warmup=2, h0=torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="h0 contains NaN or inf"):
        lyapunov_spectrum(rhn, x(), warmup=2, h0=torch.full((2, 4), float("nan")))
