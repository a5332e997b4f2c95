"""Distance between Lyapunov spectra: L2 over all exponents, as published (Zheng & Shlizerman).

d_e(p) = || lambda_pruned(e) - lambda_dense(e) ||_2, against the dense model trained with the same recipe,
at the same epoch. No other distance is offered: none has shown it predicts the final metric better.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


class SpectrumMismatch(ValueError):
    """Two spectra of different lengths: different models, or a different lyapunov.k."""


def mismatch_message(spectrum: np.ndarray, reference: np.ndarray) -> str:
    return (
        f"a spectrum of {spectrum.size} exponents cannot be compared with the dense reference's "
        f"{reference.size}; every trial must use the same model size and lyapunov.k"
    )


def ls_distance(spectrum: np.ndarray, reference: np.ndarray) -> float:
    """L2 distance; inf when either has a non-finite exponent (a diverged or broken probe)."""
    if spectrum.shape != reference.shape:
        raise SpectrumMismatch(mismatch_message(spectrum, reference))
    diff = spectrum - reference
    d = math.sqrt(float(np.dot(diff, diff)))  # NaN or inf anywhere makes d NaN or inf
    return d if math.isfinite(d) else math.inf


def ls_distances(spectra: Sequence[np.ndarray], reference: np.ndarray) -> np.ndarray:
    """Distances of many spectra to one reference.

    Each distance is one BLAS dot product over the exponents, through one reused buffer. Stacking the
    spectra into a matrix first would copy them all (24 MB for 1,000 x 3,000 exponents) and measured
    slower."""
    out = np.empty(len(spectra), dtype=np.float64)
    diff = np.empty_like(reference, dtype=np.float64)
    for i, spectrum in enumerate(spectra):
        if spectrum.shape != reference.shape:
            ls_distance(spectrum, reference)  # raises SpectrumMismatch with the message
        np.subtract(spectrum, reference, out=diff)
        out[i] = math.sqrt(float(np.dot(diff, diff)))
    out[~np.isfinite(out)] = math.inf
    return out
