"""The RHN core (hyperprune.models.rhn): recurrence, layout, masks, dropout."""

from __future__ import annotations

import torch
from torch.nn.utils import prune

from hyperprune.models.rhn import RHN, rhn_micro_step

from .helpers import inputs, seeded


def test_forward_is_the_documented_highway_recurrence():
    m = seeded(50, lambda: RHN(3, 4, 2).double())
    x = inputs(5, 2, 3)
    out, last = m(x)
    s = torch.zeros(2, 4, dtype=torch.float64)
    for t in range(5):
        for d in range(2):
            a = s @ getattr(m, f"weight_hh_{d}").t() + getattr(m, f"bias_{d}")
            if d == 0:
                a = a + x[t] @ m.weight_ih.t()  # the input enters the first micro-step only
            h, tg = torch.tanh(a[:, :4]), torch.sigmoid(a[:, 4:])
            s = h * tg + s * (1 - tg)  # coupled carry gate c = 1 - t
        assert torch.allclose(out[t], s, atol=1e-14)
    assert torch.equal(last, out[-1])
    assert torch.allclose(m.step(x[0], torch.zeros(2, 4, dtype=torch.float64)), out[0])


def test_parameter_layout():
    m = RHN(3, 4, 3)
    shapes = {n: tuple(p.shape) for n, p in m.named_parameters()}
    assert shapes == {
        "weight_ih": (8, 3),
        "weight_hh_0": (8, 4), "bias_0": (8,),
        "weight_hh_1": (8, 4), "bias_1": (8,),
        "weight_hh_2": (8, 4), "bias_2": (8,),
    }
    # transform-gate biases start negative (carry-biased), candidate biases are small
    assert torch.all(m.bias_0[4:] == -2.0) and torch.all(m.bias_0[:4].abs() <= 0.5)


def test_initial_state_and_shapes():
    m = seeded(51, lambda: RHN(3, 4, 2))
    x = inputs(6, 3, 3).float()
    s0 = torch.randn(3, 4)
    out, last = m(x, s0)
    assert out.shape == (6, 3, 4) and last.shape == (3, 4)
    assert not torch.allclose(out, m(x)[0])


def test_prune_reparametrisation_is_used_even_when_stale():
    m = seeded(52, lambda: RHN(3, 4, 2).double())
    prune.l1_unstructured(m, "weight_hh_1", amount=0.5)
    with torch.no_grad():
        m.weight_hh_1_mask.zero_()  # the weight_hh_1 attribute is now stale until a forward hook
    _, w_hh, _ = m.weights()
    assert torch.equal(w_hh[1], torch.zeros(8, 4, dtype=torch.float64))


def test_dropout_only_in_training_and_variational():
    m = seeded(53, lambda: RHN(3, 4, 2, dropout=0.5).double())
    x = inputs(4, 2, 3)
    m.eval()
    a, _ = m(x)
    b, _ = m(x)
    assert torch.equal(a, b)
    m.train()
    torch.manual_seed(0)
    c, _ = m(x)
    assert not torch.allclose(a, c)


def test_micro_step_returns_its_gates():
    s = torch.zeros(1, 2, dtype=torch.float64)
    w = torch.zeros(4, 2, dtype=torch.float64)
    b = torch.tensor([0.0, 0.0, 100.0, -100.0], dtype=torch.float64)
    u = torch.tensor([[1.0, 1.0, 0.0, 0.0]], dtype=torch.float64)
    new, h, t = rhn_micro_step(s, w, b, u)
    # unit 0: gate open (t = 1) -> takes the candidate tanh(1); unit 1: gate shut -> carries 0
    assert torch.allclose(new, torch.tensor([[torch.tanh(torch.tensor(1.0)).item(), 0.0]], dtype=torch.float64))
    assert torch.allclose(t, torch.tensor([[1.0, 0.0]], dtype=torch.float64))
