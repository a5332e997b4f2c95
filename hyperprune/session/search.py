"""One local search session, shared by ``hyperprune run`` (the command) and ``hyperprune.run`` (Python).

``read_search`` takes a spec as a path, a dict or a ``HyperpruneSearch``; ``run_search`` checks the
machine (data, space, work dir), runs the local engine with a display, writes ``result.json`` and
the report. Bad input is a ``SearchInputError`` (its ``lines`` name every problem; nothing was
trained); a cause outside the search that stopped it after it started (a full disk) is a
``SearchCannotGoOn``; an interrupted search returns no result (run it again to resume).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from hyperprune.spec.models import HyperpruneSearch

SpecSource = str | os.PathLike[str] | Mapping[str, Any] | HyperpruneSearch


class SearchInputError(ValueError):
    """Bad input found before any training: ``headline`` says what, ``lines`` name each problem."""

    def __init__(self, headline: str, lines: list[str], todo: str = "") -> None:
        self.headline, self.lines, self.todo = headline, lines, todo
        super().__init__("\n".join([headline, *(f"  {line}" for line in lines)]))


class SearchCannotGoOn(RuntimeError):
    """The search stopped after it started, for a cause outside it (a full disk, a promoted folder
    that cannot be written): the state saved last is intact, so running it again once the cause is
    fixed goes on. ``what`` happened, ``todo`` says what to do (followed by the command that resumes
    when ``resume``)."""

    def __init__(self, workdir: Path, what: str, todo: str, *, resume: bool = False) -> None:
        self.workdir, self.what, self.todo, self.resume = workdir, what, todo, resume
        super().__init__(f"{what} — {todo}" + (f" in {workdir}" if resume else ""))


@dataclass
class SessionOutcome:
    search: HyperpruneSearch
    workdir: Path
    result: dict[str, Any] | None  # result.json; None: interrupted (run again to resume)
    report: str | None  # report.html, when it could be written


def read_search(source: SpecSource) -> HyperpruneSearch:
    from hyperprune.spec import SearchSpecError, load_search, parse_search
    from hyperprune.spec.errors import SearchFileError

    if isinstance(source, HyperpruneSearch):
        # Validated again, like a file, so that one set of rules applies; only what it sets, so the
        # rules see the same sections given.
        source = source.model_dump(by_alias=True, mode="json", exclude_unset=True)
    name = "the spec" if isinstance(source, Mapping) else str(source)
    try:
        return parse_search(dict(source)) if isinstance(source, Mapping) else load_search(source)
    except SearchFileError as exc:
        raise SearchInputError(
            exc.errors[0], [], "pass the path of a HyperpruneSearch YAML file (see examples/quickstart.yaml)"
        ) from None
    except SearchSpecError as exc:
        raise SearchInputError(
            f"{name} is not a valid HyperpruneSearch — fix these fields (nothing was trained):", exc.errors
        ) from None


def write_report(workdir: Any) -> str | None:  # workdir: Workdir
    try:
        from hyperprune.report import write_report as write
    except ImportError as exc:
        print(f"warning: no report ({exc.name} is missing: pip install 'hyperprune[report]')", file=sys.stderr)
        return None
    try:
        return str(write(workdir.root))
    except Exception as exc:  # the search's results stand without their plots
        print(f"warning: could not write the report: {exc}", file=sys.stderr)
        return None


def run_search(
    search: HyperpruneSearch,
    workdir: str | os.PathLike[str] | None = None,
    *,
    workers: int | None = None,
    quiet: bool = False,
    retry_failed: bool = False,
    stream: TextIO | None = None,
    base_dir: Path | None = None,
) -> SessionOutcome:
    """Check the machine, run (or resume) the search, write result.json and the report."""
    from hyperprune.local.datafiles import record_data, with_absolute_data_path
    from hyperprune.local.engine import Engine, EngineOptions, PromotionFailed
    from hyperprune.local.layout import Workdir, WorkdirBusy, WorkdirFileError, write_json
    from hyperprune.local.preflight import preflight
    from hyperprune.local.progress import make_display
    from hyperprune.local.result import write_result

    if workers is not None and workers < 1:
        raise SearchInputError(f"--workers: {workers} is not a positive number", [], "pass 1 or more")
    base = base_dir or Path.cwd()
    place = Workdir(Path(workdir) if workdir is not None else Path("runs") / search.metadata.name)
    search = with_absolute_data_path(search, base)  # resolved once; search.json keeps it
    issues = preflight(search, place, base)
    if issues:
        raise SearchInputError(
            f"cannot run {search.metadata.name} — fix these (nothing was trained):", [f"{p}: {m}" for p, m in issues]
        )
    try:
        with place.locked():
            if not place.started():
                write_json(place.search, search.dump())
            record_data(place, search.spec.data, base)
            engine = Engine(search, place, EngineOptions(workers=workers, retry_failed=retry_failed))
            display = make_display(search, engine.spec, str(place.root), engine.threads, quiet=quiet, stream=stream)
            state = engine.run(display)
            if state.outcome is None:
                return SessionOutcome(search, place.root, None, None)
            result = write_result(search, engine.spec, state, place)
    except WorkdirBusy as exc:
        raise SearchInputError(str(exc), [], "wait for it to finish, or stop it (Ctrl-C) and run again") from None
    except WorkdirFileError as exc:
        raise SearchInputError(
            str(exc), [], "it is written by 'hyperprune run': restore it, or start the search again in a new --workdir"
        ) from None
    except PromotionFailed as exc:
        what, todo = exc.args
        raise SearchCannotGoOn(place.root, what, todo) from None
    except OSError as exc:
        # A full disk or a folder made read-only while the search ran: the state saved last is
        # intact (every write is atomic), so the same command resumes once the cause is gone.
        where = f" ({exc.filename})" if exc.filename else ""
        raise SearchCannotGoOn(
            place.root, f"{exc.strerror or exc}{where}", "fix that (free disk space, permissions), then resume", resume=True
        ) from None
    return SessionOutcome(search, place.root, result, write_report(place))
