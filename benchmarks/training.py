"""Training throughput of a 2 x 256 LSTM language model, dense vs pruned, and the cost of the
Lyapunov report relative to one epoch.

    .venv/bin/python benchmarks/training.py                         # built-in synthetic corpus
    .venv/bin/python benchmarks/training.py --data ../shared/data/ptb-eval --corpus ptb \
        --train-file ptb.valid.txt --test-file ptb.test.txt

Each row is one real trial (``hyperprune.trial.run_trial``: pruner hooks, clipping, masks re-applied
after every step) trained for ``--batches`` optimiser steps, on every device available (CPU, and
CUDA when present). ``tokens/s`` is measured over the training steps only; ``epoch s`` extrapolates
it to one full pass over the training split. ``LS k=K`` is the Lyapunov report of the trained model
(the trial config's probe batch: 4 validation sequences, 10 warm-up + 35 steps, float64) with K
leading exponents ("all" = the whole spectrum, 2 x layers x hidden for an LSTM's (h, c)), and
``/epoch`` its cost relative to one epoch: the overhead a search pays for a spectrum every epoch.

The machine may be shared: every figure is the best of ``--repeats`` measurements.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch

from hyperprune.contract.trial import TrialConfig
from hyperprune.trial.device import configure_threads
from hyperprune.trial.runtime import run_trial

METHODS = {
    "dense": {"method": "none", "sparsity": 0.0},
    "selfish-0.67": {"method": "selfish", "sparsity": 0.67},
    "magnitude-0.67": {"method": "magnitude", "sparsity": 0.67, "params": {"pruneEpoch": 0}},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, help="data directory (default: the built-in synthetic corpus)")
    p.add_argument("--corpus", default="ptb", choices=["ptb", "wikitext", "text"], help="layout of --data")
    p.add_argument("--level", default="word", choices=["word", "char"])
    p.add_argument("--train-file", help="file of the training split inside --data (overrides the layout)")
    p.add_argument("--test-file", help="file of the test split inside --data (with --train-file)")
    p.add_argument("--batches", type=int, default=40, help="optimiser steps measured per row")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=20)
    p.add_argument("--bptt", type=int, default=35)
    p.add_argument("--k", default="64,all", help="comma-separated numbers of Lyapunov exponents; all = the whole spectrum")
    p.add_argument("--repeats", type=int, default=2, help="measure each figure this many times and keep the best")
    p.add_argument("--methods", default="dense,selfish-0.67", help=f"comma-separated, from {', '.join(METHODS)}")
    p.add_argument("--devices", default="auto", help="comma-separated cpu,cuda; auto = cpu and cuda when present")
    p.add_argument("--json", type=Path, help="also write the rows as JSON here")
    return p.parse_args(argv)


def data_section(args: argparse.Namespace) -> dict:
    if args.data is None:
        return {"corpus": "synthetic"}
    data = {"corpus": args.corpus, "level": args.level, "path": str(args.data)}
    if args.train_file:
        data["files"] = {"train": args.train_file, "test": args.test_file}
    return data


def trial_config(args: argparse.Namespace, device: str, method: str) -> TrialConfig:
    return TrialConfig.model_validate(
        {
            "trialId": f"bench-{method}",
            "data": data_section(args),
            "model": {"arch": "lstm", "hiddenSize": args.hidden, "numLayers": args.layers},
            "training": {
                "epochs": 1,
                "lr": 20.0,
                "batchSize": args.batch_size,
                "bptt": args.bptt,
                "maxBatches": args.batches,
                "evalMaxBatches": 5,
            },
            "pruning": METHODS[method],
            "lyapunov": {"epochs": []},  # measured separately below, once per k
            "device": device,
            "evaluateTest": False,
        }
    )


def measure(args: argparse.Namespace, device: str, method: str, ks: list[int | None]) -> dict:
    from hyperprune.data import load_data, probe_tokens
    from hyperprune.models.folder import load_model
    from hyperprune.trial.spectrum import probe_spectrum

    config = trial_config(args, device, method)
    corpus = load_data(config.data)
    rates, sparsity = [], 0.0
    with tempfile.TemporaryDirectory(prefix="hyperprune-bench-") as workdir:
        for _ in range(args.repeats):
            shutil.rmtree(workdir)
            run_trial(config, workdir)
            report = json.loads((Path(workdir) / "reports.jsonl").read_text().splitlines()[-1])
            rates.append(report["tokensPerSecond"])
            sparsity = report["sparsity"]
        model, _ = load_model(workdir, device=device)
    rate = max(rates)
    epoch_seconds = corpus.train.numel() / rate
    lyap = config.lyapunov
    probe = probe_tokens(corpus.valid, lyap.batch, lyap.warmup + lyap.probe_length).to(device)
    probe_spectrum(model, probe, lyap.model_copy(update={"k": 1}))  # first call pays one-off set-up costs
    spectra = {}
    for k in ks:
        cfg = lyap.model_copy(update={"k": k})
        seconds = min(probe_spectrum(model, probe, cfg)[1] for _ in range(args.repeats))
        spectra["all" if k is None else str(k)] = seconds
    return {
        "device": device,
        "method": method,
        "sparsity": sparsity,
        "tokens_per_second": rate,
        "train_tokens": int(corpus.train.numel()),
        "epoch_seconds": epoch_seconds,
        "lyapunov_seconds": spectra,
        "lyapunov_per_epoch": {k: v / epoch_seconds for k, v in spectra.items()},
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    threads = configure_threads()
    devices = args.devices.split(",") if args.devices != "auto" else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    methods = args.methods.split(",")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        print(f"error: unknown method {', '.join(unknown)} — choose from {', '.join(METHODS)}", file=sys.stderr)
        return 2
    ks = [None if k == "all" else int(k) for k in args.k.split(",")]
    print(
        f"LSTM {args.layers} x {args.hidden}, batch {args.batch_size} x bptt {args.bptt}, {args.batches} steps "
        f"per measurement, best of {args.repeats}, torch {torch.__version__}, {threads} CPU threads"
    )
    ls_cols = "".join(f" {'LS k=' + ('all' if k is None else str(k)) + ' s':>12} {'/epoch':>8}" for k in ks)
    header = f"{'device':<6} {'pruning':<15} {'sparsity':>8} {'tokens/s':>10} {'epoch s':>9}{ls_cols}"
    print(header)
    print("-" * len(header))
    rows = []
    for device in devices:
        for method in methods:
            row = measure(args, device, method, ks)
            rows.append(row)
            cells = "".join(
                f" {row['lyapunov_seconds'][k]:>12.3f} {row['lyapunov_per_epoch'][k]:>8.1%}" for k in row["lyapunov_seconds"]
            )
            print(
                f"{row['device']:<6} {row['method']:<15} {row['sparsity']:>8.3f} {row['tokens_per_second']:>10.0f} "
                f"{row['epoch_seconds']:>9.2f}{cells}",
                flush=True,
            )
    print(f"(epoch = one pass over the {rows[0]['train_tokens']} training tokens at the measured rate)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
