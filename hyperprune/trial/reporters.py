"""Where reports go: a small interface, the always-on file reporter, and a registry of extra ones.

A reporter receives every ``TrialReport`` the trial produces, in order, and is closed at the end::

    class Reporter(Protocol):
        def report(self, report: TrialReport) -> None: ...
        def close(self) -> None: ...

``FileReporter`` (``DIR/reports.jsonl``, one JSON line per report, flushed and fsynced) is always on.
``--reporter NAME`` adds one more, found by ``create_reporter`` in this order:

1. the in-process registry (``register_reporter(name, factory)``);
2. the ``hyperprune.reporters`` entry-point group, so a package (e.g. the operator's ``kube``
   reporter) registers itself in its own packaging metadata;
3. ``module:attribute``, a factory named directly.

A factory takes a ``ReporterContext`` (the trial config and its directory) and returns a reporter.
Nothing in the training loop changes when a reporter is added.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol, runtime_checkable

from hyperprune.contract.trial import TrialConfig
from hyperprune.contract.files import REPORTS_FILE
from hyperprune.contract.report import TrialReport

ENTRY_POINT_GROUP = "hyperprune.reporters"


@runtime_checkable
class Reporter(Protocol):
    def report(self, report: TrialReport) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ReporterContext:
    config: TrialConfig
    workdir: Path


ReporterFactory = Callable[[ReporterContext], Reporter]


class FileReporter:
    """Appends each report as one JSON line to ``DIR/reports.jsonl``; durable once ``report`` returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "a", encoding="utf-8")

    @classmethod
    def from_context(cls, context: ReporterContext) -> "FileReporter":
        return cls(context.workdir / REPORTS_FILE)

    def report(self, report: TrialReport) -> None:
        self._file.write(json.dumps(report.dump(), allow_nan=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def _kube_reporter(context: ReporterContext) -> Reporter:
    # Imported on use: only trial pods need the kubernetes client (hyperprune/trial/kube_reporter.py).
    from hyperprune.trial.kube_reporter import KubeReporter

    return KubeReporter.from_context(context)


_REGISTRY: dict[str, ReporterFactory] = {"file": FileReporter.from_context, "kube": _kube_reporter}


def register_reporter(name: str, factory: ReporterFactory) -> None:
    _REGISTRY[name] = factory


def reporter_names() -> list[str]:
    return sorted({*_REGISTRY, *(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))})


def find_reporter(name: str) -> ReporterFactory:
    """The factory for ``name``; ``ValueError`` naming the known reporters when there is none."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep.load()
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"reporter {name!r} cannot be loaded: {exc}") from exc
    raise ValueError(f"unknown reporter {name!r}; known: {', '.join(reporter_names())} (or module:factory)")


def create_reporter(name: str, context: ReporterContext) -> Reporter:
    reporter = find_reporter(name)(context)
    if not isinstance(reporter, Reporter):
        raise ValueError(f"reporter {name!r} made a {type(reporter).__name__}, which lacks report() and close()")
    return reporter


def read_reports(path: Path) -> list[TrialReport]:
    """The complete, valid report lines of a reports file (a torn last line is ignored)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(TrialReport.model_validate_json(line))
        except ValueError:
            continue
    return out
