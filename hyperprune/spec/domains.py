"""Domains: how a searchable setting is written, and the checks of a setting against its model. Torch-free.

Every searchable setting takes a *domain*, written the short way:

    deathRate: 0.5                       # a fixed value
    death: [magnitude, threshold]        # a list of choices
    deathRate: {low: 0.4, high: 0.9}     # a range (optional: log: true, step: 0.1)

A setting belongs to a model of the contract (a pruning method's params, ``TrainingConfig``,
``ModelConfig``); ``domain_issues`` and ``value_issues`` check a domain or a value against that
model's field, so the space is validated with exactly the rules a trial config applies.
Parameter names are camelCase on the wire; snake_case names are accepted and rewritten.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, Tag, ValidationError, model_validator

from hyperprune.contract.document import Issue, Model, admitted_types, field_name
from hyperprune.contract.trial import ModelConfig, TrainingConfig

# Tags in angle brackets are dropped from error paths (hyperprune.spec.errors).
_SCALAR_TAGS = {bool: "<bool>", int: "<int>", float: "<float>", str: "<str>"}

ScalarValue = Union[bool, int, float, str]
Kind = Literal["int", "float", "other"]


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
    def _ordered(self) -> Range:
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
# What a domain is once parsed (mypy sees through the tags).
DomainValue = Union[Range, list[ScalarValue], ScalarValue]


def domain_values(domain: DomainValue) -> list[ScalarValue]:
    """The concrete values a domain names (a range's bounds)."""
    if isinstance(domain, Range):
        return [domain.low, domain.high]
    if isinstance(domain, list):
        return list(domain)
    return [domain]


# ---- field introspection -------------------------------------------------------------------


def field_kind(model: type[Model], key: str) -> Kind:
    """Whether a settings field (by name or alias) is an integer, a float or something else (choices only)."""
    name = field_name(model, key) or key
    kinds = [t for t in admitted_types(model.model_fields[name].annotation) if t is not type(None)]
    if kinds == [int]:
        return "int"
    if kinds and all(t in (int, float) for t in kinds):
        return "float"
    return "other"


def camel_keys(model: type[Model], mapping: Mapping[str, Any]) -> dict[str, Any]:
    """The mapping with every key that names a field of ``model`` written as that field's alias."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = field_name(model, key)
        alias = model.model_fields[name].alias if name else None
        out[alias or key] = value
    return out


# ---- checks ------------------------------------------------------------------------------------

# The model's other settings change the recurrent state, and spectra of different sizes cannot be
# compared with the dense reference's.
SEARCHABLE_MODEL_FIELDS = ("dropout",)
UNSEARCHABLE_TRAINING_FIELDS = ("epochs",)


def clean_message(msg: str) -> str:
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def value_issues(model: type[Model], key: str, value: Any, path: str) -> list[Issue]:
    """A value of one field of ``model`` (by name or alias), checked as the model checks it."""
    name = field_name(model, key) or key
    alias = model.model_fields[name].alias or name
    try:
        model.model_validate({alias: value})
    except ValidationError as exc:
        return [(path, clean_message(err["msg"])) for err in exc.errors() if tuple(err["loc"][:1]) == (alias,)]
    return []


def known_fields(model: type[Model]) -> str:
    return ", ".join(info.alias or name for name, info in model.model_fields.items())


def domain_issues(model: type[Model], key: str, domain: DomainValue, path: str, what: str) -> list[Issue]:
    """A domain of one field of ``model``: every value it names must be one the field accepts."""
    name = field_name(model, key)
    if name is None:
        return [(path, f"unknown parameter of {what}; known: {known_fields(model)}")]
    kind = field_kind(model, name)
    if isinstance(domain, Range):
        if kind == "other":
            return [(path, "a range needs a numeric parameter; give a value or a list of choices")]
        issues = []
        if kind == "int":
            for part in ("low", "high", "step"):
                v = getattr(domain, part)
                if v is not None and not float(v).is_integer():
                    issues.append((f"{path}.{part}", f"{key} is an integer; got {v}"))
        issues += value_issues(model, name, domain.low, f"{path}.low")
        issues += value_issues(model, name, domain.high, f"{path}.high")
        return issues
    if isinstance(domain, list):
        issues = []
        seen: list[Any] = []
        for j, value in enumerate(domain):
            issues += value_issues(model, name, value, f"{path}[{j}]")
            if value in seen:
                issues.append((f"{path}[{j}]", f"duplicate choice {value!r}"))
            seen.append(value)
        return issues
    return value_issues(model, name, domain, path)


def setting_issues(section: Literal["training", "model"], overrides: Mapping[str, Any], path: str, *, domains: bool) -> list[Issue]:
    """Training or model settings a search varies: domains (``spec.space``) or values (a candidate)."""
    model: type[Model] = TrainingConfig if section == "training" else ModelConfig
    issues: list[Issue] = []
    for key, value in overrides.items():
        name = field_name(model, key)
        at = f"{path}.{key}" if path else key
        if section == "training" and name in UNSEARCHABLE_TRAINING_FIELDS:
            issues.append((at, "training.epochs is the horizon of every schedule and of the search; it cannot vary"))
        elif section == "model" and name is not None and name not in SEARCHABLE_MODEL_FIELDS:
            issues.append(
                (
                    at,
                    "only model.dropout can vary between candidates: other model settings change the "
                    "recurrent state, and spectra of different sizes cannot be compared with the dense reference",
                )
            )
        elif domains:
            issues += domain_issues(model, key, value, at, f"spec.{section}")
        elif name is None:
            issues.append((at, f"unknown setting of spec.{section}; known: {known_fields(model)}"))
        else:
            issues += value_issues(model, name, value, at)
    return issues
