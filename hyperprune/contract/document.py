"""The base of every typed document in Hyperprune (search spec, trial config, reports). Part of the contract.

Kubernetes documents use camelCase field names; Python code uses snake_case. Models accept both
on input and write camelCase (``dump``), so a trial config, a report line and a custom resource all
read the same way.
"""

from __future__ import annotations

import functools
import re
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError
from typing_extensions import Self

# A problem found by a rule: (field path, message), e.g. ("lyapunov.k", "64 exponents requested ...").
Issue = tuple[str, str]


class Model(BaseModel):
    """Strict (unknown fields are errors), camelCase on the wire, snake_case in Python.

    Numbers are what they say: every float is finite (YAML's ``.inf`` and ``.nan`` are refused
    wherever a number is read, also inside lists and dicts of settings) and a boolean is not a
    number (``epochs: true`` is refused, not read as 1)."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        alias_generator=to_camel,
        validate_default=True,
        allow_inf_nan=False,
    )

    @model_validator(mode="before")
    @classmethod
    def _no_boolean_numbers(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            issues = [(key, problem) for key, value in data.items()
                      if isinstance(key, str) and (problem := _boolean_number(cls, key, value))]
            if issues:
                raise issues_error(cls.__name__, issues)
        return data

    def dump(self, **kwargs: Any) -> dict[str, Any]:
        """JSON-compatible dict with camelCase keys, as written to files and custom resources."""
        kwargs.setdefault("by_alias", True)
        kwargs.setdefault("mode", "json")
        return self.model_dump(**kwargs)

    def with_values(self, values: Mapping[str, Any]) -> Self:
        """A copy with some fields (by camelCase alias or snake_case name) set, each one validated
        on its own: the fields not named are not parsed again."""
        copy = self.model_copy(deep=True)
        for key, value in values.items():
            name = field_name(type(self), key)
            if name is None:
                raise issues_error(type(self).__name__, [(key, "Extra inputs are not permitted")])
            problem = _boolean_number(type(self), key, value)
            if problem:
                raise issues_error(type(self).__name__, [(key, problem)])
            self.__pydantic_validator__.validate_assignment(copy, name, value)
        return copy


def admitted_types(annotation: Any) -> list[Any]:
    """The types an annotation admits, Annotated and unions unwrapped."""
    if typing.get_origin(annotation) is Annotated:
        return admitted_types(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in admitted_types(arg)]
    return [annotation]


def _is_numeric(types_: list[Any]) -> bool:
    concrete = [t for t in types_ if t is not type(None)]
    return bool(concrete) and all(t in (int, float) for t in concrete)


@functools.lru_cache(maxsize=None)
def _numeric_kind(model: type[BaseModel], name: str) -> Literal["number", "numbers", "other"]:
    """Whether a field holds a number (``int``, ``float``, optional or not), a list of numbers, or
    something else: the fields where a boolean must not pass for 0 or 1."""
    info = model.model_fields.get(name)
    if info is None:
        return "other"
    admitted = admitted_types(info.annotation)
    if _is_numeric(admitted):
        return "number"
    for t in admitted:
        if typing.get_origin(t) in (list, tuple) and _is_numeric([e for a in typing.get_args(t) for e in admitted_types(a)
                                                                  if a is not Ellipsis]):
            return "numbers"
    return "other"


def _boolean_number(model: type[BaseModel], key: str, value: Any) -> str | None:
    """What is wrong when a boolean stands where the field (by name or alias) wants a number."""
    name = field_name(model, key)
    kind = _numeric_kind(model, name) if name is not None else "other"
    if kind == "number" and isinstance(value, bool):
        return f"expected a number, got {str(value).lower()}"
    if kind == "numbers" and isinstance(value, (list, tuple)) and any(isinstance(v, bool) for v in value):
        return "expected numbers, got a boolean among them"
    return None


def field_name(model: type[BaseModel], key: str) -> str | None:
    """The Python name of a field given by its camelCase alias or snake_case name."""
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return name
    return None


def error_path(loc: tuple[Any, ...]) -> str:
    """Render a pydantic error location as a field path: ``spec.space.methods[0].params``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<root>"


_PATH_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def path_loc(path: str) -> tuple[str | int, ...]:
    """The inverse of ``error_path``: ``space.methods[0].params`` -> ``("space", "methods", 0, "params")``."""
    return tuple(int(index) if index else name for index, name in _PATH_PART.findall(path))


def issues_error(title: str, issues: Iterable[Issue]) -> ValidationError:
    """A pydantic ``ValidationError`` carrying rule issues at their paths, for a model validator to
    raise: pydantic prefixes each path with where the model sits, as for its own field errors."""
    details: list[InitErrorDetails] = [
        {"type": PydanticCustomError("rule", "{message}", {"message": message}), "loc": path_loc(path), "input": None}
        for path, message in issues
    ]
    return ValidationError.from_exception_data(title, details)


def format_validation_error(exc: Exception, prefix: str = "") -> list[str]:
    """One line per error, each naming its field path, for CLI output and CR conditions."""
    if not isinstance(exc, ValidationError):
        return [str(exc)]
    lines = []
    for err in exc.errors():
        path = error_path(tuple(err["loc"]))
        if prefix:
            path = f"{prefix}.{path}" if path != "<root>" else prefix
        msg = err["msg"]
        lines.append(f"{path}: {msg}")
    return lines


def dumped(model: Model | None) -> dict[str, Any] | None:
    """``model.dump()``, or None for no model (an optional part of a JSON document)."""
    return None if model is None else model.dump()
