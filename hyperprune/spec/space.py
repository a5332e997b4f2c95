"""The search space and the explicit candidate pool: where the candidates of a search come from. Torch-free.

A search explores pruning methods (each with domains for its own hyperparameters), sparsity levels,
and a few training settings; or it draws from an explicit pool (``spec.candidates``). Each section
checks itself against the pruning catalogue and the trial config's models when it is parsed, so its
problems are named with their field paths; the rules that span sections are in
``hyperprune.spec.rules``. A concrete candidate is a ``Point`` (hyperprune.spec.point).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pydantic import Field, PrivateAttr, TypeAdapter, ValidationError, model_validator

from hyperprune.contract.document import Issue, Model, issues_error
from hyperprune.contract.pruning import CANDIDATE_METHODS, METHODS, MethodParams, PruningConfig, Sparsity
from hyperprune.contract.trial import ModelConfig, TrainingConfig
from hyperprune.spec.domains import (
    Domain,
    DomainValue,
    Kind,
    Range,
    Scalar,
    ScalarValue,
    camel_keys,
    clean_message,
    domain_issues,
    field_kind,
    setting_issues,
)
from hyperprune.spec.point import Point, Settings

CandidateMethod = Literal[CANDIDATE_METHODS]  # type: ignore[valid-type]
_SPARSITY: TypeAdapter[float] = TypeAdapter(Sparsity)


def params_model(method: str) -> type[MethodParams]:
    return METHODS[method].params


class MethodSpace(Model):
    """One pruning method and the domains of its hyperparameters (unset ones keep their defaults)."""

    method: CandidateMethod = Field(description="a method of the pruning catalogue (hyperprune.contract.pruning)")
    params: dict[str, Domain] = Field(
        default_factory=dict, description="hyperparameter -> value, list of choices or {low, high, log, step}"
    )

    @model_validator(mode="after")
    def _against_the_catalogue(self) -> MethodSpace:
        model = params_model(self.method)
        self.params = camel_keys(model, self.params)
        issues: list[Issue] = []
        for key, domain in self.params.items():
            issues += domain_issues(model, key, domain, f"params.{key}", f"method '{self.method}'")
        if issues:
            raise issues_error("MethodSpace", issues)
        return self


class SearchSpace(Model):
    """What the search explores. Points combine one method's parameters with the shared settings."""

    methods: list[MethodSpace] = Field(default_factory=list, description="pruning methods to search")
    sparsity: Domain = Field(0.67, description="fraction of prunable weights removed: a level, a list or a range")
    training: dict[str, Domain] = Field(
        default_factory=dict, description="training settings to search (any but epochs), e.g. lr"
    )
    model: dict[str, Domain] = Field(default_factory=dict, description="model settings to search: dropout")

    @model_validator(mode="after")
    def _against_the_trial_config(self) -> SearchSpace:
        self.training = camel_keys(TrainingConfig, self.training)
        self.model = camel_keys(ModelConfig, self.model)
        issues = _sparsity_issues(self.sparsity)
        issues += setting_issues("training", self.training, "training", domains=True)
        issues += setting_issues("model", self.model, "model", domains=True)
        if issues:
            raise issues_error("SearchSpace", issues)
        return self

    def size(self) -> int | None:
        """Number of distinct points, or None when a continuous range makes it unbounded."""
        shared = _product(
            [_domain_size(self.sparsity, "float")]
            + [_domain_size(d, field_kind(TrainingConfig, k)) for k, d in self.training.items()]
            + [_domain_size(d, field_kind(ModelConfig, k)) for k, d in self.model.items()]
        )
        total: int | None = 0
        for method in self.methods:
            model = params_model(method.method)
            own = _product([_domain_size(d, field_kind(model, k)) for k, d in method.params.items()])
            if own is None or shared is None or total is None:
                return None
            total += own * shared
        return total

    def points(self) -> Iterator[Point]:
        """Every point of a finite space, in a fixed order (methods, then parameters as listed)."""
        if self.size() is None:
            raise ValueError("the space has a continuous range; its points cannot be listed")

        def grid(domains: Mapping[str, DomainValue], model: type[Model]) -> list[dict[str, ScalarValue]]:
            keys = list(domains)
            axes = [_domain_grid(domains[k], field_kind(model, k)) for k in keys]
            return [dict(zip(keys, combo)) for combo in itertools.product(*axes)]

        for method in self.methods:
            for params, sparsity, training, model in itertools.product(
                grid(method.params, params_model(method.method)),
                _domain_grid(self.sparsity, "float"),
                grid(self.training, TrainingConfig),
                grid(self.model, ModelConfig),
            ):
                yield Point.of(method.method, float(sparsity), params, training, model)


def _sparsity_issues(domain: DomainValue) -> list[Issue]:
    if isinstance(domain, Range):
        located: list[tuple[str, Any]] = [(".low", domain.low), (".high", domain.high)]
    elif isinstance(domain, list):
        located = [(f"[{j}]", value) for j, value in enumerate(domain)]
    else:
        located = [("", domain)]
    issues = []
    for where, value in located:
        try:
            _SPARSITY.validate_python(value)
        except ValidationError as exc:
            issues += [(f"sparsity{where}", clean_message(e["msg"])) for e in exc.errors()]
    return issues


def _product(sizes: list[int | None]) -> int | None:
    if any(s is None for s in sizes):
        return None
    return math.prod(s for s in sizes if s is not None)


def _domain_size(domain: DomainValue, kind: Kind) -> int | None:
    if isinstance(domain, Range):
        if kind == "int":
            step = int(domain.step or 1)
            return int(domain.high - domain.low) // step + 1
        if domain.step is None:
            return None
        return int(math.floor((domain.high - domain.low) / domain.step + 1e-9)) + 1
    if isinstance(domain, list):
        return len(domain)
    return 1


def _domain_grid(domain: DomainValue, kind: Kind) -> list[ScalarValue]:
    if isinstance(domain, Range):
        n = _domain_size(domain, kind)
        step = domain.step or 1
        if kind == "int":
            return [int(domain.low) + i * int(step) for i in range(n or 0)]
        return [float(domain.low) + i * float(step) for i in range(n or 0)]
    if isinstance(domain, list):
        return list(domain)
    return [domain]


class Candidate(Model):
    """One concrete point of an explicit candidate pool (spec.candidates)."""

    method: CandidateMethod
    sparsity: Sparsity
    params: dict[str, Scalar] = Field(default_factory=dict, description="method hyperparameters; unset keep defaults")
    training: dict[str, Scalar | None] = Field(
        default_factory=dict, description="training settings overriding spec.training (null where it means off: clip)"
    )
    model: dict[str, Scalar] = Field(default_factory=dict, description="model settings overriding spec.model (dropout)")
    _pruning: PruningConfig = PrivateAttr()

    @model_validator(mode="after")
    def _against_the_catalogue(self) -> Candidate:
        params_type = params_model(self.method)
        self.params = camel_keys(params_type, self.params)
        self.training = camel_keys(TrainingConfig, self.training)
        self.model = camel_keys(ModelConfig, self.model)
        issues = setting_issues("training", self.training, "training", domains=False)
        issues += setting_issues("model", self.model, "model", domains=False)
        try:
            params = params_type.model_validate(self.params)
        except ValidationError as exc:
            issues = [(f"params.{'.'.join(map(str, e['loc']))}", clean_message(e["msg"])) for e in exc.errors()] + issues
        else:
            # Parsed here, once: the point, the trial config and the pruner take this object as it is.
            self._pruning = METHODS[self.method].settings.model_construct(
                method=self.method, sparsity=self.sparsity, params=params
            )  # type: ignore[assignment]
        if issues:
            raise issues_error("Candidate", issues)
        return self

    def point(self) -> Point:
        return Point(self._pruning, Settings(self.training), Settings(self.model))
