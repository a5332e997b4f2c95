"""Measuring what a model costs to keep and to run: ``measure(model, compact, device) -> Efficiency``.

Counts, sizes and FLOPs come from the export (``hyperprune.deploy.compact``; their definitions are
in ``hyperprune.contract.efficiency``). Timings run each kernel the model can use on ``device``:

- the dense reference (no masks): ``dense``;
- a masked model: ``dense-with-zeros`` (torch's recurrent kernel on the masked weights), and
  ``smaller-dense`` for an ISS export or ``torch-sparse-csr`` for unstructured masks (torch cores).

A timing is the median of repeated forward passes (after one warm-up) over random inputs of
``STEPS`` time steps, at batch 1 (latency per step) and at batch ``THROUGHPUT_BATCH`` (tokens per
second), in eval mode without gradients; CUDA is synchronised around every pass. Each measurement
repeats at least ``MIN_REPEATS`` times and stops after ``budget_seconds`` (or ``MAX_REPEATS``), so a
trial spends about a second per kernel on it. Run ``benchmarks/inference.py`` for careful numbers.
"""

from __future__ import annotations

import io
import statistics
import time
from typing import Callable

import torch
from torch import Tensor, nn

from hyperprune.contract.efficiency import Efficiency, Kernel, KernelTiming
from hyperprune.deploy.compact import Compact
from hyperprune.deploy.kernels import sparse_variant, supports_sparse

STEPS = 35
THROUGHPUT_BATCH = 32
MIN_REPEATS = 3
MAX_REPEATS = 50
BUDGET_SECONDS = 0.25


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def _same_key(tensor: Tensor) -> tuple[int, tuple[int, ...]]:
    return (tensor.data_ptr() if tensor.numel() else id(tensor), tuple(tensor.shape))


def unique_tensors(state: dict[str, Tensor]) -> list[Tensor]:
    """The tensors of a state dict, a tensor shared under two names (tied weights) once."""
    seen: set[tuple[int, tuple[int, ...]]] = set()
    out = []
    for tensor in state.values():
        key = _same_key(tensor)
        if key not in seen:
            seen.add(key)
            out.append(tensor)
    return out


def cpu_state(model: nn.Module) -> dict[str, Tensor]:
    """The model's state dict on the CPU, tensors shared under two names still shared (so tied
    weights are counted and saved once wherever the model lives)."""
    copies: dict[tuple[int, tuple[int, ...]], Tensor] = {}
    out = {}
    for name, tensor in model.state_dict().items():
        key = _same_key(tensor)
        if key not in copies:
            copies[key] = tensor.detach().cpu()
        out[name] = copies[key]
    return out


def state_bytes(state: dict[str, Tensor]) -> int:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return len(buffer.getvalue())


def step_flops(state: dict[str, Tensor], *, nonzero: bool) -> int:
    """Multiply-adds x 2 of the core's and the decoder's weights plus one per bias, for one time step
    of one sequence (the embedding is a lookup; a classifier's head runs once per sequence)."""
    total = 0
    for name, tensor in state.items():
        if not (name.startswith("core.") or name.startswith("decoder.")):
            continue
        count = int(torch.count_nonzero(tensor)) if nonzero else tensor.numel()
        total += count if tensor.dim() == 1 else 2 * count
    return total


def measure(
    model: nn.Module,
    compact: Compact,
    device: torch.device,
    *,
    masked: bool,
    timing: bool = True,
    budget_seconds: float = BUDGET_SECONDS,
) -> Efficiency:
    """The efficiency of ``model`` (its masks already applied) exported as ``compact``. ``masked``:
    the model was pruned (False for the dense reference)."""
    dense_state = cpu_state(model)
    exported = compact.state_dict()
    timings = time_kernels(model, compact, device, masked=masked, budget_seconds=budget_seconds) if timing else []
    return Efficiency(
        device=device_name(device),
        parameters=sum(t.numel() for t in unique_tensors(dense_state)),
        nonzero_parameters=sum(int(torch.count_nonzero(t)) for t in unique_tensors(exported)),
        hidden_sizes=compact.hidden_sizes,
        dense_bytes=state_bytes(dense_state),
        export_bytes=len(compact.to_bytes()),
        export_format=compact.format,
        dense_flops_per_step=step_flops(dense_state, nonzero=False),
        flops_per_step=step_flops(exported, nonzero=True),
        timings=timings,
    )


def kernels_of(model: nn.Module, compact: Compact, device: torch.device, *, masked: bool) -> list[tuple[Kernel, nn.Module]]:
    """The kernels the model can run with, each as a module called like the model."""
    if not masked:
        return [("dense", model)]
    out: list[tuple[Kernel, nn.Module]] = [("dense-with-zeros", model)]
    if compact.format == "smaller-dense":
        out.append(("smaller-dense", compact.module().to(device)))
    elif supports_sparse(model):
        out.append(("torch-sparse-csr", sparse_variant(model)))
    return out


def time_kernels(
    model: nn.Module, compact: Compact, device: torch.device, *, masked: bool, budget_seconds: float = BUDGET_SECONDS,
    steps: int = STEPS, batch: int = THROUGHPUT_BATCH, min_repeats: int = MIN_REPEATS, max_repeats: int = MAX_REPEATS,
) -> list[KernelTiming]:
    was_training = model.training
    model.eval()
    try:
        out = []
        for kernel, module in kernels_of(model, compact, device, masked=masked):
            module.eval()
            latency, reps_1 = _median_seconds(_forward(module, _inputs(model, compact, steps, 1, device)), device,
                                              budget_seconds, min_repeats, max_repeats)
            wide, reps_b = _median_seconds(_forward(module, _inputs(model, compact, steps, batch, device)), device,
                                           budget_seconds, min_repeats, max_repeats)
            out.append(KernelTiming(kernel=kernel, latency_ms=1000 * latency / steps, tokens_per_second=steps * batch / wide,
                                    batch=batch, steps=steps, repeats=min(reps_1, reps_b)))
        return out
    finally:
        model.train(was_training)


def _inputs(model: nn.Module, compact: Compact, steps: int, batch: int, device: torch.device) -> Tensor:
    gen = torch.Generator().manual_seed(steps * 1000 + batch)
    arch = compact.architecture
    if arch["task"] == "language_model":
        return torch.randint(0, arch["vocabSize"], (steps, batch), generator=gen).to(device)
    return torch.randn(steps, batch, arch["inputSize"], generator=gen).to(device)


def _forward(module: nn.Module, x: Tensor) -> Callable[[], object]:
    def run() -> object:
        with torch.no_grad():
            return module(x)

    return run


def _median_seconds(fn: Callable[[], object], device: torch.device, budget: float, least: int, most: int
                    ) -> tuple[float, int]:
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()  # warm-up: allocations, cuDNN plans, lazy initialisation
    sync()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < least or (len(times) < most and time.perf_counter() - started < budget):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times)
