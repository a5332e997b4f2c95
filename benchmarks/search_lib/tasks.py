"""The benchmark's tasks, scales and candidate pools.

A *task* is a real corpus with a model and a training recipe, written as a file in
``benchmarks/tasks/`` (``taskfile.py`` reads and validates it); a *scale* sizes it (``quick`` for the
smoke test, ``cpu`` for the benchmark on 2 CPU cores, ``gpu`` for a CUDA machine). This module holds
the catalogue of pruning families a task's pool names and turns a task at a scale into search
documents. The settings were chosen before any result was seen, from cost measurements and the
published setup (docs/results.md), never from the final metric:

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
SCALES = ["quick", "cpu", "gpu"]
TASKS_DIR = Path(__file__).resolve().parent.parent / "tasks"


def task_files() -> list[Path]:
    """Every task of the benchmark: the files in benchmarks/tasks, by name."""
    return sorted(TASKS_DIR.glob("*.yaml"))


def task_path(name_or_file: str) -> Path:
    """A task given by file, or by name (``ptb`` = benchmarks/tasks/ptb.yaml)."""
    path = Path(name_or_file)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    return TASKS_DIR / f"{name_or_file}.yaml"


@dataclass(frozen=True)
class Scale:
    """How big one task is run (a task file's sections at one scale)."""

    name: str
    model: dict[str, Any]
    training: dict[str, Any]
    families: tuple[str, ...]  # keys of FAMILIES, each at every sparsity level
    sparsities: tuple[float, ...]
    lyapunov: dict[str, Any] = field(default_factory=dict)
    rungs: dict[str, Any] = field(default_factory=lambda: {"first": 2, "step": 1, "keepFraction": 0.5, "finalists": 1})
    parallelism: int = 2  # the spec's budget.parallelism: replayed wall time schedules trials on this many workers
    dense_every: int = 8  # spectra at every epoch up to this one, then every `stride` epochs and the last
    stride: int = 6
    also_states: tuple[str, ...] = ()  # other spectrum states recorded beside the spec's (predictors only)

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
    title: str = ""
    file: str | None = None

    @property
    def label(self) -> str:
        """File stem of the results: ``ptb`` (CPU scale), ``ptb-quick``, ``ptb-gpu``."""
        return self.name if self.scale.name == "cpu" else f"{self.name}-{self.scale.name}"

    @property
    def metric(self) -> str:
        return "accuracy" if self.data.get("corpus") == "digits" else "perplexity"

    @property
    def direction(self) -> str:
        return "higher is better" if self.metric == "accuracy" else "lower is better"

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
            "dense": {"enabled": True},  # the product's default: lsh trains it only as far as it reads it
        }

    def document(self, strategy: str, **kw: Any) -> dict[str, Any]:
        name = f"bench-{self.label}-{strategy}".lower().replace("_", "-")
        return {**API, "metadata": {"name": name}, "spec": self.spec(strategy, **kw)}

    def search(self, strategy: str, **kw: Any):
        from hyperprune.spec import parse_search

        return parse_search(self.document(strategy, **kw))


def scale_of(task_file: Any, scale: str, *, valid_pool: bool = True) -> Scale:
    from .taskfile import scale_sections

    sec = scale_sections(task_file, scale)
    if not valid_pool:  # the spec's own checks of a task whose pool is broken (reported on its own)
        sec["pool"] = {"families": ["random"], "sparsities": [0.5]}
    return Scale(
        scale,
        model=dict(sec["model"]),
        training=dict(sec["training"]),
        families=tuple(sec["pool"]["families"]),
        sparsities=tuple(float(x) for x in sec["pool"]["sparsities"]),
        lyapunov=dict(sec["lyapunov"]),
        rungs=dict(sec["rungs"]),
        parallelism=int(sec["parallelism"]),
        dense_every=int(sec["spectra"]["everyEpochUntil"]),
        stride=int(sec["spectra"]["thenEvery"]),
        also_states=tuple(sec["spectra"]["alsoStates"]),
    )


def data_section(task_file: Any, data_root: Path) -> dict[str, Any]:
    """The task's data section with its path under the data folder."""
    data = copy.deepcopy(task_file.data)
    if data.get("path"):
        data["path"] = str((Path(data_root) / data["path"]).resolve())
    return data


def make_task(task_file: Any, scale: str, data_root: Path, device: str, *, valid_pool: bool = True) -> Task:
    return Task(name=task_file.name, scale=scale_of(task_file, scale, valid_pool=valid_pool),
                data=data_section(task_file, data_root), device=device, title=task_file.title,
                file=str(task_path(task_file.name)))


def document_for(task_file: Any, scale: str, *, data_root: Path, device: str, strategy: str,
                 valid_pool: bool = True) -> dict[str, Any]:
    """The search document of a task at a scale (what taskfile.py validates)."""
    return make_task(task_file, scale, data_root, device, valid_pool=valid_pool).document(strategy)


def missing_data(task_file: Any, data_root: Path) -> str | None:
    """Why the task's corpus cannot be read under ``data_root`` (None: it can)."""
    from hyperprune.contract.data_layout import DataError, resolve_sources

    data = data_section(task_file, data_root)
    if not data.get("path"):
        return None  # built in (digits)
    try:
        resolve_sources(data["corpus"], data.get("level", "word"), data["path"], data.get("files"))
    except DataError as exc:
        return str(exc)
    return None
