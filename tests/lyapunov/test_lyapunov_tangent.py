"""(3) Tangent maps against finite differences of the forward step; forward step against the module;
adjoint (published J^T) against the dot-product identity; the two application modes agree."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hyperprune.lyapunov.cells import LSTMLayer, build_network
from hyperprune.lyapunov.tangent import apply_adjoint, apply_forward
from hyperprune.models.rhn import RHN

from .helpers import seeded

B, K = 3, 4
CASES = {
    "rnn_tanh": (lambda: nn.RNN(3, 5, 2).double(), "full"),
    "rnn_relu": (lambda: nn.RNN(3, 5, 2, nonlinearity="relu").double(), "full"),
    "gru": (lambda: nn.GRU(3, 5, 3).double(), "full"),
    "lstm_full": (lambda: nn.LSTM(3, 5, 2).double(), "full"),
    "lstm_hidden": (lambda: nn.LSTM(3, 5, 2).double(), "hidden"),
    "rhn": (lambda: RHN(3, 5, 3).double(), "full"),
}
DT = torch.float64
CPU = torch.device("cpu")


def _setup(name):
    build, mode = CASES[name]
    module = seeded(11, build)
    net = build_network(module, mode, DT, CPU)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(B, 3, generator=g, dtype=DT)
    states = net.initial_state(B, None)
    # move away from the zero state so every derivative factor is generic
    for _ in range(3):
        states, _ = net.step(torch.randn(B, 3, generator=g, dtype=DT), states)
    return module, net, x, states, g


def _flat(net, states):
    out = []
    for layer, st in zip(net.layers, states):
        if isinstance(layer, LSTMLayer):
            out.extend([st[0], st[1]] if layer.full else [st[0]])
        else:
            out.append(st)
    return torch.cat(out, dim=-1)


def _unflat(net, s, template):
    states, i = [], 0
    for layer, st in zip(net.layers, template):
        if isinstance(layer, LSTMLayer):
            h = s[:, i : i + layer.hidden]
            i += layer.hidden
            if layer.full:
                c = s[:, i : i + layer.hidden]
                i += layer.hidden
            else:
                c = st[1]  # published h-only map: c_{t-1} held fixed
            states.append((h, c))
        else:
            n = layer.parts[0].size
            states.append(s[:, i : i + n])
            i += n
    return states


def _env(net, P):
    env, i = {}, 0
    for p in net.parts:
        env[p.name] = P[:, :, i : i + p.size]
        i += p.size
    return env


def _cat(net, env):
    return torch.cat([env[p.name] for p in net.parts], dim=-1)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("mode", ["gemm", "blocks"])
def test_tangent_matches_central_differences(name, mode):
    module, net, x, states, g = _setup(name)
    s = _flat(net, states)
    N = s.shape[1]
    P = torch.randn(B, K, N, generator=g, dtype=DT)
    _, stages = net.step(x, states)
    JP = _cat(net, apply_forward(stages, _env(net, P), mode))
    eps = 1e-6
    for j in range(K):
        plus, _ = net.step(x, _unflat(net, s + eps * P[:, j], states))
        minus, _ = net.step(x, _unflat(net, s - eps * P[:, j], states))
        fd = (_flat(net, plus) - _flat(net, minus)) / (2 * eps)
        # central differences: truncation O(eps^2), rounding O(1e-16/eps)
        assert torch.allclose(JP[:, j], fd, atol=1e-8, rtol=1e-7), (name, j, (JP[:, j] - fd).abs().max())


@pytest.mark.parametrize("name", list(CASES))
def test_adjoint_is_the_transpose(name):
    module, net, x, states, g = _setup(name)
    N = net.size
    _, stages = net.step(x, states)
    u = torch.randn(B, K, N, generator=g, dtype=DT)
    v = torch.randn(B, K, N, generator=g, dtype=DT)
    Jv = _cat(net, apply_forward(stages, _env(net, v), "gemm"))
    names = [p.name for p in net.parts]
    for mode in ("gemm", "blocks"):
        JTu = _cat(net, apply_adjoint(stages, _env(net, u), names, mode))
        # <u, J v> = <J^T u, v> for every sequence and direction
        assert torch.allclose((u * Jv).sum(-1), (JTu * v).sum(-1), atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_forward_step_matches_the_module(name):
    build, mode = CASES[name]
    module = seeded(11, build)
    net = build_network(module, mode, DT, CPU)
    g = torch.Generator().manual_seed(9)
    xs = torch.randn(6, B, 3, generator=g, dtype=DT)
    states = net.initial_state(B, None)
    outs = []
    for t in range(6):
        states, _ = net.step(xs[t], states)
        last = states[-1]
        outs.append(last[0] if isinstance(last, tuple) else last)
    ref, _ = module(xs)  # every core returns (outputs of the last layer [T, B, H], final state)
    assert torch.allclose(torch.stack(outs), ref, atol=1e-13, rtol=0)
