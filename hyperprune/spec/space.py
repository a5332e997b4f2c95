"""The search space and its points. Torch-free.

A search explores pruning methods (each with ranges or choices for its own hyperparameters), sparsity
levels, and a few training settings. Every searchable setting takes a *domain*, written the short way:

    deathRate: 0.5                       # a fixed value
    death: [magnitude, threshold]        # a list of choices
    deathRate: {low: 0.4, high: 0.9}     # a range (optional: log: true, step: 0.1)

A *point* is one concrete candidate, a plain JSON dict (what the policy stores and the benchmark pools):

    {"method": "selfish", "sparsity": 0.67, "params": {"deathRate": 0.5},
     "training": {"lr": 20.0}, "model": {"dropout": 0.2}}

Parameter names are camelCase on the wire; snake_case names are accepted and rewritten.
"""

from __future__ import annotations

import itertools
import json
import math
import types
import typing
from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, Tag, model_validator

from hyperprune.pruning.catalog import METHODS
from hyperprune.schema import Model
from hyperprune.trial.config import ModelConfig, TrainingConfig

# Tags in angle brackets are dropped from error paths (see hyperprune.spec.validation).
_SCALAR_TAGS = {bool: "<bool>", int: "<int>", float: "<float>", str: "<str>"}


def _scalar_tag(value: Any) -> str | None:
    return _SCALAR_TAGS.get(type(value))


def _number_tag(value: Any) -> str | None:
    return _SCALAR_TAGS.get(type(value)) if type(value) in (int, float) else None


Scalar = Annotated[
    Union[
        Annotated[bool, Tag("<bool>")],
        Annotated[int, Tag("<int>")],
        Annotated[float, Tag("<float>")],
        Annotated[str, Tag("<str>")],
    ],
    Discriminator(
        _scalar_tag, custom_error_type="scalar", custom_error_message="expected a number, a string or a boolean"
    ),
]

Number = Annotated[
    Union[Annotated[int, Tag("<int>")], Annotated[float, Tag("<float>")]],
    Discriminator(_number_tag, custom_error_type="number", custom_error_message="expected a number"),
]


class Range(Model):
    """A numeric interval; integer parameters draw integers."""

    low: Number
    high: Number
    log: bool = Field(False, description="draw uniformly in log space (needs low > 0)")
    step: Number | None = Field(None, description="draw only low, low+step, ... (not with log)")

    @model_validator(mode="after")
    def _ordered(self) -> "Range":
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high}); give a single value to fix it")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        if self.step is not None:
            if self.step <= 0:
                raise ValueError("step must be positive")
            if self.log:
                raise ValueError("give either log or step, not both")
        return self


def _domain_tag(value: Any) -> str | None:
    if isinstance(value, (dict, Range)):
        return "<range>"
    if isinstance(value, list):
        return "<choices>"
    return "<value>" if _scalar_tag(value) else None


Domain = Annotated[
    Union[
        Annotated[Range, Tag("<range>")],
        Annotated[list[Scalar], Tag("<choices>"), Field(min_length=1)],
        Annotated[Scalar, Tag("<value>")],
    ],
    Discriminator(
        _domain_tag,
        custom_error_type="domain",
        custom_error_message="expected a value, a list of choices or a range {low, high}",
    ),
]

CandidateMethod = Literal[tuple(name for name in METHODS if name != "none")]  # type: ignore[valid-type]

# Searchable settings outside the pruning method. The model's other settings change the recurrent
# state, and spectra of different sizes cannot be compared with the dense reference's.
SEARCHABLE_MODEL_FIELDS = ("dropout",)
UNSEARCHABLE_TRAINING_FIELDS = ("epochs",)


def domain_values(domain: Any) -> list[Any]:
    """The concrete values a domain names (a range's bounds), for validation."""
    if isinstance(domain, Range):
        return [domain.low, domain.high]
    if isinstance(domain, list):
        return list(domain)
    return [domain]


# ---- field introspection -------------------------------------------------------------------


def _strip(annotation: Any) -> list[Any]:
    """The concrete types an annotation admits (Annotated and Optional unwrapped)."""
    if typing.get_origin(annotation) is Annotated:
        return _strip(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _strip(arg)]
    return [annotation]


def field_kind(model: type[Model], name: str) -> Literal["int", "float", "other"]:
    """Whether a settings field is an integer, a float or something else (choices only)."""
    kinds = [t for t in _strip(model.model_fields[name].annotation) if t is not type(None)]
    if kinds == [int]:
        return "int"
    if kinds and all(t in (int, float) for t in kinds):
        return "float"
    return "other"


def field_name(model: type[Model], key: str) -> str | None:
    """The Python name of a field given by its camelCase alias or snake_case name."""
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return name
    return None


def camel_keys(model: type[Model], mapping: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = field_name(model, key)
        alias = model.model_fields[name].alias if name else None
        out[alias or key] = value
    return out


def params_model(method: str) -> type[Model]:
    return METHODS[method][1]


# ---- the space -------------------------------------------------------------------------------


class MethodSpace(Model):
    """One pruning method and the domains of its hyperparameters (unset ones keep their defaults)."""

    method: CandidateMethod = Field(description="a method of the pruning catalogue (hyperprune.pruning.catalog)")
    params: dict[str, Domain] = Field(
        default_factory=dict, description="hyperparameter -> value, list of choices or {low, high, log, step}"
    )

    @model_validator(mode="after")
    def _camel(self) -> "MethodSpace":
        self.params = camel_keys(params_model(self.method), self.params)
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
    def _camel(self) -> "SearchSpace":
        self.training = camel_keys(TrainingConfig, self.training)
        self.model = camel_keys(ModelConfig, self.model)
        return self

    def size(self) -> int | None:
        """Number of distinct points, or None when a continuous range makes it unbounded."""
        shared = _product(
            [_domain_size(self.sparsity, "float")]
            + [_domain_size(d, field_kind(TrainingConfig, field_name(TrainingConfig, k))) for k, d in self.training.items()]
            + [_domain_size(d, field_kind(ModelConfig, field_name(ModelConfig, k))) for k, d in self.model.items()]
        )
        total: int | None = 0
        for method in self.methods:
            model = params_model(method.method)
            own = _product([_domain_size(d, field_kind(model, field_name(model, k))) for k, d in method.params.items()])
            if own is None or shared is None or total is None:
                return None
            total += own * shared
        return total

    def points(self) -> typing.Iterator[dict[str, Any]]:
        """Every point of a finite space, in a fixed order (methods, then parameters as listed)."""
        if self.size() is None:
            raise ValueError("the space has a continuous range; its points cannot be listed")

        def grid(domains: dict[str, Any], model: type[Model]) -> list[dict[str, Any]]:
            keys = list(domains)
            axes = [_domain_grid(domains[k], field_kind(model, field_name(model, k))) for k in keys]
            return [dict(zip(keys, combo)) for combo in itertools.product(*axes)]

        for method in self.methods:
            for params, sparsity, training, model in itertools.product(
                grid(method.params, params_model(method.method)),
                _domain_grid(self.sparsity, "float"),
                grid(self.training, TrainingConfig),
                grid(self.model, ModelConfig),
            ):
                yield make_point(method.method, sparsity, params, training, model)


def _product(sizes: list[int | None]) -> int | None:
    if any(s is None for s in sizes):
        return None
    return math.prod(sizes)  # type: ignore[arg-type]


def _domain_size(domain: Any, kind: str) -> int | None:
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


def _domain_grid(domain: Any, kind: str) -> list[Any]:
    if isinstance(domain, Range):
        n = _domain_size(domain, kind)
        step = domain.step or 1
        if kind == "int":
            return [int(domain.low) + i * int(step) for i in range(n or 0)]
        return [float(domain.low) + i * float(step) for i in range(n or 0)]
    if isinstance(domain, list):
        return list(domain)
    return [domain]


# ---- points ---------------------------------------------------------------------------------


class Candidate(Model):
    """One concrete point of an explicit candidate pool (spec.candidates)."""

    method: CandidateMethod
    sparsity: float = Field(ge=0.0, lt=1.0, description="fraction of prunable weights set to zero")
    params: dict[str, Scalar] = Field(default_factory=dict, description="method hyperparameters; unset keep defaults")
    training: dict[str, Scalar] = Field(default_factory=dict, description="training settings overriding spec.training")
    model: dict[str, Scalar] = Field(default_factory=dict, description="model settings overriding spec.model (dropout)")

    @model_validator(mode="after")
    def _camel(self) -> "Candidate":
        self.params = camel_keys(params_model(self.method), self.params)
        self.training = camel_keys(TrainingConfig, self.training)
        self.model = camel_keys(ModelConfig, self.model)
        return self

    def point(self) -> dict[str, Any]:
        return make_point(self.method, self.sparsity, self.params, self.training, self.model)


def make_point(
    method: str,
    sparsity: float,
    params: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    model: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A point in canonical form: every section present, keys sorted."""
    return {
        "method": method,
        "sparsity": float(sparsity),
        "params": dict(sorted((params or {}).items())),
        "training": dict(sorted((training or {}).items())),
        "model": dict(sorted((model or {}).items())),
    }


DENSE_POINT: dict[str, Any] = make_point("none", 0.0)


def _normal(value: Any) -> Any:
    # 1 and 1.0 are the same point; so are floats equal to 12 significant digits.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return float(f"{float(value):.12g}")


def point_key(point: dict[str, Any]) -> str:
    """A string equal for equal points, for duplicate detection."""
    canonical = make_point(
        point["method"], point.get("sparsity", 0.0), point.get("params"), point.get("training"), point.get("model")
    )
    normal = {
        key: ({k: _normal(v) for k, v in value.items()} if isinstance(value, dict) else _normal(value))
        for key, value in canonical.items()
    }
    return json.dumps(normal, sort_keys=True)


def describe_point(point: dict[str, Any]) -> str:
    """Short human form: ``selfish s=0.67 deathRate=0.5 lr=20``."""
    parts = [point["method"], f"s={point.get('sparsity', 0.0):g}"]
    for section in ("params", "training", "model"):
        for key, value in (point.get(section) or {}).items():
            parts.append(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)
