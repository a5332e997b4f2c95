"""How a search spec's problems are told: one ``path: message`` line per problem. Torch-free."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from hyperprune.contract.document import Issue, error_path
from hyperprune.spec.domains import clean_message


class SearchSpecError(ValueError):
    """A HyperpruneSearch that cannot run; ``errors`` holds one ``path: message`` line per problem."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


class SearchFileError(SearchSpecError):
    """The file itself is the problem (missing, unreadable, not YAML, not one document): no field to name."""


def _clean_loc(loc: Iterable[Any]) -> tuple[Any, ...]:
    # Union members are tagged "<range>", "<int>", ... (hyperprune.spec.domains); they are not fields.
    return tuple(p for p in loc if not (isinstance(p, str) and p.startswith("<") and p.endswith(">")))


def validation_issues(exc: ValidationError, prefix: str = "") -> list[Issue]:
    """A pydantic error as issues, each at its field path (under ``prefix``)."""
    issues = []
    for err in exc.errors():
        path = error_path(_clean_loc(err["loc"]))
        if prefix:
            path = prefix if path == "<root>" else f"{prefix}.{path}" if not path.startswith("[") else prefix + path
        issues.append((path, clean_message(err["msg"])))
    return issues


def prefixed(issues: Iterable[Issue], prefix: str) -> list[Issue]:
    return [(f"{prefix}.{path}" if path else prefix, message) for path, message in issues]


def render(issues: Iterable[Issue]) -> list[str]:
    return [f"{path}: {message}" for path, message in issues]
