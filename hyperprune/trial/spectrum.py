"""The Lyapunov report of one epoch: the spectrum of the model's recurrent layers on the fixed probe
batch, driven by the inputs they receive in the model's own forward (``hyperprune.lyapunov.capture``).
For a built-in model that is its core, fed the probe's embeddings (or features), as before."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from hyperprune.contract.trial import LyapunovConfig, TrialConfig
from hyperprune.models.recurrent import RecurrentLayer


def wants_spectrum(cfg: LyapunovConfig, epoch: int) -> bool:
    return cfg.epochs is None or epoch in cfg.epochs


def spectrum_epochs(config: TrialConfig) -> bool:
    """Whether the trial computes a spectrum at any epoch."""
    return config.lyapunov.epochs is None or bool(config.lyapunov.epochs)


def capture_probe(model: nn.Module, probe: Callable[[nn.Module], Any], layers: list[RecurrentLayer], cfg: LyapunovConfig) -> None:
    """Before training: the probe forward drives every layer as the spectrum needs (``CaptureError``
    names the layer otherwise), and ``k`` fits the layers' state."""
    from hyperprune.lyapunov import capture_inputs, check_probe

    captured = capture_inputs(model, probe, layers)
    check_probe(captured, steps=cfg.warmup + cfg.probe_length, batch=cfg.batch, k=cfg.k, state=cfg.state)


def probe_spectrum(
    model: nn.Module, probe: Callable[[nn.Module], Any], layers: list[RecurrentLayer], cfg: LyapunovConfig
) -> tuple[list[float], float]:
    """Exponents (descending) and the seconds they took. Runs in eval mode (no dropout) and leaves
    the model's mode as it was."""
    from hyperprune.lyapunov import capture_inputs, model_spectrum

    start = time.perf_counter()
    captured = capture_inputs(model, probe, layers)
    spectrum = model_spectrum(
        captured,
        steps=cfg.warmup + cfg.probe_length,
        batch=cfg.batch,
        k=cfg.k,
        warmup=cfg.warmup,
        state=cfg.state,
        dtype=getattr(torch, cfg.dtype),
    )
    return spectrum.exponents, time.perf_counter() - start
