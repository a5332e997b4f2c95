"""The spectrum of any model's recurrent layers, from the inputs they receive in its own forward
(hyperprune.lyapunov.capture): the same numbers as the engine on the same inputs, the joint spectrum
of separate modules as the union of theirs, batch_first and initial states as the forward gives them,
and refusals naming the layer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hyperprune.lyapunov import CaptureError, capture_inputs, lyapunov_result, lyapunov_spectrum, model_spectrum
from hyperprune.models import build_model
from hyperprune.contract.trial import ModelConfig
from hyperprune.models.recurrent import recurrent_layers


def _spectrum(model, run, *, steps, batch, k=None, warmup=5):
    captured = capture_inputs(model, run, recurrent_layers(model))
    return model_spectrum(captured, steps=steps, batch=batch, k=k, warmup=warmup, state="full", dtype=torch.float64).exponents


def test_a_built_in_model_gives_exactly_the_spectrum_of_its_core_on_its_core_inputs():
    model = build_model(ModelConfig(arch="lstm", hidden_size=6, num_layers=2, dropout=0.3), vocab_size=20, seed=1)
    tokens = torch.randint(0, 20, (25, 3), generator=torch.Generator().manual_seed(0))
    expected = lyapunov_spectrum(model.core, model.core_inputs(tokens), warmup=5, dtype=torch.float64)
    model.train()  # capture runs the forward in eval mode (no dropout) and restores the mode
    assert _spectrum(model, lambda m: m(tokens), steps=25, batch=3) == expected.tolist()
    assert model.training


class Chained(nn.Module):
    def __init__(self, two: nn.LSTM) -> None:
        super().__init__()
        self.lower = nn.LSTM(two.input_size, two.hidden_size, batch_first=True)
        self.drop = nn.Dropout(0.5)
        self.upper = nn.LSTM(two.hidden_size, two.hidden_size, batch_first=True)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(self.lower, f"{name}_l0").copy_(getattr(two, f"{name}_l0"))
                getattr(self.upper, f"{name}_l0").copy_(getattr(two, f"{name}_l1"))

    def forward(self, x):  # x: [B, T, I]
        out, _ = self.lower(x)
        return self.upper(self.drop(out))[0]


def test_separate_chained_modules_give_the_joint_spectrum_of_one_stacked_module():
    """Block lower-triangular Jacobian: the spectrum of the whole is the union of the diagonal blocks'.
    Finite-time exponents differ by O(1/T) with the starting basis; the gap shrinks with T (measured
    on this model: 0.059 at T = 100, 0.023 at 400, 0.010 at 1600; exponents here span about 2 nats)."""
    torch.manual_seed(0)
    two = nn.LSTM(5, 8, num_layers=2).double()
    with torch.no_grad():
        for p in two.parameters():
            p.mul_(3.0)  # a map with spread-out exponents, not all near zero
    chained = Chained(two).double()
    gaps = []
    for steps in (100, 1600):
        x = torch.randn(steps, 3, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        joint = lyapunov_result(two, x, warmup=10).exponents
        union = torch.tensor(_spectrum(chained, lambda m: m(x.transpose(0, 1)), steps=steps, batch=3, warmup=10))
        assert union.shape == joint.shape == (32,)
        gaps.append(float((joint - union).abs().max()))
    assert gaps[1] < 0.015 and gaps[1] < gaps[0] / 4, gaps


def test_k_takes_the_largest_of_the_union():
    torch.manual_seed(0)
    chained = Chained(nn.LSTM(4, 6, num_layers=2)).double()
    x = torch.randn(2, 40, 4, dtype=torch.float64)
    full = _spectrum(chained, lambda m: m(x), steps=40, batch=2)
    top = _spectrum(chained, lambda m: m(x), steps=40, batch=2, k=24)
    assert top == pytest.approx(full, abs=1e-9)  # k = N starts from the identity: the same computation
    assert len(_spectrum(chained, lambda m: m(x), steps=40, batch=2, k=5)) == 5


class WithState(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(3, 5, batch_first=True)

    def forward(self, x, h0):
        return self.gru(x, h0)[0]


def test_batch_first_inputs_and_the_initial_state_are_taken_as_the_forward_passes_them():
    torch.manual_seed(0)
    model = WithState().double()
    x = torch.randn(4, 30, 3, dtype=torch.float64)  # batch first
    h0 = torch.randn(1, 4, 5, dtype=torch.float64)
    got = _spectrum(model, lambda m: m(x, h0), steps=20, batch=2)
    expected = lyapunov_spectrum(model.gru, x[:2, :20], warmup=5, h0=h0[:, :2])
    assert got == expected.tolist()
    assert got != _spectrum(model, lambda m: m(x, torch.zeros_like(h0)), steps=20, batch=2)


def test_layers_the_forward_does_not_drive_as_the_spectrum_needs_are_refused_naming_them():
    model = nn.ModuleDict({"used": nn.GRU(3, 4), "idle": nn.GRU(3, 4)})
    x = torch.randn(10, 2, 3)
    with pytest.raises(CaptureError, match=r"recurrent layer 'idle' is not called by the model's forward"):
        capture_inputs(model, lambda m: m["used"](x), recurrent_layers(model))
    with pytest.raises(CaptureError, match=r"recurrent layer 'used' is called 2 times"):
        capture_inputs(model, lambda m: (m["used"](x), m["used"](x), m["idle"](x)), recurrent_layers(model))
