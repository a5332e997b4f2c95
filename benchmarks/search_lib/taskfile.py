"""A benchmark task as a file: ``benchmarks/tasks/<name>.yaml``, validated like a search spec.

A task is a real corpus with a model, a training recipe, a pool of pruned candidates and the epochs at
which the ground truth records spectra, at the ``cpu`` scale (the benchmark's), with ``quick`` (the
smoke test) and ``gpu`` overrides under ``scales``. Everything a task sets is a setting of the search
spec it becomes (``data``, ``model``, ``training``, ``lyapunov``, ``strategy.rungs``,
``budget.parallelism``), so the task is checked twice: its own fields here (unknown fields, unknown
pruning families, sparsities outside (0, 1)), then each scale's search document by the spec's own
parser. Every problem is one ``field.path: message`` line; ``load_task`` raises ``TaskFileError``
with all of them, and ``benchmarks/search.py`` prints them and exits 2.

    name: ptb
    title: PTB-eval, word level, 1 x 128 LSTM
    data: {corpus: ptb, level: word, path: ptb-eval, files: {train: ptb.valid.txt, test: ptb.test.txt}}
    model: {arch: lstm, hiddenSize: 128}
    training: {optimizer: sgd, lr: 20, epochs: 60, maxBatches: 10, ...}
    lyapunov: {state: full}
    pool: {families: [magnitude-layer, set, ...], sparsities: [0.5, 0.8]}
    spectra: {everyEpochUntil: 8, thenEvery: 13, alsoStates: [hidden]}
    scales: {quick: {model: {hiddenSize: 32}, training: {epochs: 6}, ...}}

``data.path`` is relative to the ``--data`` folder given to the benchmark.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, PositiveInt, ValidationError, field_validator

from hyperprune.contract.document import Issue, Model
from hyperprune.contract.trial import DataConfig, ModelConfig, TrainingConfig
from hyperprune.spec.errors import render, validation_issues
from hyperprune.spec.sections import LyapunovSettings

SCALE_NAMES = ("quick", "cpu", "gpu")
OVERRIDABLE = ("model", "training", "lyapunov", "pool", "spectra", "rungs", "parallelism")
DEFAULT_RUNGS = {"first": 2, "step": 1, "keepFraction": 0.5, "finalists": 1}


class TaskFileError(ValueError):
    """A task file that cannot run; ``errors`` holds one ``path: message`` line per problem."""

    def __init__(self, path: Path, errors: list[str]):
        self.path = path
        self.errors = errors
        super().__init__(f"{path}:\n  " + "\n  ".join(errors))


class Pool(Model):
    """Every family at every sparsity level (the families are the benchmark's catalogue, tasks.FAMILIES)."""

    families: list[str] = Field(min_length=1)
    sparsities: list[float] = Field(min_length=1)

    @field_validator("families")
    @classmethod
    def _known(cls, families: list[str]) -> list[str]:
        from .tasks import FAMILIES

        unknown = [f for f in families if f not in FAMILIES]
        if unknown:
            raise ValueError(f"unknown families {unknown}; choose from {', '.join(FAMILIES)}")
        if len(set(families)) != len(families):
            raise ValueError("a family is listed twice")
        return families

    @field_validator("sparsities")
    @classmethod
    def _fractions(cls, sparsities: list[float]) -> list[float]:
        bad = [s for s in sparsities if not 0.0 < s < 1.0]
        if bad:
            raise ValueError(f"sparsities must lie in (0, 1); got {bad}")
        return sparsities


class Spectra(Model):
    """Epochs at which every ground-truth trial records a spectrum: each epoch up to
    ``everyEpochUntil`` (every rung any replayed rule uses), then every ``thenEvery`` epochs, and the
    last. ``alsoStates``: spectra of another state recorded beside the spec's (an LSTM's hidden-only
    spectrum beside the full (h, c) one), for the predictor comparison only."""

    every_epoch_until: PositiveInt = 8
    then_every: PositiveInt = 6
    also_states: list[Literal["full", "hidden"]] = Field(default_factory=list)


class Overrides(Model):
    """What a scale changes; each section is merged over the task's own."""

    model: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    lyapunov: dict[str, Any] | None = None
    pool: dict[str, Any] | None = None
    spectra: dict[str, Any] | None = None
    rungs: dict[str, Any] | None = None
    parallelism: PositiveInt | None = None


class TaskFile(Model):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", description="file stem of the results")
    title: str = Field(min_length=1)
    data: dict[str, Any]
    model: dict[str, Any]
    training: dict[str, Any]
    lyapunov: dict[str, Any] = Field(default_factory=dict)
    pool: dict[str, Any]  # a Pool, checked per scale (a scale's pool is merged over this one)
    spectra: dict[str, Any] = Field(default_factory=dict)  # a Spectra, likewise
    rungs: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULT_RUNGS))
    parallelism: PositiveInt = 2
    scales: dict[Literal["quick", "gpu"], Overrides] = Field(default_factory=dict)


def merged(base: dict[str, Any], over: dict[str, Any] | None) -> dict[str, Any]:
    """``over`` merged into a copy of ``base``, mappings recursively; a null value sets null."""
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def scale_sections(task: TaskFile, scale: str) -> dict[str, Any]:
    """The task's sections at one scale (raw camelCase dicts, the pool and spectra as dicts)."""
    base: dict[str, Any] = {
        "model": task.model,
        "training": task.training,
        "lyapunov": task.lyapunov,
        "pool": task.pool,
        "spectra": Spectra().dump() | task.spectra,
        "rungs": task.rungs,
        "parallelism": task.parallelism,
    }
    over = task.scales.get(scale) if scale != "cpu" else None  # type: ignore[call-overload]
    if over is None:
        return base
    out = dict(base)
    for key in OVERRIDABLE:
        value = getattr(over, key)
        if value is None:
            continue
        out[key] = merged(base[key], value) if isinstance(value, dict) else value
    return out


def _scale_issues(task: TaskFile, scale: str) -> list[Issue]:
    """The scale's sections against their models, then its search document against the spec's rules
    across sections (which need every section parsed)."""
    from hyperprune.spec import SearchSpecError, parse_search

    from .tasks import document_for

    where = "" if scale == "cpu" else f"scales.{scale}."
    sections = {**scale_sections(task, scale), "data": task.data}
    models: dict[str, type[Model]] = {"data": DataConfig, "model": ModelConfig, "training": TrainingConfig,
                                      "lyapunov": LyapunovSettings, "pool": Pool, "spectra": Spectra}
    issues: list[Issue] = []
    for key, model in models.items():
        try:
            model.model_validate(sections[key])
        except ValidationError as exc:
            issues += validation_issues(exc, key if key == "data" else f"{where}{key}")
    pool_ok = not any(path.startswith(f"{where}pool") for path, _ in issues)
    if len(issues) > (0 if pool_ok else sum(1 for p, _ in issues if p.startswith(f"{where}pool"))):
        return issues
    document = document_for(task, scale, data_root=Path("/data"), device="cpu", strategy="lsh", valid_pool=pool_ok)
    try:
        parse_search(document)
    except SearchSpecError as exc:
        for line in exc.errors:
            path, _, message = line.partition(": ")
            issue = (f"{where}{_task_path(path)}", message)
            if pool_ok or not path.startswith("spec.candidates"):
                issues.append(issue)
    return issues


def _task_path(spec_path: str) -> str:
    """A search-spec field path as the task file's: spec.strategy.rungs.first -> rungs.first."""
    path = spec_path.removeprefix("spec.")
    for spec_prefix, task_prefix in (("strategy.rungs", "rungs"), ("budget.parallelism", "parallelism"),
                                     ("candidates", "pool (candidates)")):
        if path.startswith(spec_prefix):
            return task_prefix + path[len(spec_prefix):]
    return path


def parse_task(document: object, path: Path) -> TaskFile:
    if not isinstance(document, dict):
        raise TaskFileError(path, [f"<root>: expected a task (a mapping), got {type(document).__name__}"])
    try:
        task = TaskFile.model_validate(document)
    except ValidationError as exc:
        raise TaskFileError(path, render(validation_issues(exc))) from None
    if path.stem != task.name:
        raise TaskFileError(path, [f"name: {task.name!r} must equal the file's stem {path.stem!r}"])
    issues = _scale_issues(task, "cpu")
    for scale in task.scales:  # a problem a scale inherits is told once, where it is written
        told = {(path, message) for path, message in issues}
        issues += [(path, message) for path, message in _scale_issues(task, scale)
                   if (path.removeprefix(f"scales.{scale}."), message) not in told]
    if issues:
        raise TaskFileError(path, render(issues))
    return task


def load_task(path: str | Path) -> TaskFile:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise TaskFileError(path, [f"cannot read the file: {exc.strerror or exc}"]) from None
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise TaskFileError(path, [f"not valid YAML: {exc}"]) from None
    if len(documents) != 1:
        raise TaskFileError(path, [f"holds {len(documents)} YAML documents, expected one task"])
    return parse_task(documents[0], path)
