"""Whether every candidate of a search can train at all: the rules a trial would refuse it by,
checked before any trial starts. Torch-free.

Each pruning method's schedule must fit the run (``MethodParams.schedule_issues``: a one-shot prune
before the last epoch, RigL's first topology update before its end step, GMP's end after its
start, ...), ISS must be able to reach the sparsity with whole hidden units
(``hyperprune.contract.units``), and the corpus must be large enough for the recipe
(``hyperprune.contract.text``). These are the very functions the trial runtime and the pruners
apply; here they run on every candidate of a pool, and on the corners of a space (a schedule only
gets harder at the ends of each range), and for ISS on every sparsity of the space's domain.

Rules that need the number of optimiser steps per epoch get it from ``steps``: known from the spec
alone for the built-in corpora (``hyperprune.spec.rules``), from the data files for the others (the
local engine's preflight, which reads them). Paths are relative to ``spec``.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import ValidationError

from hyperprune.contract.document import Issue
from hyperprune.contract.pruning import METHODS, PruningSettings
from hyperprune.contract.text import SplitSizes, input_size, recipe_issues, steps_per_epoch
from hyperprune.contract.trial import DataConfig, LyapunovBase, ModelConfig, TrainingConfig
from hyperprune.contract.units import GATES, SPARSITY_TOLERANCE, MatrixShape, core_matrices, unreachable
from hyperprune.spec.domains import DomainValue, Range, ScalarValue, domain_values
from hyperprune.spec.space import Candidate, SearchSpace

Steps = Callable[[TrainingConfig], int]


def steps_for(sizes: SplitSizes) -> Steps:
    """Optimiser steps per epoch of a recipe on a corpus of these sizes."""
    return lambda t: steps_per_epoch(sizes, t.batch_size, t.bptt, t.max_batches)


def corpus_issues(sizes: SplitSizes, training: TrainingConfig, lyapunov: LyapunovBase, data: DataConfig) -> list[Issue]:
    """The corpus against the spec's recipe (the dense reference's, which every trial shares)."""
    issues = recipe_issues(sizes, training.batch_size, lyapunov.warmup + lyapunov.probe_length)
    if data.corpus == "synthetic":  # a built-in corpus has no path: its size is the setting
        issues = [("data.syntheticTokens" if path == "data.path" else path, message) for path, message in issues]
    return issues


def _corners(domain: DomainValue) -> list[ScalarValue]:
    """A domain's extremes: every schedule rule is monotonic in each setting."""
    values = domain_values(domain)
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return sorted({min(numbers), max(numbers)}) if numbers else values[:1]


def _sparsities(domain: DomainValue) -> list[float]:
    """Every sparsity of a domain ISS could be asked for: a range is sampled finer than ISS's
    tolerance, so a stretch of unreachable sparsities wider than that is found."""
    if not isinstance(domain, Range):
        return [float(v) for v in domain_values(domain) if isinstance(v, (int, float))]
    low, high = float(domain.low), float(domain.high)
    step = float(domain.step) if domain.step else SPARSITY_TOLERANCE
    count = int((high - low) / step + 1e-9)
    return [low + i * step for i in range(count + 1)] + ([high] if domain.step is None else [])


def _trainings(training: TrainingConfig, overrides: dict[str, Any]) -> Iterator[TrainingConfig]:
    keys = list(overrides)
    for combo in itertools.product(*(_corners(overrides[k]) for k in keys)):
        try:
            yield training.with_values(dict(zip(keys, combo)))
        except ValidationError:
            continue  # a setting the space's own checks refuse by name


def _settings(method: str, sparsity: float, params: dict[str, Any]) -> PruningSettings | None:
    try:
        return METHODS[method].settings.model_validate({"method": method, "sparsity": sparsity, "params": params})
    except ValidationError:
        return None  # refused by name where the space or pool is parsed


def _candidates(
    space: SearchSpace | None, pool: list[Candidate] | None, training: TrainingConfig
) -> Iterator[tuple[str, PruningSettings, TrainingConfig]]:
    """(where, its pruning settings, its training) of every candidate to check."""
    if pool is not None:
        for i, candidate in enumerate(pool):
            point = candidate.point()
            for own in _trainings(training, {k: v for k, v in point.training.items() if v is not None}):
                yield f"candidates[{i}]", point.pruning, own
        return
    if space is None:
        return
    trainings = list(_trainings(training, dict(space.training)))
    for i, method in enumerate(space.methods):
        names = list(method.params)
        for combo in itertools.product(*(_corners(method.params[n]) for n in names)):
            for sparsity in _corners(space.sparsity):
                settings = _settings(method.method, float(sparsity), dict(zip(names, combo)))
                if settings is not None:
                    for own in trainings:
                        yield f"space.methods[{i}]", settings, own


@functools.lru_cache(maxsize=4096)
def _iss_problem(shapes: tuple[MatrixShape, ...], rhn: bool, sparsity: float) -> str | None:
    return unreachable(list(shapes), rhn, sparsity)


def _iss_issues(
    space: SearchSpace | None, pool: list[Candidate] | None, model: ModelConfig | None, data: DataConfig
) -> list[Issue]:
    if model is None or model.arch not in GATES:  # None: a task's own model, whose shapes only its trial knows
        return []
    shapes = tuple(core_matrices(model, input_size(model, data)))
    rhn = model.arch == "rhn"
    if pool is not None:
        return [
            (f"candidates[{i}].sparsity", problem)
            for i, c in enumerate(pool)
            if c.method == "iss" and (problem := _iss_problem(shapes, rhn, c.sparsity))
        ]
    if space is None or not any(m.method == "iss" for m in space.methods):
        return []
    for sparsity in _sparsities(space.sparsity):
        problem = _iss_problem(shapes, rhn, round(sparsity, 12))
        if problem:
            which = ", ".join(f"spec.space.methods[{i}]" for i, m in enumerate(space.methods) if m.method == "iss")
            return [("space.sparsity", f"{which} (iss) at sparsity {sparsity:.4g}: {problem}")]
    return []


def pruning_issues(
    space: SearchSpace | None,
    pool: list[Candidate] | None,
    training: TrainingConfig,
    model: ModelConfig | None,
    data: DataConfig,
    steps: Steps | None,
) -> list[Issue]:
    """Every candidate's pruning against the run it would train in: the first problem per path.
    ``model`` None (a task's own model) skips ISS reachability, ``steps`` None the rules that need
    the steps per epoch."""
    found: dict[str, str] = {}
    for where, settings, own in _candidates(space, pool, training):
        per_epoch = steps(own) if steps is not None else None
        for path, message in settings.params.schedule_issues(settings.sparsity, own.epochs, per_epoch):
            found.setdefault(f"{where}.{path}", message)
    for path, message in _iss_issues(space, pool, model, data):
        found.setdefault(path, message)
    return list(found.items())
