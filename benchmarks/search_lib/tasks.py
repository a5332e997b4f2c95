"""The benchmark's tasks, scales and candidate pools: everything that is a setting lives here.

A *task* is a real corpus with a model and a training recipe; a *scale* sizes it (``quick`` for the
smoke test, ``cpu`` for the 60-minute benchmark on 2 CPU cores, ``gpu`` for a CUDA machine). Every
setting below was chosen before any result was seen, from cost measurements and the published setup
(docs/results.md, "Design"), never from the final metric:

- every candidate is pruned to its target before the first rung: the LS distance of a candidate whose
  schedule has not finished compares a (nearly) dense network with the dense one. The first full run
  (e0 = 1 of 30, GMP ending at epoch 15, lottery at 4) showed exactly that and is kept in
  ``results/first-run-e0-before-pruning/``; the product now refuses such a search
  (``spec.strategy.rungs.first``). So every schedule here ends by epoch 1 and e0 = 2;
- e0 sits at about the published fraction of training (3 of 100 epochs -> 2 of 60 half-length epochs,
  the same compute per trial as 30 full ones);
- ``finalists: 1``: with N candidates and f finalists trained to the end, lsh cannot spend less than
  f/N of ``full``'s candidate epochs, so a 10x reduction on a 26-candidate pool needs one finalist
  (two would cap it at 13x before any rung is paid for); settings with 2 and 3 finalists are
  replayed beside it (the sensitivity table);
- spectra as published: the hidden state only (``state: hidden``), every exponent, on the default
  probe (4 validation windows, 10 warm-up + 35 steps).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

API = {"apiVersion": "hyperprune.io/v1alpha1", "kind": "HyperpruneSearch"}
STRATEGIES = ["full", "lsh", "lsh-sync", "asha-loss", "median", "random"]
TASKS = ["ptb", "shakespeare"]
SCALES = ["quick", "cpu", "gpu"]


@dataclass(frozen=True)
class Scale:
    """How big one task is run."""

    name: str
    model: dict[str, Any]
    training: dict[str, Any]
    families: tuple[str, ...]  # keys of FAMILIES, each at every sparsity level
    sparsities: tuple[float, ...]
    lyapunov: dict[str, Any] = field(default_factory=lambda: {"state": "hidden", "k": None})
    rungs: dict[str, Any] = field(default_factory=lambda: {"first": 2, "step": 1, "keepFraction": 0.5, "finalists": 1})
    parallelism: int = 2  # the spec's budget.parallelism: replayed wall time schedules trials on this many workers
    dense_every: int = 12  # spectra at every epoch up to this one, then every `stride` epochs and the last
    stride: int = 3

    @property
    def epochs(self) -> int:
        return int(self.training["epochs"])

    @property
    def steps_per_epoch(self) -> int | None:
        return self.training.get("maxBatches")


# Pruning families of the pool: (method, params). Steps-based schedules are filled in per scale:
# "STEPS" = one update per epoch (rigl updateFrequency); "ONE_EPOCH" = the fraction of training that is
# one epoch (gmp endFraction: the cubic schedule runs through epoch 1, every 2 steps). Every family is
# at its target sparsity after epoch 1, before the first rung (e0 = 2).
STEPS = "steps_per_epoch"
ONE_EPOCH = "one_epoch_fraction"
FAMILIES: dict[str, tuple[str, dict[str, Any]]] = {
    "magnitude-layer": ("magnitude", {"scope": "layer", "pruneEpoch": 1}),
    "magnitude-global": ("magnitude", {"scope": "global", "pruneEpoch": 1}),
    "gmp": ("gmp", {"scope": "layer", "endFraction": ONE_EPOCH, "frequency": 2}),
    "lottery": ("lottery", {"scope": "global", "rounds": 1, "roundEpochs": 1, "rewindEpoch": 0}),
    "set": ("set", {"init": "er", "zeta": 0.3}),
    "rigl": ("rigl", {"init": "er", "dropFraction": 0.3, "updateFrequency": STEPS}),
    "selfish-uniform-magnitude": (
        "selfish", {"init": "uniform", "death": "magnitude", "redistribution": "none", "deathRate": 0.5}
    ),
    "selfish-er-global": (
        "selfish", {"init": "er", "death": "global_magnitude", "redistribution": "magnitude", "deathRate": 0.7}
    ),
    "selfish-uniform-set": (
        "selfish", {"init": "uniform", "death": "set", "redistribution": "nonzeros", "deathRate": 0.4}
    ),
    "selfish-er-gradient": (
        "selfish", {"init": "er", "death": "magnitude", "growth": "gradient", "redistribution": "none", "deathRate": 0.6}
    ),
    "snip": ("snip", {"batches": 1}),
    "synflow": ("synflow", {"iterations": 100, "unrollSteps": 10}),
    "random": ("random", {"distribution": "uniform"}),
    "iss": ("iss", {"groupLasso": 1e-4, "pruneEpoch": 1}),
}

CPU_FAMILIES = (
    "magnitude-layer", "magnitude-global", "gmp", "lottery", "set", "rigl", "selfish-uniform-magnitude",
    "selfish-er-global", "selfish-uniform-set", "snip", "synflow", "random", "iss",
)
QUICK_FAMILIES = ("magnitude-layer", "set", "selfish-uniform-magnitude", "snip")
GPU_FAMILIES = CPU_FAMILIES + ("selfish-er-gradient",)

LM_TRAINING = {"batchSize": 20, "bptt": 35, "clip": 0.25, "lrSchedule": "cosine"}
PTB_SGD = {**LM_TRAINING, "optimizer": "sgd", "lr": 20.0}
CHAR_ADAM = {**LM_TRAINING, "optimizer": "adam", "lr": 0.004}

SCALE_TABLE: dict[tuple[str, str], Scale] = {
    # ---- the smoke test: a few seconds per trial ----
    ("ptb", "quick"): Scale(
        "quick",
        model={"arch": "lstm", "hiddenSize": 32, "numLayers": 1},
        training={**PTB_SGD, "epochs": 6, "maxBatches": 4},
        families=QUICK_FAMILIES, sparsities=(0.5, 0.8),
    ),
    ("shakespeare", "quick"): Scale(
        "quick",
        model={"arch": "lstm", "hiddenSize": 32, "numLayers": 1},
        training={**CHAR_ADAM, "epochs": 6, "maxBatches": 6, "evalMaxBatches": 40},
        families=QUICK_FAMILIES, sparsities=(0.5, 0.8),
    ),
    # ---- 2 CPU cores, the whole benchmark within 60 minutes ----
    ("ptb", "cpu"): Scale(
        "cpu",
        model={"arch": "lstm", "hiddenSize": 128, "numLayers": 1},
        training={**PTB_SGD, "epochs": 60, "maxBatches": 10},
        families=CPU_FAMILIES, sparsities=(0.5, 0.8),
        dense_every=8, stride=6,
    ),
    ("shakespeare", "cpu"): Scale(
        "cpu",
        model={"arch": "lstm", "hiddenSize": 128, "numLayers": 2},
        training={**CHAR_ADAM, "epochs": 60, "maxBatches": 20},
        families=CPU_FAMILIES, sparsities=(0.5, 0.8),
        dense_every=8, stride=6,
    ),
    # ---- one CUDA GPU: the published architecture's shape (2 x 650 on PTB-eval), longer, more candidates ----
    ("ptb", "gpu"): Scale(
        "gpu",
        model={"arch": "lstm", "hiddenSize": 650, "numLayers": 2, "dropout": 0.5},
        training={**PTB_SGD, "epochs": 40},
        families=GPU_FAMILIES, sparsities=(0.5, 0.67, 0.8),
        parallelism=4, dense_every=12, stride=2,
    ),
    ("shakespeare", "gpu"): Scale(
        "gpu",
        model={"arch": "lstm", "hiddenSize": 512, "numLayers": 2, "dropout": 0.2},
        training={**CHAR_ADAM, "epochs": 40, "maxBatches": 200, "lr": 0.002},
        families=GPU_FAMILIES, sparsities=(0.5, 0.67, 0.8),
        parallelism=4, dense_every=12, stride=2,
    ),
}


def data_section(task: str, data_root: Path) -> dict[str, Any]:
    """PTB-eval: train on ptb.valid.txt (its last 5 % validates), test on ptb.test.txt.
    Tiny Shakespeare: characters, split 90/5/5 by position."""
    root = Path(data_root).resolve()
    if task == "ptb":
        return {
            "corpus": "ptb",
            "level": "word",
            "path": str(root / "ptb-eval"),
            "files": {"train": "ptb.valid.txt", "test": "ptb.test.txt"},
        }
    if task == "shakespeare":
        return {"corpus": "text", "level": "char", "path": str(root / "tinyshakespeare")}
    raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")


def required_files(task: str, data_root: Path) -> list[Path]:
    root = Path(data_root)
    if task == "ptb":
        return [root / "ptb-eval" / "ptb.valid.txt", root / "ptb-eval" / "ptb.test.txt"]
    return [root / "tinyshakespeare" / "input.txt"]


def family_point(family: str, sparsity: float, scale: Scale) -> dict[str, Any]:
    method, params = FAMILIES[family]
    fill = {STEPS: scale.steps_per_epoch or 100, ONE_EPOCH: 1.0 / scale.epochs}
    params = {k: (fill[v] if isinstance(v, str) and v in fill else v) for k, v in params.items()}
    return {"method": method, "sparsity": float(sparsity), "params": params}


def pool(scale: Scale) -> list[dict[str, Any]]:
    """Every family at every sparsity level, level by level."""
    return [family_point(f, s, scale) for s in scale.sparsities for f in scale.families]


def pool_families(scale: Scale) -> list[str]:
    return [f for _ in scale.sparsities for f in scale.families]


def analysis_epochs(scale: Scale, extra: list[int] | tuple[int, ...] = ()) -> list[int]:
    """Epochs at which ground-truth trials compute a spectrum: every epoch up to ``dense_every``
    (all rungs any replayed strategy uses), then every ``stride`` epochs, and the last."""
    e = scale.epochs
    epochs = set(range(1, min(scale.dense_every, e) + 1)) | set(range(scale.dense_every, e + 1, scale.stride)) | {e}
    return sorted(epochs | {x for x in extra if 1 <= x <= e})


@dataclass(frozen=True)
class Task:
    name: str
    scale: Scale
    data: dict[str, Any]
    device: str  # cpu | cuda

    @property
    def label(self) -> str:
        """File stem of the results: ``ptb`` (CPU scale), ``ptb-quick``, ``ptb-gpu``."""
        return self.name if self.scale.name == "cpu" else f"{self.name}-{self.scale.name}"

    @property
    def metric(self) -> str:
        return "perplexity"

    def spec(self, strategy: str, *, rungs: dict[str, Any] | None = None, parallelism: int | None = None,
             seed: int = 0) -> dict[str, Any]:
        """The spec section of a HyperpruneSearch for this task's pool under one strategy."""
        s = self.scale
        return {
            "seed": seed,
            "data": copy.deepcopy(self.data),
            "model": dict(s.model),
            "training": dict(s.training),
            "device": self.device,
            "evaluateTest": True,
            "lyapunov": dict(s.lyapunov),
            "candidates": pool(s),
            "budget": {"parallelism": parallelism or s.parallelism, "maxFailedTrials": len(pool(s))},
            "strategy": {"name": strategy, "rungs": dict(rungs or s.rungs)},
            "dense": {"enabled": True},
        }

    def document(self, strategy: str, **kw: Any) -> dict[str, Any]:
        name = f"bench-{self.label}-{strategy}".lower().replace("_", "-")
        return {**API, "metadata": {"name": name}, "spec": self.spec(strategy, **kw)}

    def search(self, strategy: str, **kw: Any):
        from hyperprune.spec import parse_search

        return parse_search(self.document(strategy, **kw))


def make_task(name: str, scale: str, data_root: Path, device: str) -> Task:
    return Task(name=name, scale=SCALE_TABLE[(name, scale)], data=data_section(name, data_root), device=device)
