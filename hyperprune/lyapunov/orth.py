"""Orthonormalisation of the propagated directions: Z = Q R with diag(R) > 0, batched.

Directions are rows: ``P`` [B, k, N] holds Z^T for each sequence. Both methods return the new
directions in the same layout and |diag R| [B, k] (the sign fix makes diag R positive, so |R_ii| is
what enters the exponents).

``householder``  (default) ``torch.linalg.qr`` (LAPACK/cuSOLVER geqrf + orgqr): backward stable column by
                 column for any Z, including rank-deficient ones. Most of its time goes to the
                 panel factorisations and to forming Q (orgqr), which run far below GEMM speed.
``bcgs2``        (opt-in) block classical Gram-Schmidt with reorthogonalisation (Barlow & Smoktunowicz 2013,
                 "Reorthogonalized block classical Gram-Schmidt", Numer. Math. 123) over panels of
                 ``panel`` columns, each panel factorised by Householder QR. About 4·N·k² flops per
                 matrix (vs 4·N·k² - 4k³/3 for householder) but nearly all of it in large GEMMs.
                 Correctness: panel j is projected against the already orthonormal Q_<j twice
                 (W = A_j - Q_<j Q_<j^T A_j; Q1 R1 = qr(W); W2 = Q1 - Q_<j Q_<j^T Q1; Q2 R2 = qr(W2));
                 then A_j = Q_<j S + Q2 (R2 R1) exactly in exact arithmetic, so R_jj = R2 R1 and
                 diag(R_jj) = diag(R2) ⊙ diag(R1), which is what is returned. Twice is enough: the
                 second pass starts from the orthonormal Q1 (condition 1), so after it Q2 is
                 orthogonal to Q_<j to working precision whenever the first pass left any component
                 outside span(Q_<j) (the theorem's condition, κ(A) ε < 1, in its normwise form); the
                 errors in R are column-wise relative (each column of A is projected independently),
                 as with Householder. A direction that is annihilated exactly (R_ii = 0, e.g. a unit
                 whose outgoing weights are all pruned) gets an arbitrary unit vector from the panel
                 QR; the second pass projects it against Q_<j like any other column.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

Method = Literal["auto", "householder", "bcgs2"]

DEFAULT_PANEL = 64


def _signed(q_rows: Tensor, d: Tensor) -> tuple[Tensor, Tensor]:
    """Flip rows so that the corresponding R diagonal is >= 0; return (rows, |d|)."""
    sign = torch.where(d < 0, -1.0, 1.0).to(q_rows.dtype)
    return q_rows * sign.unsqueeze(-1), d.abs()


def householder(P: Tensor) -> tuple[Tensor, Tensor]:
    q, r = torch.linalg.qr(P.mT)  # [B, N, k], [B, k, k]
    return _signed(q.mT, r.diagonal(dim1=-2, dim2=-1))


def householder_flops(B: int, N: int, k: int) -> int:
    # geqrf and orgqr of an N x k matrix: 2Nk^2 - 2k^3/3 each (LAPACK Working Note 41 counts).
    return B * 2 * (2 * N * k * k - (2 * k**3) // 3)


def bcgs2(P: Tensor, panel: int | None = None) -> tuple[Tensor, Tensor]:
    panel = panel or DEFAULT_PANEL
    B, k, N = P.shape
    Q = torch.empty_like(P)
    diag = P.new_empty(B, k)
    for s in range(0, k, panel):
        e = min(s + panel, k)
        A = P[:, s:e, :]
        if s == 0:
            q1, r1 = torch.linalg.qr(A.mT)
            rows, d = q1.mT, r1.diagonal(dim1=-2, dim2=-1)
        else:
            Qp = Q[:, :s, :]
            W = A - torch.bmm(torch.bmm(A, Qp.mT), Qp)
            q1, r1 = torch.linalg.qr(W.mT)
            W2 = q1.mT - torch.bmm(torch.bmm(q1.mT, Qp.mT), Qp)
            q2, r2 = torch.linalg.qr(W2.mT)
            rows = q2.mT
            d = r2.diagonal(dim1=-2, dim2=-1) * r1.diagonal(dim1=-2, dim2=-1)
        Q[:, s:e, :], diag[:, s:e] = _signed(rows, d)
    return Q, diag


def bcgs2_flops(B: int, N: int, k: int, panel: int | None = None) -> int:
    panel = panel or DEFAULT_PANEL
    total = 0
    for s in range(0, k, panel):
        b = min(panel, k - s)
        qr = 2 * (2 * N * b * b - (2 * b**3) // 3)
        if s == 0:
            total += qr
        else:
            total += 2 * (2 * (2 * b * s * N)) + 2 * qr
    return B * total


def choose(method: Method, N: int, k: int, device: torch.device) -> Literal["householder", "bcgs2"]:
    if method != "auto":
        return method
    # Measured on the development CPU (1 thread, float64, 8 x 1024 x 1024): householder 0.81 s,
    # bcgs2 0.96 s (panel 64; 1.02 s at 32, 1.52 s at 128). bcgs2 runs at GEMM peak but does 50%
    # more flops than LAPACK's blocked Householder, so Householder (also the more robust of the
    # two for rank-deficient Z) is the default everywhere.
    return "householder"


def orthonormalize(P: Tensor, method: Literal["householder", "bcgs2"]) -> tuple[Tensor, Tensor]:
    return bcgs2(P) if method == "bcgs2" else householder(P)


def flops(method: Literal["householder", "bcgs2"], B: int, N: int, k: int) -> int:
    return bcgs2_flops(B, N, k) if method == "bcgs2" else householder_flops(B, N, k)
