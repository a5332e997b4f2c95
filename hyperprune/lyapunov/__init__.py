"""Lyapunov spectrum (LS) engine: exact, batched tangent maps of RNN, GRU, LSTM, stacked and RHN cores.

Public API:

- :func:`lyapunov_spectrum` (model, inputs[T, B, I], *, k, warmup, qr_interval, state, h0, convention,
  dtype, seed) -> 1-D tensor, descending, natural log per step, averaged over the batch.
- :func:`lyapunov_result` -> :class:`LyapunovResult` with per-sequence spectra, std and flop counts.
- :func:`register_cell` -> add a module type (see :mod:`hyperprune.lyapunov.cells`).
- :func:`capture_inputs` + :func:`model_spectrum`: the spectrum of any model's recurrent layers,
  driven by the inputs they receive in the model's own forward (see :mod:`hyperprune.lyapunov.capture`).
- :mod:`hyperprune.lyapunov.reference`: an independent, slow implementation from full autograd
  Jacobians, for tests and benchmarks.

Conventions and measured figures: docs/lyapunov.md.
"""

from hyperprune.lyapunov.capture import CaptureError, LayerInputs, ModelSpectrum, capture_inputs, check_probe, model_spectrum
from hyperprune.lyapunov.cells import Network, register_cell, supported_types, unregister_cell
from hyperprune.lyapunov.engine import (
    LOG_R_FLOOR,
    resolution_floor,
    LyapunovResult,
    initial_directions,
    lyapunov_result,
    lyapunov_spectrum,
)

__all__ = [
    "CaptureError",
    "LayerInputs",
    "ModelSpectrum",
    "capture_inputs",
    "check_probe",
    "model_spectrum",
    "LOG_R_FLOOR",
    "LyapunovResult",
    "Network",
    "initial_directions",
    "lyapunov_result",
    "lyapunov_spectrum",
    "register_cell",
    "resolution_floor",
    "supported_types",
    "unregister_cell",
]
