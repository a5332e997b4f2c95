"""Print the Lyapunov spectrum of a recurrent network.

Without --model it builds a small randomly initialised core (--arch, --hidden, --layers) and drives
it with Gaussian inputs; with --model it loads a trained model (a trial's model folder, or a file
written with torch.save(module)) and drives its core with random tokens (language models) or
Gaussian features. Exponents are natural log per time step (log2 with --convention published),
averaged over the batch, descending.

examples:
  hyperprune lyapunov                                   # 2 x 64 LSTM, full (h, c) state
  hyperprune lyapunov --arch rhn --hidden 128 --depth 5 --k 20
  hyperprune lyapunov --arch lstm --state hidden --convention published
  hyperprune lyapunov --model runs/quickstart/best --batch 4 --json    # the model `make run` promotes
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ARCHS = ("lstm", "gru", "rnn_tanh", "rnn_relu", "rhn")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("model (ignored with --model)")
    g.add_argument("--arch", choices=ARCHS, default="lstm", help="recurrent core to build (default: lstm)")
    g.add_argument("--hidden", type=int, default=64, metavar="H", help="hidden units per layer (default: 64)")
    g.add_argument("--layers", type=int, default=2, metavar="L", help="stacked layers; RHN has 1 (default: 2)")
    g.add_argument("--input-size", type=int, default=32, metavar="I", help="input features (default: 32)")
    g.add_argument("--depth", type=int, default=3, metavar="D", help="RHN micro-steps per time step (default: 3)")
    g.add_argument("--init-scale", type=float, default=1.0, metavar="S",
                   help="multiply the random recurrent weights by S (>1 pushes towards chaos; default: 1)")
    parser.add_argument("--model", type=Path, metavar="PATH",
                        help="a model folder: the one a search promoted (DIR/best) or a trial's "
                             "(DIR/trials/<id>/model); or a file saved with torch.save(module)")
    s = parser.add_argument_group("spectrum")
    s.add_argument("--steps", type=int, default=35, metavar="T", help="time steps averaged (default: 35)")
    s.add_argument("--warmup", type=int, default=10, metavar="W", help="alignment steps before averaging (default: 10)")
    s.add_argument("--batch", type=int, default=4, metavar="B", help="input sequences averaged over (default: 4)")
    s.add_argument("--k", type=int, default=None, help="leading exponents to compute (default: all N)")
    s.add_argument("--state", choices=("full", "hidden"), default="full",
                   help="LSTM state: full = exact (h, c); hidden = h only, c held fixed, as published")
    s.add_argument("--convention", choices=("natural", "published"), default="natural",
                   help="natural log and J (default) or the published log2 and J^T")
    s.add_argument("--qr-interval", type=int, default=1, metavar="Q", help="orthonormalise every Q steps (default: 1)")
    s.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                   help="precision of the computation (default: float64)")
    s.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto = CUDA when available")
    s.add_argument("--seed", type=int, default=0, help="seeds the weights, the inputs and the start directions")
    s.add_argument("--threads", type=int, default=None, metavar="N",
                   help="torch CPU threads (default: torch's choice; 1 is fastest on a busy shared machine)")
    o = parser.add_argument_group("output")
    o.add_argument("--top", type=int, default=10, metavar="N", help="exponents to print (default: 10; 0 = all)")
    o.add_argument("--json", action="store_true", help="print one JSON object with every exponent instead")


def _fail(what: str, todo: str) -> int:
    print(f"error: {what} — {todo}", file=sys.stderr)
    return 2


def _build(args, torch):
    from torch import nn

    from hyperprune.models.rhn import RHN

    torch.manual_seed(args.seed)
    if args.arch == "rhn":
        core = RHN(args.input_size, args.hidden, args.depth)
    elif args.arch == "lstm":
        core = nn.LSTM(args.input_size, args.hidden, args.layers)
    elif args.arch == "gru":
        core = nn.GRU(args.input_size, args.hidden, args.layers)
    else:
        core = nn.RNN(args.input_size, args.hidden, args.layers, nonlinearity=args.arch.split("_")[1])
    if args.init_scale != 1.0:
        with torch.no_grad():
            for name, p in core.named_parameters():
                if "weight_hh" in name:
                    p.mul_(args.init_scale)
    return core


def _load(path: Path, torch):
    """(core, make_inputs(T, B, generator) -> [T, B, I]) for a saved model."""
    from torch import nn

    if path.is_dir():
        from hyperprune.models.folder import load_model

        model, _ = load_model(path)
    else:
        model = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(model, nn.Module):
            raise TypeError(f"{path} holds a {type(model).__name__}, not a torch.nn.Module")
    core = getattr(model, "core", None)
    if core is None:  # a task's own model: its first recurrent layer (hyperprune.models.recurrent)
        from hyperprune.models.recurrent import RecurrentLayerError, recurrent_layers

        try:
            core = recurrent_layers(model)[0].module
        except RecurrentLayerError:
            core = model  # build_network names what it cannot treat
    core.eval()
    vocab = None
    task_file = (path / "task.json") if path.is_dir() else None
    if task_file is not None and not task_file.exists():
        task_file = path / "model" / "task.json"
    if task_file is not None and task_file.exists():
        vocab = json.loads(task_file.read_text()).get("vocab_size")
    return model, core, vocab


def main(args: argparse.Namespace) -> int:
    import torch

    from hyperprune.lyapunov import lyapunov_result
    from hyperprune.lyapunov.cells import build_network

    if args.threads is not None:
        if args.threads < 1:
            return _fail("--threads must be at least 1", "omit it for torch's default")
        torch.set_num_threads(args.threads)
    for name in ("hidden", "layers", "input_size", "depth", "steps", "batch", "qr_interval"):
        if getattr(args, name) < 1:
            return _fail(f"--{name.replace('_', '-')} must be at least 1", "pass a positive number")
    if args.warmup < 0:
        return _fail("--warmup must be >= 0", "pass 0 or more")
    if args.k is not None and args.k < 1:
        return _fail("--k must be at least 1", "omit it for the whole spectrum")
    if args.device == "cuda" and not torch.cuda.is_available():
        return _fail("--device cuda but no CUDA device is available", "use --device cpu or auto")
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu")
    dtype = getattr(torch, args.dtype)
    gen = torch.Generator().manual_seed(args.seed)
    T = args.warmup + args.steps

    if args.model is not None:
        if not args.model.exists():
            return _fail(f"{args.model} does not exist", "pass a trial's model folder or a torch.save'd module")
        try:
            model, core, vocab = _load(args.model, torch)
        except Exception as exc:  # a bad file is the user's input, not a crash
            return _fail(f"cannot load {args.model}: {exc}", "pass a trial's model folder or a torch.save'd module")
        try:
            net = build_network(core, args.state, dtype, torch.device("cpu"))
        except (TypeError, ValueError) as exc:
            return _fail(str(exc), "pass a model whose core is an RNN, GRU, LSTM or RHN")
        if vocab and hasattr(model, "core_inputs"):
            tokens = torch.randint(0, int(vocab), (T, args.batch), generator=gen)
            with torch.no_grad():
                inputs = model.core_inputs(tokens)
            source = f"random tokens (vocabulary {vocab}) through the model's embedding"
        else:
            inputs = torch.randn(T, args.batch, net.input_size, generator=gen)
            source = "Gaussian inputs"
        label = str(args.model)
    else:
        core = _build(args, torch)
        inputs = torch.randn(T, args.batch, args.input_size, generator=gen)
        source = "Gaussian inputs"
        layers = 1 if args.arch == "rhn" else args.layers
        label = f"{args.arch} {layers} x {args.hidden}" + (f", depth {args.depth}" if args.arch == "rhn" else "")
    core = core.to(device)
    inputs = inputs.to(device)

    start = time.perf_counter()
    try:
        res = lyapunov_result(
            core, inputs, k=args.k, warmup=args.warmup, qr_interval=args.qr_interval, state=args.state,
            convention=args.convention, dtype=dtype, seed=args.seed,
        )
        values = res.exponents.tolist()
        stds = res.std.tolist()
    except (TypeError, ValueError) as exc:
        return _fail(str(exc), "see 'hyperprune lyapunov --help'")
    seconds = time.perf_counter() - start

    unit = "log2 per step" if args.convention == "published" else "natural log per step"
    if args.json:
        print(json.dumps({
            "model": label, "n": res.n, "k": res.k, "state": args.state, "convention": args.convention,
            "steps": res.steps, "warmup": res.warmup, "batch": args.batch, "dtype": args.dtype,
            "device": str(device), "seconds": seconds, "exponents": values, "std": stds,
        }))
        return 0
    print(f"{label}: N = {res.n} state dimensions, {res.k} exponents ({unit}), {source}")
    print(f"T = {res.steps} averaged steps after {res.warmup} warm-up, batch {args.batch}, {args.dtype} on {device}, "
          f"{seconds:.3f} s, {res.flops.total / max(seconds, 1e-9) / 1e9:.1f} GFLOP/s")
    shown = values if args.top == 0 else values[: args.top]
    for i, (v, sd) in enumerate(zip(shown, stds)):
        print(f"  lambda_{i + 1:<5d} {v: .6f}  ± {sd:.6f}")
    if len(shown) < len(values):
        print(f"  ... {len(values) - len(shown)} more (smallest {values[-1]:.6f}); --top 0 prints all")
    print(f"  sum of the {res.k} exponents: {sum(values):.6f}")
    return 0
