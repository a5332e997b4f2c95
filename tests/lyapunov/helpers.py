"""Test-only models with known spectra, registered through the engine's extension point."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hyperprune.lyapunov.cells import Layer, Network, Part
from hyperprune.lyapunov.tangent import Output, Stage


class LinearCell(nn.Module):
    """h' = A h + B x: a linear recurrence whose Lyapunov spectrum is known in closed form."""

    def __init__(self, A: Tensor, input_size: int = 2) -> None:
        super().__init__()
        self.A = nn.Parameter(A.clone())
        self.B = nn.Parameter(torch.zeros(A.shape[0], input_size, dtype=A.dtype))
        self.state_size = A.shape[0]
        self.input_size = input_size

    def step(self, x: Tensor, s: Tensor) -> Tensor:
        return s @ self.A.t() + x @ self.B.t()


class _LinearLayer(Layer):
    def __init__(self, module: LinearCell, dtype, device) -> None:
        self.A = module.A.detach().to(device=device, dtype=dtype)
        self.B = module.B.detach().to(device=device, dtype=dtype)
        self.parts = [Part("0.h", module.state_size)]
        self.output = "0.h"
        self.output_size = module.state_size
        self.input_size = module.input_size

    def step(self, x, state, x_source):
        new = state @ self.A.t() + x @ self.B.t()
        stage = Stage({"0.h": self.A}, self.A.shape[0], [Output("0.h", {"0.h": [(0, None)]})])
        return new, new, [stage]


def build_linear(module: LinearCell, mode, dtype, device) -> Network:
    layer = _LinearLayer(module, dtype, device)

    def initial(batch: int, h0):
        if h0 is None:
            return [torch.ones(batch, module.state_size, dtype=dtype, device=device)]
        return [h0.to(device=device, dtype=dtype)]

    return Network(layers=[layer], input_size=module.input_size, initial_state=initial)


def relu_fixed_point_rnn(W: Tensor, input_size: int = 2) -> tuple[nn.RNN, Tensor]:
    """A real torch.nn.RNN (relu) whose Jacobian is exactly W at every step.

    Input weights are zero and the bias is (I - W) h* with h* = 1 + (0..N-1)/N > 0, so starting
    from h0 = h* the state stays at h* (pre-activation = h* > 0, relu is the identity there) and
    J = diag(relu'(h*)) W = W. Returns (module, h0 [1, 1, N] to be expanded over the batch).
    """
    N = W.shape[0]
    h_star = 1.0 + torch.arange(N, dtype=torch.float64) / N
    rnn = nn.RNN(input_size, N, 1, nonlinearity="relu").double()
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(W)
        rnn.weight_ih_l0.zero_()
        rnn.bias_hh_l0.copy_(h_star - W @ h_star)
        rnn.bias_ih_l0.zero_()
    return rnn, h_star.reshape(1, 1, N)


def random_orthogonal(n: int, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    return q * torch.sign(r.diagonal())


def inputs(T: int, B: int, I: int, seed: int = 0, scale: float = 1.0) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(T, B, I, generator=g, dtype=torch.float64)


def seeded(seed: int, build):
    """Build a module under a fixed global seed without disturbing the caller's RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()
