"""What a pruned model saves, measured: sizes, compute and speed of the exported model. Part of the contract.

A trial measures its model at the epochs ``TrialConfig.efficiency`` asks for (always the last one) and
puts an ``Efficiency`` in that epoch's report; the policy reads costs from it (``cost``), the engines
and the report show it beside the dense reference's own measurement.

- counts and sizes are of the model as exported (``DIR/model/compact``, ``hyperprune.deploy``): an ISS
  winner is a smaller dense network (fewer hidden units), an unstructured one its nonzero weights
  with packed masks, the dense reference its plain weights;
- FLOPs are multiply-adds x 2 of the weight matrices plus one per bias, for one time step of one
  sequence (core, and the decoder of a language model; activations and embedding lookups not
  counted): ``dense_flops_per_step`` for the unpruned architecture, ``flops_per_step`` counting only
  nonzero weights (what a kernel that skips zeros would do);
- timings name the kernel: ``dense`` (the dense reference), ``dense-with-zeros`` (the masked model in
  torch's own recurrent kernel, zeros multiplied like any weight), ``torch-sparse-csr`` (the recurrent
  matrices as torch CSR tensors, one sparse product per step), ``smaller-dense`` (the ISS export in
  torch's recurrent kernel). Latency is per time step at batch 1; throughput in tokens (time steps of
  one sequence) per second at a larger batch; on the trial's device with its thread count.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt

from hyperprune.contract.document import Model

Kernel = Literal["dense", "dense-with-zeros", "torch-sparse-csr", "smaller-dense"]
ExportFormat = Literal["dense", "packed-mask", "smaller-dense"]
CostName = Literal["nonzero-params", "bytes", "latency"]
COST_NAMES: tuple[CostName, ...] = ("nonzero-params", "bytes", "latency")
COST_HELP: dict[CostName, str] = {
    "nonzero-params": "nonzero parameters of the exported model",
    "bytes": "bytes of the exported model's weights file",
    "latency": "measured latency per time step (ms, batch 1) with the fastest kernel",
}


class EfficiencyConfig(Model):
    """When a trial measures its model (it always does after its last epoch)."""

    epochs: list[PositiveInt] = Field(
        default_factory=list,
        description="epochs besides the last at which to measure (a search ranking by cost asks for its rungs)",
    )
    timing: bool = Field(True, description="time the kernels (latency, throughput); false: counts and sizes only")


class KernelTiming(Model):
    kernel: Kernel
    latency_ms: float = Field(ge=0.0, description="milliseconds per time step at batch 1 (median of the repeats)")
    tokens_per_second: float = Field(ge=0.0, description="time steps of one sequence per second at batch `batch`")
    batch: PositiveInt
    steps: PositiveInt = Field(description="time steps of the timed sequences")
    repeats: PositiveInt = Field(description="timed runs the medians are over")


class Efficiency(Model):
    device: str = Field(description="where the timings ran, e.g. cpu (4 threads) or cuda:0 (NVIDIA H200)")
    parameters: NonNegativeInt = Field(description="parameters of the unpruned architecture (tied weights once)")
    nonzero_parameters: NonNegativeInt = Field(description="nonzero parameters of the exported model")
    hidden_sizes: list[PositiveInt] = Field(description="hidden units per recurrent layer as exported")
    dense_bytes: NonNegativeInt = Field(description="bytes of the weights as a plain dense state dict")
    export_bytes: NonNegativeInt = Field(description="bytes of the exported weights file")
    export_format: ExportFormat
    dense_flops_per_step: NonNegativeInt
    flops_per_step: NonNegativeInt = Field(description="counting nonzero weights only")
    timings: list[KernelTiming] = Field(default_factory=list)

    def fastest(self) -> KernelTiming | None:
        """The kernel with the lowest latency (ties: the first measured)."""
        return min(self.timings, key=lambda t: t.latency_ms, default=None)

    def cost(self, name: CostName) -> float | None:
        """The cost a search ranks by (lower is better); None when not measured (no timing)."""
        if name == "nonzero-params":
            return float(self.nonzero_parameters)
        if name == "bytes":
            return float(self.export_bytes)
        fastest = self.fastest()
        return None if fastest is None else fastest.latency_ms


class Savings(Model):
    """What the winner saves against the dense reference: ratios winner / dense (below 1 is a
    saving) and speedups dense / winner (above 1 is faster; below 1 says sparsity made it slower)."""

    nonzero_parameters: float = Field(ge=0.0, description="winner's nonzero parameters / dense's")
    export_bytes: float = Field(ge=0.0, description="winner's exported weights file / dense's")
    flops_per_step: float = Field(ge=0.0, description="winner's nonzero FLOPs per step / dense's")
    speedup: float | None = Field(None, description="dense latency / the winner's with its fastest kernel")
    kernel: Kernel | None = Field(None, description="the winner's fastest kernel")
    throughput_gain: float | None = Field(None, description="the winner's tokens per second (fastest kernel) / dense's")


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def savings(winner: Efficiency, dense: Efficiency) -> Savings:
    """The winner measured against the dense reference's own measurement."""
    fastest, reference = winner.fastest(), dense.fastest()
    speedup = gain = None
    if fastest is not None and reference is not None and fastest.latency_ms > 0 and reference.tokens_per_second > 0:
        speedup = reference.latency_ms / fastest.latency_ms
        gain = fastest.tokens_per_second / reference.tokens_per_second
    return Savings(
        nonzero_parameters=_ratio(winner.nonzero_parameters, dense.nonzero_parameters),
        export_bytes=_ratio(winner.export_bytes, dense.export_bytes),
        flops_per_step=_ratio(winner.flops_per_step, dense.flops_per_step),
        speedup=speedup,
        kernel=None if fastest is None else fastest.kernel,
        throughput_gain=gain,
    )


def _size(n: float, unit: str = "") -> str:
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= factor:
            return f"{n / factor:.3g} {suffix}{unit}"
    return f"{n:.3g} {unit}".rstrip()


def savings_lines(winner: Efficiency, dense: Efficiency | None) -> list[str]:
    """What the winner saves, in words (the run summary and the report): its sizes and FLOPs against
    the dense reference's, and whether it runs faster, naming the kernel and the device; a slower
    sparse model is called slower."""
    reference = dense or winner
    lines = [
        f"exported as {winner.export_format} (hidden {'x'.join(map(str, winner.hidden_sizes))}): "
        f"{_size(winner.nonzero_parameters)} nonzero parameters of {_size(reference.nonzero_parameters)}, "
        f"{_size(winner.export_bytes, 'B')} on disk vs {_size(reference.export_bytes, 'B')} dense, "
        f"{_size(winner.flops_per_step, 'FLOP')} per step vs {_size(reference.dense_flops_per_step, 'FLOP')}"
    ]
    if dense is None:
        return lines
    saved = savings(winner, dense)
    fastest, base = winner.fastest(), dense.fastest()
    if saved.speedup is not None and fastest is not None and base is not None:
        verdict = "faster" if saved.speedup > 1.05 else "slower" if saved.speedup < 0.95 else "no faster"
        lines.append(
            f"latency {fastest.latency_ms:.3g} ms/step with {fastest.kernel} vs {base.latency_ms:.3g} dense "
            f"({saved.speedup:.2f}x, {verdict}) on {winner.device}; throughput x{saved.throughput_gain:.2f}"
        )
    return lines
