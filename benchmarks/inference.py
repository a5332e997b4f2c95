"""What pruning buys at inference: sizes, FLOPs, latency and throughput of pruned models against dense.

For each model (``small``: a 2 x 200 LSTM language model, ``medium``: 2 x 650, both with a 10,000-word
vocabulary as on PTB), each method (``unstructured``: random masks of the target sparsity in every core
matrix, which is what any unstructured method leaves for a kernel to exploit; ``iss``: whole hidden
units removed by the ISS pruner, each layer losing the same share) and each sparsity (0.5, 0.8, 0.9):

- the model is exported (``hyperprune.deploy.compact_export``: packed masks / a smaller dense LSTM) and
  measured (``hyperprune.deploy.measure``): nonzero parameters, bytes of the dense and the exported
  weights file, FLOPs per step counting nonzero weights only;
- every kernel the model can run with is timed on the device: ``dense`` for the dense reference,
  ``dense-with-zeros`` (torch's LSTM on the masked weights), ``torch-sparse-csr`` (the core's matrices
  as CSR tensors) for unstructured masks, ``smaller-dense`` for ISS. Latency per time step at batch 1,
  throughput in tokens per second at batch 32, sequences of 35 steps, medians of repeated runs; the
  dense model is timed again right after each pruned one, and speedups are against that timing.

Sparsity only pays where a kernel can skip the zeros: the dense kernel with zeros costs what dense
costs; torch's CSR products at these sizes are usually slower than the dense kernel (recurrent matrices
are small and the product runs once per step); only removing units (a smaller dense network) makes the
model faster on every device. The FLOPs column says what a perfect sparse kernel would save. With a
10,000-word vocabulary the embedding and the decoder hold most parameters of the small model (4.0 M of
4.65 M), so pruning the core alone shrinks it little. The results file keeps every number and the
machine's load average (timings on a shared machine are noisy); ``verdict`` says per row whether it
ran faster than dense, or that it is too noisy to say (the dense kernel on the masked weights, which
must time like dense, did not).

Run (results in benchmarks/results/inference-<device>.json):

    nice -n 19 .venv/bin/python benchmarks/inference.py [--device cpu|cuda] [--threads N] [--quick]

``--quick``: the small model only, short timing budgets (a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hyperprune.contract.efficiency import Efficiency, savings  # noqa: E402
from hyperprune.contract.pruning import parse_pruning_config  # noqa: E402
from hyperprune.contract.trial import ModelConfig  # noqa: E402
from hyperprune.contract.units import pruned_weight_count  # noqa: E402
from hyperprune.deploy import compact_export, measure  # noqa: E402
from hyperprune.deploy.efficiency import device_name  # noqa: E402
from hyperprune.models import build_model  # noqa: E402
from hyperprune.pruning import build_pruner  # noqa: E402
from hyperprune.pruning.iss import unit_layers  # noqa: E402
from hyperprune.pruning.targets import prunable_matrices, total_weights  # noqa: E402

VOCAB = 10_000
MODELS = {"small": (200, 2), "medium": (650, 2)}
SPARSITIES = (0.5, 0.8, 0.9)
RESULTS = Path(__file__).resolve().parent / "results"
NOISE = 0.2  # how far two timings of the same kernel may differ before a row is called noisy


def build(hidden: int, layers: int) -> torch.nn.Module:
    return build_model(ModelConfig(arch="lstm", hidden_size=hidden, num_layers=layers), vocab_size=VOCAB, seed=0)


def iss_sparsity(model: torch.nn.Module, share: float) -> float:
    """The exact weight sparsity of removing ``share`` of every layer's units (ISS's reachable targets)."""
    matrices = prunable_matrices(model)
    layers = unit_layers(matrices, rhn=False)
    counts = [round(share * layer.hidden) for layer in layers]
    return round(pruned_weight_count(matrices, layers, counts) / total_weights(matrices), 4)


def pruned(hidden: int, layers: int, method: str, sparsity: float) -> tuple[torch.nn.Module, dict[str, torch.Tensor], float]:
    """A model pruned to ``sparsity`` of its core weights by ``method``, its masks and the sparsity reached."""
    model = build(hidden, layers)
    if method == "unstructured":
        config = parse_pruning_config({"method": "random", "sparsity": sparsity})
        pruner = build_pruner(model, config, steps_per_epoch=1, total_epochs=1, seed=0)
        pruner.before_training()
    else:
        # ISS removes whole units; the unit share whose weight sparsity is closest to the target.
        share = min((s / 100 for s in range(1, 100)), key=lambda s: abs(iss_sparsity(model, s) - sparsity))
        config = parse_pruning_config({"method": "iss", "sparsity": iss_sparsity(model, share),
                                       "params": {"pruneEpoch": 1, "groupLasso": 0.0}})
        pruner = build_pruner(model, config, steps_per_epoch=1, total_epochs=2, seed=0)
        pruner.before_training()
        pruner.on_epoch_end(1)
    return model, pruner.masks(), pruner.sparsity()[0]


def row(name: str, method: str, target: float, reached: float, eff: Efficiency, dense: Efficiency) -> dict[str, Any]:
    saved = savings(eff, dense)
    reference = dense.timings[0]  # the dense model timed right after this one
    kernels = {t.kernel: {"latencyMs": t.latency_ms, "tokensPerSecond": t.tokens_per_second,
                          "speedup": reference.latency_ms / t.latency_ms,
                          "throughputGain": t.tokens_per_second / reference.tokens_per_second,
                          "repeats": t.repeats} for t in eff.timings}
    fastest = eff.fastest()
    # dense-with-zeros runs the dense kernel: it should time like dense. When it does not, the machine's
    # load moved between the two timings and no speedup of this row can be trusted.
    control = kernels["dense-with-zeros"]["speedup"]
    if abs(control - 1.0) > NOISE:
        verdict = f"noisy (the dense kernel timed {control:.2f}x itself; rerun on a quiet machine)"
    else:
        verdict = "faster" if saved.speedup and saved.speedup > 1.0 + NOISE else "not faster"
    return {
        "model": name, "method": method, "targetSparsity": target, "sparsity": round(reached, 4),
        "exportFormat": eff.export_format, "hiddenSizes": eff.hidden_sizes,
        "nonzeroParameters": eff.nonzero_parameters, "parameters": eff.parameters,
        "denseBytes": dense.export_bytes, "exportBytes": eff.export_bytes, "bytesRatio": saved.export_bytes,
        "flopsPerStep": eff.flops_per_step, "denseFlopsPerStep": dense.dense_flops_per_step, "flopsRatio": saved.flops_per_step,
        "denseLatencyMs": reference.latency_ms, "denseTokensPerSecond": reference.tokens_per_second,
        "kernels": kernels, "fastestKernel": None if fastest is None else fastest.kernel,
        "speedup": saved.speedup, "throughputGain": saved.throughput_gain, "verdict": verdict,
    }


def print_row(r: dict[str, Any]) -> None:
    timings = f"dense {r['denseLatencyMs']:.3f} ms  " + "  ".join(f"{k} {v['latencyMs']:.3f} ms ({v['speedup']:.2f}x) {v['tokensPerSecond']:.0f} tok/s"
                        for k, v in r["kernels"].items())
    print(f"{r['model']:6s} {r['method']:12s} s={r['sparsity']:.3f} {r['exportFormat']:13s} "
          f"bytes {r['bytesRatio']:.2f} flops {r['flopsRatio']:.2f} | {timings} | {r['verdict']}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--quick", action="store_true", help="the small model only, short timing budgets")
    p.add_argument("--budget", type=float, default=None, help="seconds of timing per kernel and batch size")
    p.add_argument("--out", type=Path, default=None, help="results JSON (default results/inference-<device>.json)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: CUDA is not available here")
    device = torch.device(args.device)
    budget = args.budget if args.budget is not None else (0.3 if args.quick else 2.0)
    models = {"small": MODELS["small"]} if args.quick else MODELS
    started = time.perf_counter()
    rows = []
    dense_rows = {}
    for name, (hidden, layers) in models.items():
        dense_model = build(hidden, layers).to(device)
        dense_compact = compact_export(dense_model, {}, {"task": "language_model", "vocab_size": VOCAB})
        dense = measure(dense_model, dense_compact, device, masked=False, budget_seconds=budget)
        dense_rows[name] = {"hidden": hidden, "layers": layers, "vocab": VOCAB, "efficiency": dense.dump()}
        t = dense.timings[0]
        print(f"{name} dense 2x{hidden}: {dense.parameters} parameters, {dense.export_bytes} bytes, "
              f"{t.latency_ms:.3f} ms/step, {t.tokens_per_second:.0f} tok/s on {dense.device}", flush=True)
        for method in ("unstructured", "iss"):
            for sparsity in SPARSITIES:
                model, masks, reached = pruned(hidden, layers, method, sparsity)
                model = model.to(device)
                eff = measure(model, compact_export(model, masks, {"task": "language_model", "vocab_size": VOCAB}),
                              device, masked=True, budget_seconds=budget)
                # The dense model timed again right after, so that both see the same machine load.
                again = measure(dense_model, dense_compact, device, masked=False, budget_seconds=budget)
                rows.append(row(name, method, sparsity, reached, eff, again))
                print_row(rows[-1])
    result = {
        "benchmark": "inference", "device": device_name(device), "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__, "budgetSeconds": budget, "quick": args.quick,
        "seconds": round(time.perf_counter() - started, 1), "loadAverage": list(os.getloadavg()),
        "cpus": os.cpu_count(), "dense": dense_rows, "rows": rows,
    }
    out = args.out or RESULTS / f"inference-{args.device}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {out}")


if __name__ == "__main__":
    main()
