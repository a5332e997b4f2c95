"""New candidates as workers free up: Optuna's TPE (the published generation-and-insertion step) or
uniform random draws. Never a duplicate of an existing candidate.

TPE's objective is the LS distance at the first rung (lower is better); trials still training count
as running (Optuna's constant liar keeps parallel proposals apart), failed ones as failed. The
sampler is seeded from the spec seed, the candidate's index and the attempt, so a proposal depends
only on the state: a restarted engine proposes the same candidate.

With an explicit pool (spec.candidates), proposals are drawn in the space the pool spans and
snapped to the nearest pool point not used yet.
"""

from __future__ import annotations

import logging
import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeGuard

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState as OptunaTrialState
from optuna.trial import create_trial

from hyperprune.contract.trial import ModelConfig, TrainingConfig
from hyperprune.policy.scoring import derive_seed
from hyperprune.spec.domains import DomainValue, Kind, Range, ScalarValue, field_kind
from hyperprune.spec.models import SearchSpec
from hyperprune.spec.point import Point
from hyperprune.spec.point import Scalar as PointValue
from hyperprune.spec.space import MethodSpace, SearchSpace, params_model

# Finite spaces up to this size are listed to find an unused point when proposals keep duplicating.
_LISTABLE = 100_000


class SpaceExhausted(RuntimeError):
    """Every point of the space (or pool) is already a candidate."""


@dataclass(frozen=True)
class Evaluated:
    """An existing candidate as the generator sees it."""

    point: Point
    value: float | None = None  # objective, lower is better; None: not known yet (still training)
    failed: bool = False


# ---- the space as Optuna distributions ---------------------------------------------------------


def _distribution(domain: DomainValue, kind: Kind) -> BaseDistribution | None:
    """None for a fixed value (nothing to sample)."""
    if isinstance(domain, Range):
        if kind == "int":
            return IntDistribution(int(domain.low), int(domain.high), log=domain.log, step=int(domain.step or 1))
        return FloatDistribution(float(domain.low), float(domain.high), log=domain.log, step=domain.step)
    if isinstance(domain, list):
        return CategoricalDistribution(domain)
    return None


class Encoding:
    """A search space as named Optuna distributions; a method's parameters exist only when that
    method is drawn (conditional parameters, which TPE handles per parameter)."""

    def __init__(self, space: SearchSpace):
        methods = [m.method for m in space.methods]
        self.labels = [m if methods.count(m) == 1 else f"{m}#{i}" for i, m in enumerate(methods)]
        self.entries = list(space.methods)
        self.space = space

    def _shared(self) -> Iterator[tuple[str, str, DomainValue, Kind]]:
        """(section, key, domain, kind) of the settings every point has."""
        yield "sparsity", "", self.space.sparsity, "float"
        sections: tuple[tuple[str, type[TrainingConfig] | type[ModelConfig], dict[str, DomainValue]], ...] = (
            ("training", TrainingConfig, self.space.training),
            ("model", ModelConfig, self.space.model),
        )
        for section, model, domains in sections:
            for key, domain in domains.items():
                yield section, key, domain, field_kind(model, key)

    def _own(self, index: int) -> Iterator[tuple[str, DomainValue, Kind]]:
        model = params_model(self.entries[index].method)
        for key, domain in self.entries[index].params.items():
            yield key, domain, field_kind(model, key)

    @staticmethod
    def _name(section: str, key: str) -> str:
        return section if section == "sparsity" else f"{section}.{key}"

    def suggest(self, trial: optuna.Trial) -> Point:
        """Draw one point with an Optuna trial (define-by-run)."""
        label = trial.suggest_categorical("method", self.labels)
        index = self.labels.index(label)
        params = {key: self._draw(trial, f"{label}.{key}", domain, kind) for key, domain, kind in self._own(index)}
        shared: dict[str, dict[str, ScalarValue]] = {"training": {}, "model": {}}
        sparsity = 0.0
        for section, key, domain, kind in self._shared():
            value = self._draw(trial, self._name(section, key), domain, kind)
            if section == "sparsity":
                sparsity = value
            else:
                shared[section][key] = value
        return Point.of(self.entries[index].method, sparsity, params, shared["training"], shared["model"])

    @staticmethod
    def _draw(trial: optuna.Trial, name: str, domain: DomainValue, kind: Kind) -> Any:
        dist = _distribution(domain, kind)
        if isinstance(dist, IntDistribution):
            return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
        if isinstance(dist, FloatDistribution):
            return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
        if isinstance(dist, CategoricalDistribution):
            return trial.suggest_categorical(name, list(dist.choices))
        return domain

    def encode(self, point: Point) -> tuple[dict[str, Any], dict[str, BaseDistribution]] | None:
        """Optuna params and distributions of an existing point; None if it lies outside the space."""
        for index, entry in enumerate(self.entries):
            if entry.method != point.method:
                continue
            params: dict[str, Any] = {"method": self.labels[index]}
            dists: dict[str, BaseDistribution] = {"method": CategoricalDistribution(self.labels)}
            given = point.params
            values: list[tuple[str, Any, DomainValue, Kind]] = [
                (f"{self.labels[index]}.{k}", given.get(k), d, kind) for k, d, kind in self._own(index)
            ]
            values += [
                (self._name(s, k), point.sparsity if s == "sparsity" else _section(point, s).get(k), d, kind)
                for s, k, d, kind in self._shared()
            ]
            if all(_contains(d, v, kind) for _, v, d, kind in values):
                for name, value, domain, kind in values:
                    dist = _distribution(domain, kind)
                    if dist is not None:
                        params[name] = value
                        dists[name] = dist
                return params, dists
        return None


def _section(point: Point, name: str) -> Mapping[str, PointValue]:
    return point.training if name == "training" else point.model


def _contains(domain: DomainValue, value: ScalarValue | None, kind: Kind) -> bool:
    if value is None:
        return False
    if isinstance(domain, Range):
        if not _is_number(value):
            return False
        return domain.low <= value <= domain.high and (kind != "int" or float(value).is_integer())
    if isinstance(domain, list):
        return value in domain
    return value == domain


# ---- the pool's space and snapping -------------------------------------------------------------


def _is_number(v: object) -> TypeGuard[int | float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _domain_of(values: list[ScalarValue]) -> DomainValue:
    distinct = list(dict.fromkeys(values))
    if len(distinct) == 1:
        return distinct[0]
    numbers = [v for v in distinct if _is_number(v)]
    if len(numbers) == len(distinct):
        if all(isinstance(v, int) for v in numbers):
            return Range(low=min(numbers), high=max(numbers))
        return Range(low=float(min(numbers)), high=float(max(numbers)))
    return distinct


def pool_space(pool: Sequence[Point]) -> SearchSpace:
    """The smallest space of this module's kind that contains every pool point."""
    methods: dict[str, dict[str, list[ScalarValue]]] = {}
    shared: dict[str, dict[str, list[ScalarValue]]] = {"training": {}, "model": {}}
    for point in pool:
        own = methods.setdefault(point.method, {})
        for key, value in point.params.items():
            if value is not None:  # pruning settings are never null; the check narrows the type
                own.setdefault(key, []).append(value)
        for section in shared:
            for key, value in _section(point, section).items():
                if value is not None:  # a setting turned off (clip: null) spans nothing to draw from
                    shared[section].setdefault(key, []).append(value)
    # Built from pool points the spec has validated: nothing to check again.
    return SearchSpace.model_construct(
        methods=[
            MethodSpace.model_construct(method=m, params={k: _domain_of(v) for k, v in own.items()})
            for m, own in methods.items()
        ],
        sparsity=_domain_of([p.sparsity for p in pool]),
        training={k: _domain_of(v) for k, v in shared["training"].items()},
        model={k: _domain_of(v) for k, v in shared["model"].items()},
    )


def _coordinates(point: Point) -> dict[str, PointValue]:
    out: dict[str, PointValue] = {"sparsity": point.sparsity}
    for section, values in (("params", point.params), ("training", point.training), ("model", point.model)):
        out.update({f"{section}.{k}": v for k, v in values.items()})
    return out


def nearest(point: Point, choices: Sequence[Point], pool: Sequence[Point]) -> Point:
    """The choice closest to a proposal: same method first, then the sum over settings of the
    numeric difference scaled by the pool's spread (1 for a different or missing value); ties go to
    the earlier choice."""
    spans: dict[str, tuple[float, float]] = {}  # setting -> (lowest, highest) in the pool
    for p in pool:
        for name, value in _coordinates(p).items():
            if _is_number(value):
                lo, hi = spans.get(name, (value, value))
                spans[name] = (min(lo, value), max(hi, value))
    target = _coordinates(point)

    def distance(choice: Point) -> tuple[int, float]:
        coords = _coordinates(choice)
        total = 0.0
        # Sorted: a float sum in set order would depend on the process's string hash seed, and a
        # near-tie between two choices could then snap to different points in different processes.
        for name in sorted(set(coords) | set(target)):
            a, b = coords.get(name), target.get(name)
            if _is_number(a) and _is_number(b):
                lo, hi = spans.get(name, (0.0, 0.0))
                span = hi - lo
                total += abs(a - b) / span if span > 0 else float(a != b)
            else:
                total += float(a != b)
        return (0 if choice.method == point.method else 1, total)

    return min(enumerate(choices), key=lambda ic: (distance(ic[1]), ic[0]))[1]


# ---- proposing -----------------------------------------------------------------------------------


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)


def _target(item: Evaluated) -> tuple[OptunaTrialState, float | None]:
    """How TPE sees a candidate: failed, measured (its objective), or still running (constant liar)."""
    if item.failed:
        return OptunaTrialState.FAIL, None
    if item.value is not None and math.isfinite(item.value):
        return OptunaTrialState.COMPLETE, item.value
    return OptunaTrialState.RUNNING, None


class _Mirror:
    """An Optuna study holding the candidates as TPE trials, kept between proposals.

    Rebuilding a study for every proposal re-adds every candidate (Optuna deep-copies each trial):
    1.3 s a proposal with 1,000 candidates, paid once per candidate started. The mirror adds each
    candidate once and moves a running one to its result when it is measured; anything else (an
    edited history, a changed objective) rebuilds it. Trials asked for proposals are marked failed at
    once, which TPE ignores, so a proposal equals the one a fresh study of the same history gives."""

    def __init__(self, encoding: Encoding) -> None:
        self.encoding = encoding
        self.study = optuna.create_study(direction="minimize")
        self.trials: list[tuple[Point, OptunaTrialState, float | None, int]] = []  # (point, state, value, trial id)
        self.outside: set[Point] = set()  # candidates outside the space (an edited spec): they cannot inform TPE

    def sync(self, history: Sequence[Evaluated]) -> bool:
        """Bring the study to ``history``; False when it cannot be (then build a new mirror)."""
        storage = self.study._storage
        position = 0
        for item in history:
            if item.point in self.outside:
                continue
            state, value = _target(item)
            if position < len(self.trials):
                point, held, held_value, trial_id = self.trials[position]
                if point != item.point:
                    return False
                if (held, held_value) != (state, value):
                    if held != OptunaTrialState.RUNNING or state == OptunaTrialState.RUNNING:
                        return False  # only a running candidate's result can arrive
                    storage.set_trial_state_values(trial_id, state, None if value is None else [value])
                    self.trials[position] = (point, state, value, trial_id)
                position += 1
                continue
            encoded = self.encoding.encode(item.point)
            if encoded is None:
                self.outside.add(item.point)
                continue
            params, dists = encoded
            values = None if value is None else [value]
            frozen = create_trial(state=state, values=values, params=params, distributions=dists)
            trial_id = storage.create_new_trial(self.study._study_id, template_trial=frozen)
            self.trials.append((item.point, state, value, trial_id))
            position += 1
        return position == len(self.trials)

    def ask(self, sampler: optuna.samplers.BaseSampler) -> Point:
        self.study.sampler = sampler
        trial = self.study.ask()
        point = self.encoding.suggest(trial)
        self.study.tell(trial, state=OptunaTrialState.FAIL)  # a proposal, not a candidate: invisible to TPE
        return point


def _mirror(memo: dict[str, Any] | None, space: SearchSpace, history: Sequence[Evaluated]) -> _Mirror:
    """The study for ``space`` in ``memo`` (kept with the search's state), brought up to date."""
    signature = space.model_dump_json()
    kept = memo.get("tpe") if memo is not None else None
    if isinstance(kept, tuple) and kept[0] == signature and kept[1].sync(history):
        mirror: _Mirror = kept[1]
        return mirror
    mirror = _Mirror(Encoding(space))
    mirror.sync(history)
    if memo is not None:
        memo["tpe"] = (signature, mirror)
    return mirror


def sample(spec: SearchSpec, space: SearchSpace, history: Sequence[Evaluated], seed: int, sampler: str,
           memo: dict[str, Any] | None = None) -> Point:
    """One point drawn by TPE (conditioned on the history) or uniformly. ``memo`` keeps the TPE
    study between calls (``SearchState.memo``); the point is the same with or without it."""
    generation = spec.strategy.generation
    with _quiet_optuna():
        if sampler == "tpe":
            chosen = optuna.samplers.TPESampler(
                seed=seed,
                n_startup_trials=generation.startup_trials,
                n_ei_candidates=generation.ei_candidates,
                multivariate=generation.multivariate,
                group=generation.multivariate,  # conditional parameters need groups when modelled jointly
                constant_liar=True,
            )
            return _mirror(memo, space, history).ask(chosen)
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed), direction="minimize")
        return Encoding(space).suggest(study.ask())


def propose(spec: SearchSpec, history: Sequence[Evaluated], index: int, memo: dict[str, Any] | None = None) -> Point:
    """The point of candidate number ``index``: new (not in ``history``), from the space or the pool.
    ``memo``: kept between calls to save work (the search state's), never changing the result."""
    taken = {item.point for item in history}
    pool = spec.pool()
    if pool is not None:
        unused = [p for p in pool if p not in taken]
        if not unused:
            raise SpaceExhausted(f"all {len(pool)} pool candidates are in use")
        seed = derive_seed(spec.seed, "propose", index, 0)
        if spec.strategy.sampler == "random":
            return unused[int(np.random.default_rng(seed).integers(len(unused)))]
        return nearest(sample(spec, pool_space(pool), history, seed, "tpe", memo), unused, pool)

    space = spec.space
    for attempt in range(spec.strategy.generation.proposal_attempts):
        seed = derive_seed(spec.seed, "propose", index, attempt)
        point = sample(spec, space, history, seed, spec.strategy.sampler, memo)
        if point not in taken:
            return point
    return _unused_point(spec, space, taken, derive_seed(spec.seed, "propose-fallback", index))


def _unused_point(spec: SearchSpec, space: SearchSpace, taken: set[Point], seed: int) -> Point:
    """Proposals kept duplicating: pick uniformly among the points not used yet."""
    size = space.size()
    rng = np.random.default_rng(seed)
    if size is not None and size <= _LISTABLE:
        unused = [p for p in space.points() if p not in taken]
        if not unused:
            raise SpaceExhausted(f"all {size} points of the space are in use")
        return unused[int(rng.integers(len(unused)))]
    for _ in range(100):
        point = sample(spec, space, (), int(rng.integers(2**32)), "random")
        if point not in taken:
            return point
    raise SpaceExhausted("100 random draws all duplicated existing candidates; widen the space")
