"""The base of every typed document in Hyperprune (search spec, trial config, reports).

Kubernetes documents use camelCase field names; Python code uses snake_case. Models accept both
on input and write camelCase (``dump``), so a trial config, a report line and a custom resource all
read the same way.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Model(BaseModel):
    """Strict (unknown fields are errors), camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        alias_generator=to_camel,
        validate_default=True,
    )

    def dump(self, **kwargs: Any) -> dict[str, Any]:
        """JSON-compatible dict with camelCase keys, as written to files and custom resources."""
        kwargs.setdefault("by_alias", True)
        kwargs.setdefault("mode", "json")
        return self.model_dump(**kwargs)


def error_path(loc: tuple[Any, ...]) -> str:
    """Render a pydantic error location as a field path: ``spec.space.methods[0].params``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<root>"


def format_validation_error(exc: Exception, prefix: str = "") -> list[str]:
    """One line per error, each naming its field path, for CLI output and CR conditions."""
    from pydantic import ValidationError

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
