"""(1) Linear recurrent maps with known spectra, through real modules; (5) top-k; published scaling."""

from __future__ import annotations

import math

import pytest
import torch

from hyperprune.lyapunov import lyapunov_result, lyapunov_spectrum

from .helpers import LinearCell, inputs, random_orthogonal, relu_fixed_point_rnn

B = 3


def spectrum_of(W, *, T=20, warmup=5, k=None, **kw):
    rnn, h_star = relu_fixed_point_rnn(W)
    h0 = h_star.expand(1, B, W.shape[0]).contiguous()
    return lyapunov_spectrum(rnn, inputs(T, B, 2), h0=h0, warmup=warmup, k=k, dtype=torch.float64, **kw)


def test_fixed_point_construction_really_is_linear():
    # Guard for the helper: the state must stay at h* and every unit stay active.
    W = torch.diag(torch.tensor([0.9, -0.5, 1.2], dtype=torch.float64))
    rnn, h_star = relu_fixed_point_rnn(W)
    out, _ = rnn(inputs(7, 1, 2), h_star)
    assert torch.allclose(out, h_star.expand(7, 1, 3), atol=1e-12)


def test_diagonal_map_gives_log_abs_diagonal():
    d = torch.tensor([0.9, -0.5, 1.2, 0.3, -2.0], dtype=torch.float64)
    lam = spectrum_of(torch.diag(d))
    expected = torch.sort(d.abs().log(), descending=True).values
    assert torch.allclose(lam, expected, atol=1e-12, rtol=0)


def test_upper_triangular_map_is_exact_at_every_step():
    g = torch.Generator().manual_seed(1)
    W = torch.triu(torch.randn(6, 6, generator=g, dtype=torch.float64))
    W.diagonal().copy_(torch.tensor([1.5, -0.8, 0.6, 0.4, -0.2, 0.1], dtype=torch.float64))
    # Starting from the identity, J Q = W is already triangular: R_ii = |W_ii| at every step, even
    # without warm-up and over a single averaged step.
    lam = spectrum_of(W, T=1, warmup=0)
    expected = torch.sort(W.diagonal().abs().log(), descending=True).values
    assert torch.allclose(lam, expected, atol=1e-12, rtol=0)


def test_lower_triangular_map_converges_to_eigenvalue_moduli():
    g = torch.Generator().manual_seed(2)
    W = torch.tril(torch.randn(5, 5, generator=g, dtype=torch.float64))
    # Eigenvalues inside the unit circle: the fixed point the relu construction sits on must be
    # stable over 100 steps (an expanding one would amplify rounding until relu clips).
    diag = torch.tensor([0.1, -0.8, 0.4, 0.2, -0.05], dtype=torch.float64)
    W.diagonal().copy_(diag)
    # The QR iteration converges to the Schur form at rate max |λ_{i+1}/λ_i| = 1/2 per step; after
    # 80 warm-up steps the diagonal of R is |λ_i| to machine precision.
    lam = spectrum_of(W, T=100, warmup=80)
    expected = torch.sort(diag.abs().log(), descending=True).values
    assert torch.allclose(lam, expected, atol=1e-9, rtol=0)


@pytest.mark.parametrize("scale", [1.0, 0.7, 1.3])
def test_scaled_orthogonal_map_has_a_flat_spectrum(scale):
    W = scale * random_orthogonal(7, seed=3)
    lam = spectrum_of(W, T=12, warmup=2)
    assert torch.allclose(lam, torch.full((7,), math.log(scale), dtype=torch.float64), atol=1e-12, rtol=0)


def test_scaled_orthogonal_any_k():
    W = 0.6 * random_orthogonal(8, seed=4)
    lam = spectrum_of(W, k=3)
    assert lam.shape == (3,)
    assert torch.allclose(lam, torch.full((3,), math.log(0.6), dtype=torch.float64), atol=1e-12, rtol=0)


def test_published_convention_uses_log2():
    W = 1.7 * random_orthogonal(6, seed=5)
    lam = spectrum_of(W, convention="published")
    assert torch.allclose(lam, torch.full((6,), math.log2(1.7), dtype=torch.float64), atol=1e-12, rtol=0)


def test_published_convention_multiplies_by_the_transposed_jacobian():
    g = torch.Generator().manual_seed(6)
    W = torch.randn(6, 6, generator=g, dtype=torch.float64) * 0.5 + torch.triu(torch.ones(6, 6, dtype=torch.float64), 1)
    # Short run: finite-time exponents of a non-normal W and of W^T differ, so this tells J from J^T.
    published = spectrum_of(W, T=3, warmup=0, convention="published")
    natural_of_transpose = spectrum_of(W.t().contiguous(), T=3, warmup=0)
    natural = spectrum_of(W, T=3, warmup=0)
    assert torch.allclose(published, natural_of_transpose / math.log(2.0), atol=1e-12, rtol=0)
    assert (natural / math.log(2.0) - published).abs().max() > 1e-3


def test_top_k_finds_the_leading_directions_not_the_first_coordinates(linear_cell):
    # span(e1, e2) is invariant under this map; starting from the first k identity columns would
    # report log 0.2 twice. A random orthonormal start aligns with the top-2 directions (at rate
    # 0.5/0.95 per step, so 50 warm-up steps leave ~1e-14).
    A = torch.diag(torch.tensor([0.2, 0.2, 0.5, 0.95, 0.1], dtype=torch.float64))
    cell = LinearCell(A)
    lam = lyapunov_spectrum(cell, inputs(60, 2, 2), k=2, warmup=50, dtype=torch.float64)
    assert torch.allclose(lam, torch.tensor([math.log(0.95), math.log(0.5)], dtype=torch.float64), atol=1e-9, rtol=0)
    full = lyapunov_spectrum(cell, inputs(60, 2, 2), warmup=50, dtype=torch.float64)
    assert torch.allclose(lam, full[:2], atol=1e-9, rtol=0)
    # The published convention starts from the identity columns, as the public code does, and so
    # stays in the invariant slow subspace: this is the failure the random start avoids.
    pub = lyapunov_spectrum(cell, inputs(60, 2, 2), k=2, warmup=50, dtype=torch.float64, convention="published")
    assert torch.allclose(pub, torch.full((2,), math.log2(0.2), dtype=torch.float64), atol=1e-9, rtol=0)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_of_a_real_lstm_matches_the_full_spectrum(k):
    torch.manual_seed(7)
    lstm = torch.nn.LSTM(3, 5, 2).double()
    x = inputs(160, 2, 3, seed=8)
    full = lyapunov_result(lstm, x, warmup=120, dtype=torch.float64).per_sequence
    top = lyapunov_result(lstm, x, warmup=120, k=k, dtype=torch.float64).per_sequence
    # A random k-dimensional start and the full basis converge to the same leading subspace during
    # the warm-up; what remains decays like exp(-(λ_k - λ_k+1)·warmup) (measured: 1e-7, 2e-6,
    # 7e-6 for k = 1, 2, 3, while a 60-step warm-up leaves 2e-5, 1e-4, 2e-3).
    assert torch.allclose(top, full[:, :k], atol=2e-5, rtol=0)


def test_singular_map_is_floored_at_the_step_resolution(linear_cell):
    # A = diag(2, 1, 0): the third direction is annihilated; its exponent would be -inf. It is
    # floored at eps·sqrt(N)·max|Z_ij| = eps·sqrt(3)·2 per step (see engine.resolution_floor).
    A = torch.diag(torch.tensor([2.0, 1.0, 0.0], dtype=torch.float64))
    lam = lyapunov_spectrum(LinearCell(A), inputs(8, 2, 2), warmup=2, dtype=torch.float64)
    eps = torch.finfo(torch.float64).eps
    expected = torch.tensor([math.log(2.0), 0.0, math.log(2.0 * math.sqrt(3) * eps)], dtype=torch.float64)
    assert torch.allclose(lam, expected, atol=1e-12, rtol=0)
    assert torch.isfinite(lam).all()
