"""(4) permutation invariance, (6) pruning, masks, dtype and qr_interval agreement, orthonormalisation."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from hyperprune.lyapunov import LOG_R_FLOOR, lyapunov_result, lyapunov_spectrum, orth
from hyperprune.models.rhn import RHN

from .helpers import inputs, seeded

DT = torch.float64


def _gate_rows(perm: torch.Tensor, gates: int) -> torch.Tensor:
    H = perm.numel()
    return torch.cat([g * H + perm for g in range(gates)])


def _permute_torch_rnn(module: nn.RNNBase, gates: int, perms: list[torch.Tensor]) -> nn.RNNBase:
    out = copy.deepcopy(module)
    with torch.no_grad():
        for l, perm in enumerate(perms):
            rows = _gate_rows(perm, gates)
            w_ih = getattr(out, f"weight_ih_l{l}")
            w_hh = getattr(out, f"weight_hh_l{l}")
            new_ih = w_ih[rows]
            if l > 0:
                new_ih = new_ih[:, perms[l - 1]]  # layer l reads layer l-1's permuted units
            w_ih.copy_(new_ih)
            w_hh.copy_(w_hh[rows][:, perm])
            for b in ("bias_ih", "bias_hh"):
                p = getattr(out, f"{b}_l{l}")
                p.copy_(p[rows])
    return out


# Finite-time exponents depend on the starting basis (QR orthonormalises in column order), and the
# permuted model started from the same basis is the original started from a permuted basis. So the
# invariance is checked where it is exact -- the sum of all N exponents is the mean log|det J_t|,
# which a permutation similarity leaves unchanged at every step -- and, for the leading
# exponents, after a warm-up long enough for any start to align with the leading directions.


@pytest.mark.parametrize("kind,gates", [("lstm", 4), ("gru", 3), ("rnn", 1)])
def test_permuting_hidden_units_leaves_the_spectrum_unchanged(kind, gates):
    cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind]
    module = seeded(21, lambda: cls(3, 6, 2).double())
    g = torch.Generator().manual_seed(1)
    perms = [torch.randperm(6, generator=g), torch.randperm(6, generator=g)]
    permuted = _permute_torch_rnn(module, gates, perms)
    x = inputs(16, 2, 3, seed=2)
    a = lyapunov_result(module, x, warmup=4, dtype=DT)
    b = lyapunov_result(permuted, x, warmup=4, dtype=DT)
    assert torch.allclose(a.per_sequence.sum(1), b.per_sequence.sum(1), atol=1e-10, rtol=0)
    x = inputs(320, 2, 3, seed=2)
    a = lyapunov_result(module, x, k=1, warmup=300, dtype=DT)
    b = lyapunov_result(permuted, x, k=1, warmup=300, dtype=DT)
    # the residual decays like exp(-(λ_1 - λ_2)·300) (measured < 2e-11)
    assert torch.allclose(a.per_sequence, b.per_sequence, atol=1e-9, rtol=0)
    # the permutation really changed the weights (otherwise the test proves nothing)
    assert not torch.equal(module.weight_hh_l0, permuted.weight_hh_l0)


def test_permuting_rhn_units_leaves_the_spectrum_unchanged():
    module = seeded(22, lambda: RHN(3, 6, 3).double())
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(3))
    rows = _gate_rows(perm, 2)
    permuted = copy.deepcopy(module)
    with torch.no_grad():
        permuted.weight_ih.copy_(module.weight_ih[rows])
        for d in range(3):
            getattr(permuted, f"weight_hh_{d}").copy_(getattr(module, f"weight_hh_{d}")[rows][:, perm])
            getattr(permuted, f"bias_{d}").copy_(getattr(module, f"bias_{d}")[rows])
    x = inputs(16, 2, 3, seed=4)
    a = lyapunov_spectrum(module, x, warmup=4, dtype=DT)
    b = lyapunov_spectrum(permuted, x, warmup=4, dtype=DT)
    assert torch.allclose(a.sum(), b.sum(), atol=1e-10, rtol=0)
    x = inputs(320, 2, 3, seed=4)
    a = lyapunov_spectrum(module, x, k=1, warmup=300, dtype=DT)
    b = lyapunov_spectrum(permuted, x, k=1, warmup=300, dtype=DT)
    assert torch.allclose(a, b, atol=1e-9, rtol=0)


def _chaotic_rnn() -> nn.RNN:
    # gain 2.5 random recurrent weights: a tanh RNN near/above the edge of chaos
    def build():
        rnn = nn.RNN(3, 24, 1).double()
        with torch.no_grad():
            rnn.weight_hh_l0.normal_(0.0, 2.5 / math.sqrt(24))
        return rnn

    return seeded(23, build)


def test_magnitude_pruning_the_recurrent_weights_lowers_the_top_exponents():
    dense = _chaotic_rnn()
    x = inputs(40, 3, 3, seed=5)
    lam_dense = lyapunov_spectrum(dense, x, warmup=10, dtype=DT)
    pruned = copy.deepcopy(dense)
    prune.l1_unstructured(pruned, "weight_hh_l0", amount=0.9)
    lam_pruned = lyapunov_spectrum(pruned, x, warmup=10, dtype=DT)
    # Removing 90% of the recurrent weights shrinks the Jacobian: every leading exponent drops.
    assert lam_dense[0] > 0.0
    assert lam_pruned[0] < 0.0  # the chaotic dense network becomes stable
    assert torch.all(lam_pruned[:5] < lam_dense[:5] - 0.1), (lam_dense[:5], lam_pruned[:5])
    # and the sum (mean log-volume contraction) drops too
    assert lam_pruned.sum() < lam_dense.sum()


def test_zero_recurrent_weights_collapse_every_direction_to_the_floor():
    rnn = _chaotic_rnn()
    with torch.no_grad():
        rnn.weight_hh_l0.zero_()
    lam = lyapunov_spectrum(rnn, inputs(12, 2, 3), warmup=2, dtype=DT)
    # J = 0: every |R_ii| is exactly 0 and is floored at the smallest normal float32
    assert torch.allclose(lam, torch.full_like(lam, LOG_R_FLOOR), atol=1e-12, rtol=0)


def test_prune_masks_and_in_place_zeros_give_the_same_spectrum():
    dense = seeded(24, lambda: nn.LSTM(3, 6, 2).double())
    masked = copy.deepcopy(dense)
    prune.l1_unstructured(masked, "weight_hh_l1", amount=0.7)
    zeroed = copy.deepcopy(dense)
    with torch.no_grad():
        zeroed.weight_hh_l1.mul_(masked.weight_hh_l1_mask)
    x = inputs(15, 2, 3, seed=6)
    a = lyapunov_result(masked, x, warmup=3, dtype=DT).per_sequence
    b = lyapunov_result(zeroed, x, warmup=3, dtype=DT).per_sequence
    c = lyapunov_result(dense, x, warmup=3, dtype=DT).per_sequence
    assert torch.allclose(a, b, atol=1e-12, rtol=0)
    assert (a - c).abs().max() > 1e-3


def test_mask_changed_after_pruning_is_honoured_without_a_forward_call():
    # torch.nn.utils.prune only refreshes module.<name> in its forward pre-hook; a pruner that edits
    # the mask in place leaves that attribute stale until the next forward. The engine reads
    # orig * mask itself.
    model = seeded(25, lambda: nn.GRU(3, 6, 1).double())
    prune.random_unstructured(model, "weight_hh_l0", amount=0.3)
    with torch.no_grad():
        model.weight_hh_l0_mask[:6].zero_()
    expected = copy.deepcopy(seeded(25, lambda: nn.GRU(3, 6, 1).double()))
    with torch.no_grad():
        expected.weight_hh_l0.mul_(model.weight_hh_l0_mask)
    x = inputs(12, 2, 3, seed=7)
    assert torch.allclose(lyapunov_spectrum(model, x, warmup=2, dtype=DT), lyapunov_spectrum(expected, x, warmup=2, dtype=DT), atol=1e-12)


def test_masked_rhn_matrices_are_honoured():
    model = seeded(26, lambda: RHN(3, 6, 2).double())
    zeroed = copy.deepcopy(model)
    prune.l1_unstructured(model, "weight_hh_1", amount=0.5)
    with torch.no_grad():
        zeroed.weight_hh_1.mul_(model.weight_hh_1_mask)
    x = inputs(12, 2, 3, seed=8)
    assert torch.allclose(lyapunov_spectrum(model, x, warmup=2, dtype=DT), lyapunov_spectrum(zeroed, x, warmup=2, dtype=DT), atol=1e-12)


@pytest.mark.parametrize("model_fn", [lambda: nn.LSTM(3, 6, 2), lambda: nn.GRU(3, 6, 2), lambda: RHN(3, 6, 3)])
def test_float32_agrees_with_float64(model_fn):
    model = seeded(27, model_fn)
    x = inputs(25, 3, 3, seed=9).float()
    lam32 = lyapunov_result(model, x, warmup=5, dtype=torch.float32)
    lam64 = lyapunov_result(model, x, warmup=5, dtype=torch.float64)
    assert lam32.exponents.dtype == torch.float32 and lam64.exponents.dtype == torch.float64
    assert torch.allclose(lam32.exponents.double(), lam64.exponents, atol=1e-4, rtol=1e-4)
    # dtype=None follows the model's parameters (float32 here)
    assert lyapunov_spectrum(model, x, warmup=5).dtype == torch.float32


@pytest.mark.parametrize("q", [2, 3, 7])
def test_qr_interval_agrees_with_every_step(q):
    model = seeded(28, lambda: nn.LSTM(3, 6, 2).double())
    x = inputs(30, 2, 3, seed=10)
    every = lyapunov_result(model, x, warmup=6, dtype=DT).per_sequence
    sparse = lyapunov_result(model, x, warmup=6, dtype=DT, qr_interval=q).per_sequence
    # log|diag R| of a product equals the sum over its factors in exact arithmetic. In floating
    # point the error of exponent i grows like eps·exp((λ_1 - λ_i)·q) (measured here: 1e-12 at
    # q = 2, 1e-10 at q = 3, 3e-3 for the last exponent at q = 7, where spread·q ≈ 34 ≈ log(1/eps)).
    # Exponents with spread·q < 15 agree to 1e-8: all of them for q <= 3, half of them at q = 7.
    resolved = (every[:, :1] - every) * q < 15 if q == 7 else torch.ones_like(every, dtype=torch.bool)
    assert resolved.sum() >= every.numel() // 2
    assert torch.allclose(every[resolved], sparse[resolved], atol=1e-8, rtol=0)
    if q == 7:
        assert (every - sparse).abs().max() > 1e-6  # the limit is real, which is why q defaults to 1


def _graded(B, k, N, seed, rank=None):
    g = torch.Generator().manual_seed(seed)
    Z = torch.randn(B, k, N, generator=g, dtype=DT)
    Z = Z * torch.logspace(0, -8, k, dtype=DT).reshape(1, k, 1)  # column norms over 8 decades
    if rank is not None:  # rows beyond `rank` are combinations of earlier ones: exactly singular
        Z[:, rank:] = torch.einsum("bij,bjn->bin", torch.randn(B, k - rank, rank, generator=g, dtype=DT), Z[:, :rank])
    return Z


@pytest.mark.parametrize("rank", [None, 7])
def test_bcgs2_matches_householder(rank):
    Z = _graded(2, 13, 20, seed=11, rank=rank)
    q_h, r_h = orth.householder(Z)
    q_b, r_b = orth.bcgs2(Z, panel=3)
    eye = torch.eye(13, dtype=DT)
    # orthonormal rows; directions beyond the rank are normalised rounding noise, whose two
    # projection passes leave ~1e-12 (measured 8e-13) against earlier panels -- harmless, as the
    # next step's QR starts from them again, but looser than Householder's 1e-15
    tol = 1e-12 if rank is None else 1e-11
    assert torch.allclose(q_b @ q_b.mT, eye.expand(2, 13, 13), atol=tol)
    full_rank = rank or 13
    # R's diagonal agrees (relative) where it is determined; beyond the rank both are rounding noise
    assert torch.allclose(r_b[:, :full_rank], r_h[:, :full_rank], rtol=1e-8, atol=0)
    assert torch.allclose(q_b[:, :full_rank], q_h[:, :full_rank], atol=1e-7)
    if rank is not None:
        assert r_b[:, rank:].max() < 1e-13 and r_h[:, rank:].max() < 1e-13


def test_engine_with_bcgs2_panels_matches_householder(monkeypatch):
    monkeypatch.setattr(orth, "DEFAULT_PANEL", 4)  # several panels on a small state
    model = seeded(29, lambda: nn.LSTM(3, 5, 2).double())
    x = inputs(14, 2, 3, seed=12)
    a = lyapunov_result(model, x, warmup=4, dtype=DT, orthonormalization="householder")
    b = lyapunov_result(model, x, warmup=4, dtype=DT, orthonormalization="bcgs2")
    assert (a.orthonormalization, b.orthonormalization) == ("householder", "bcgs2")
    assert torch.allclose(a.per_sequence, b.per_sequence, atol=1e-10, rtol=0)


def test_result_statistics_and_determinism():
    model = seeded(30, lambda: nn.GRU(3, 6, 1).double())
    x = inputs(14, 4, 3, seed=13)
    r = lyapunov_result(model, x, k=4, warmup=4, dtype=DT, seed=3)
    assert r.per_sequence.shape == (4, 4) and r.exponents.shape == (4,) and r.std.shape == (4,)
    assert torch.all(r.per_sequence[:, :-1] >= r.per_sequence[:, 1:])  # each row descending
    assert torch.allclose(r.exponents, r.per_sequence.mean(0))
    assert torch.allclose(r.std, r.per_sequence.std(0))
    assert (r.steps, r.warmup, r.k, r.n) == (10, 4, 4, 6)
    again = lyapunov_result(model, x, k=4, warmup=4, dtype=DT, seed=3)
    assert torch.equal(r.per_sequence, again.per_sequence)
    one = lyapunov_result(model, x[:, :1], k=4, warmup=4, dtype=DT, seed=3)
    assert torch.equal(one.std, torch.zeros(4, dtype=DT))
    assert torch.allclose(one.per_sequence[0], r.per_sequence[0], atol=1e-12)  # sequences are independent


def test_the_model_is_left_untouched():
    model = seeded(31, lambda: nn.LSTM(3, 5, 2, dropout=0.5))
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = inputs(12, 2, 3).float()
    a = lyapunov_spectrum(model, x, warmup=2, dtype=DT)
    b = lyapunov_spectrum(model, x, warmup=2, dtype=DT)
    assert torch.equal(a, b)  # eval semantics: no dropout even though the module is in train mode
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.dtype == torch.float32 for p in model.parameters())
