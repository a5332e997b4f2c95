"""The Lyapunov report of one epoch: the spectrum of the model's core on the fixed probe batch."""

from __future__ import annotations

import time

import torch
from torch import Tensor, nn

from hyperprune.contract.trial import LyapunovConfig


def wants_spectrum(cfg: LyapunovConfig, epoch: int) -> bool:
    return cfg.epochs is None or epoch in cfg.epochs


def probe_spectrum(model: nn.Module, probe: Tensor, cfg: LyapunovConfig) -> tuple[list[float], float]:
    """Exponents (descending) and the seconds they took. Runs in eval mode (no dropout) and leaves
    the model's mode as it was."""
    from hyperprune.lyapunov import lyapunov_spectrum

    was_training = model.training
    model.eval()
    start = time.perf_counter()
    try:
        # The models contract (docs/architecture.md): ``core`` and ``core_inputs(x)``.
        with torch.no_grad():
            inputs = getattr(model, "core_inputs")(probe)
        exponents = lyapunov_spectrum(
            model.get_submodule("core"),
            inputs,
            k=cfg.k,
            warmup=cfg.warmup,
            state=cfg.state,
            dtype=getattr(torch, cfg.dtype),
        )
    finally:
        model.train(was_training)
    values = exponents.tolist() if isinstance(exponents, Tensor) else list(exponents)
    return [float(v) for v in values], time.perf_counter() - start
