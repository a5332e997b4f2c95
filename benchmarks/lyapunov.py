"""Lyapunov engine vs the straightforward reference, in one run.

CPU (always): a 2-layer LSTM with 256 hidden units, batch 8, float64, T = 35 averaged steps after a
10-step warm-up (inputs of 45 steps), full (h, c) state: N = 1024. Two spectra:

- the full spectrum (k = N = 1024),
- the leading k = 64 exponents.

The reference is :mod:`hyperprune.lyapunov.reference`: per sequence and step, the full N x N Jacobian
of the module's one-step map from ``torch.autograd.functional.jacobian`` (default strategy: one
reverse pass per state coordinate), ``Z = J Q`` and ``torch.linalg.qr``. A Jacobian does not depend
on k, so the reference computes each one once and propagates both Q's from it; its time for a k is
(all Jacobian time) + (that k's propagation time), both measured. The benchmark asserts that engine
and reference agree to 1e-5 on every sequence's spectrum and prints the speed ratio, the engine's
achieved GFLOP/s (flops counted from shapes: tangent-map GEMMs and elementwise products, the
LAPACK-standard QR counts, the forward pass) and peak memory (CPU: growth of the process's peak
resident set of a fresh process running just that phase; CUDA: torch's peak allocated memory).

CUDA (--device cuda, adds): a 2 x 1500 LSTM, T = 35 after a 10-step warm-up, batch 5, the full
3,000-exponent spectrum of the published h-only map (state="hidden", N = 3000), float32; target
under 2 s on an H200. A small float64 model is also checked against the CPU engine there.

Run: .venv/bin/python benchmarks/lyapunov.py [--threads N] [--device cuda] [--quick]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hyperprune.lyapunov import lyapunov_result  # noqa: E402
from hyperprune.lyapunov.reference import reference_run  # noqa: E402

TOL = 1e-5
NOISE = 1e-16


def _status(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _mib(b: int | None) -> str:
    return "n/a" if b is None else f"{b / 2**20:.0f} MiB"


def _cpu_case(hidden, layers, batch, steps, warmup):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = nn.LSTM(hidden, hidden, layers).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(warmup + steps, batch, hidden, generator=g, dtype=torch.float64)
    return model, x


def _cpu_phase(what, ks, cfg, threads, queue):
    """One measurement in a fresh process, so that its peak resident memory is its own:
    peak = VmHWM at the end - VmRSS before the measured call."""
    if threads:
        torch.set_num_threads(threads)
    model, x = _cpu_case(**cfg)
    # one small call first so that one-time library initialisation is not timed
    lyapunov_result(nn.LSTM(4, 4, 1).double(), torch.zeros(3, 1, 4, dtype=torch.float64), warmup=1)
    base = _status("VmRSS")
    start = time.perf_counter()
    if what == "engine":
        res = lyapunov_result(model, x, k=ks[0], warmup=cfg["warmup"], dtype=torch.float64)
        seconds = time.perf_counter() - start
        out = {"seconds": seconds, "per_sequence": res.per_sequence.tolist(), "k": res.k, "flops": res.flops}
    else:
        noise = [0.0] * len(ks)
        if len(ks) > 2:
            noise[2] = NOISE  # the third entry repeats the full spectrum with rounding-level noise on J
        ref = reference_run(model, x, ks=ks, warmup=cfg["warmup"], dtype=torch.float64, jacobian_noise=noise)
        seconds = time.perf_counter() - start
        out = {"seconds": seconds, "per_sequence": [p.tolist() for p in ref.per_sequence], "jacobian": ref.jacobian_seconds,
               "propagate": ref.propagate_seconds}
    hwm = _status("VmHWM")
    out["peak"] = None if hwm is None or base is None else hwm - base
    out["threads"] = torch.get_num_threads()
    queue.put(out)  # plain lists: torch's shared-memory tensor passing needs the child alive


def _run_phase(*args):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_cpu_phase, args=(*args, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def cpu_benchmark(hidden: int, layers: int, batch: int, steps: int, warmup: int, k_small: int, threads: int | None) -> bool:
    cfg = dict(hidden=hidden, layers=layers, batch=batch, steps=steps, warmup=warmup)
    N = 2 * layers * hidden
    engine = {}
    for k in (None, k_small):
        out = _run_phase("engine", (k,), cfg, threads)
        if k is None:
            print(f"CPU: {layers} x {hidden} LSTM, full (h, c) state N = {N}, batch {batch}, T = {steps} after {warmup} "
                  f"warm-up, float64, {out['threads']} thread(s); each measurement in a fresh process")
        engine[k] = out
        f, sec = out["flops"], out["seconds"]
        print(f"  engine    k={out['k']:5d}: {sec:8.2f} s  {f.total / sec / 1e9:6.1f} GFLOP/s  "
              f"({f.tangent / 1e9:.1f} GF tangent maps, {f.orthonormalization / 1e9:.1f} GF QR, {f.forward / 1e9:.2f} GF forward)  "
              f"peak memory +{_mib(out['peak'])}", flush=True)

    ref = _run_phase("reference", (None, k_small, None), cfg, threads)
    other = ref["seconds"] - ref["jacobian"] - sum(ref["propagate"])
    print(f"  reference: {ref['seconds']:.2f} s in all: Jacobians {ref['jacobian']:.2f} s (shared by both k), propagation "
          f"{ref['propagate'][0]:.2f} s (k={N}) + {ref['propagate'][1]:.2f} s (k={k_small}), other {other:.2f} s; "
          f"+ {ref['propagate'][2]:.2f} s for the conditioning probe (not counted); peak memory +{_mib(ref['peak'])}")

    # How well does float64 determine these finite-time exponents? The probe repeats the reference's
    # full-spectrum propagation with every Jacobian entry perturbed at rounding level (1e-16
    # relative); the change it causes is the reference's own uncertainty, which any other correct
    # implementation (different rounding in J or in J·Q) can show too.
    full_ref = torch.tensor(ref["per_sequence"][0], dtype=torch.float64)
    probe = torch.tensor(ref["per_sequence"][2], dtype=torch.float64)
    sens = (full_ref - probe).abs()
    print(f"  conditioning: a {NOISE:g}-relative perturbation of the reference's Jacobians moves its full spectrum by up to "
          f"{sens.max().item():.2e} (per sequence: {', '.join(f'{v:.0e}' for v in sens.max(1).values.tolist())}); "
          f"{int((sens > 1e-6).sum())} of {sens.numel()} exponents move by more than 1e-6")

    ok = True
    for i, k in enumerate((None, k_small)):
        out = engine[k]
        sec = out["seconds"]
        ref_sec = ref["jacobian"] + ref["propagate"][i] + other  # what a run for this k alone costs
        per_seq = torch.tensor(out["per_sequence"], dtype=torch.float64)
        ref_seq = torch.tensor(ref["per_sequence"][i], dtype=torch.float64)
        err = (per_seq - ref_seq).abs()
        mean_diff = (per_seq.mean(0) - ref_seq.mean(0)).abs().max().item()
        print(f"  k={out['k']:5d}: reference {ref_sec:8.2f} s / engine {sec:7.2f} s = {ref_sec / sec:6.1f}x faster; "
              f"max |engine - reference| per sequence {err.max().item():.2e}, of the batch mean {mean_diff:.2e}")
        if k is None:
            # (a) exponents that float64 determines (probe moves them < 1e-6) agree to TOL;
            # (b) the rest agree within the reference's own sensitivity (4x the probe's largest move
            #     in that sequence); (c) the sum (mean log|det J|) is the same for any basis: relative 1e-11.
            determined = sens < 1e-6
            ok_a = bool((err[determined] <= TOL).all())
            bound = torch.clamp_min(4 * sens.max(1, keepdim=True).values, TOL)
            ok_b = bool((err <= bound).all())
            sum_diff = (per_seq.sum(1) - ref_seq.sum(1)).abs().max().item()
            ok_c = sum_diff <= max(1e-8, 1e-11 * ref_seq.sum(1).abs().max().item())
            print(f"           (a) {int(determined.sum())} determined exponents: max |diff| "
                  f"{err[determined].max().item():.2e} <= {TOL:g} {'OK' if ok_a else 'MISMATCH'}; "
                  f"(b) the other {int((~determined).sum())}: within 4x the reference's own rounding sensitivity "
                  f"{'OK' if ok_b else 'MISMATCH'}; (c) sums of all exponents (relative 1e-11): max |diff| {sum_diff:.2e} "
                  f"{'OK' if ok_c else 'MISMATCH'}")
            ok &= ok_a and ok_b and ok_c
        else:
            ok_k = err.max().item() <= TOL
            print(f"           all exponents within {TOL:g}: {'OK' if ok_k else 'MISMATCH'}")
            ok &= ok_k
        mean = per_seq.mean(0)
        print(f"           exponents: top {mean[0].item():.6f}, median {mean[out['k'] // 2].item():.6f}, "
              f"last {mean[-1].item():.6f}")
    return ok


class Peak:
    """Peak CUDA memory allocated during a block, above what was allocated before it."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.bytes: int | None = None

    def __enter__(self) -> "Peak":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        self.base = torch.cuda.memory_allocated()
        return self

    def __exit__(self, *exc) -> None:
        torch.cuda.synchronize()
        self.bytes = torch.cuda.max_memory_allocated() - self.base


def _timed_cuda(model, x, **kw):
    device = x.device
    with Peak(device) as peak:
        start = time.perf_counter()
        res = lyapunov_result(model, x, **kw)
        res.exponents.sum().item()  # wait for the device
        seconds = time.perf_counter() - start
    return res, seconds, peak.bytes


def cuda_benchmark() -> bool:
    device = torch.device("cuda")
    print(f"CUDA: {torch.cuda.get_device_name(device)}")
    # correctness on the device: a small float64 model against the CPU engine
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2)
        small = nn.LSTM(16, 32, 2).double()
    xs = torch.randn(20, 3, 16, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    cpu = lyapunov_result(small, xs, warmup=5).per_sequence
    gpu = lyapunov_result(small.to(device), xs.to(device), warmup=5).per_sequence.cpu()
    diff = (cpu - gpu).abs().max().item()
    print(f"  2 x 32 LSTM float64, CUDA vs CPU engine: max |diff| {diff:.2e} {'OK' if diff <= 1e-8 else 'MISMATCH'}")
    ok = diff <= 1e-8

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = nn.LSTM(1500, 1500, 2).to(device)
    x = torch.randn(45, 5, 1500, generator=torch.Generator().manual_seed(1)).to(device)
    lyapunov_result(model, x[:12], k=64, warmup=10, state="hidden", dtype=torch.float32)  # CUDA/cuSOLVER init
    for state in ("hidden",):
        res, sec, mem = _timed_cuda(model, x, warmup=10, state=state, dtype=torch.float32)
        print(f"  2 x 1500 LSTM, state={state}, N = k = {res.n}, batch 5, T = 35 after 10, float32: {sec:.3f} s "
              f"(target < 2 s), {res.flops.total / sec / 1e12:.2f} TFLOP/s, peak +{_mib(mem)}; "
              f"top {res.exponents[0].item():.4f}, last {res.exponents[-1].item():.4f}")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's default)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="cuda adds the 2 x 1500 GPU timing")
    ap.add_argument("--quick", action="store_true", help="a 2 x 64 LSTM instead of 2 x 256 (checks the script, not the speed)")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {os.cpu_count()} CPU(s) visible; load average {os.getloadavg()[0]:.2f} "
          "(timings on a shared machine are noisy)")
    hidden = 64 if args.quick else 256
    ok = cpu_benchmark(hidden=hidden, layers=2, batch=8, steps=35, warmup=10, k_small=64, threads=args.threads)
    if args.device == "cuda":
        if args.threads:
            torch.set_num_threads(args.threads)
        if not torch.cuda.is_available():
            print("error: --device cuda but CUDA is not available", file=sys.stderr)
            return 2
        ok &= cuda_benchmark()
    assert ok, "engine and reference disagree beyond the tolerance"
    return 0


if __name__ == "__main__":
    sys.exit(main())
