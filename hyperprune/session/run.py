"""Run a search on this machine: candidates train as local `hyperprune trial` processes.

    hyperprune run SEARCH.yaml [--workdir DIR] [--workers N] [--quiet] [--retry-failed]

Checks the search (every invalid field by its path), its data directory and its space before any
training; then trains the dense reference and the candidates the policy starts, stops the ones it
stops, continues survivors from their checkpoints and promotes the best model to DIR/best (or
spec.output.path). Live progress on a terminal; plain lines otherwise or with --quiet.

Ctrl-C stops the trials at their last checkpoint; running the same command again resumes the
search where it was (also after a kill). At the end: DIR/result.json, DIR/report.html and a summary.
A search that failed for a cause fixed since (a damaged checkpoint deleted, a full disk enlarged)
resumes its failed trials with --retry-failed.

Exit codes: 0 the search succeeded; 1 it failed (every candidate failed, too many failures, ...) or
could not go on (a full disk): fix the cause and run again (--retry-failed for a failed search);
2 bad input (nothing was trained); 130 interrupted (run again to resume).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from hyperprune.session import BAD_INPUT, FAILED, INTERRUPTED, SUCCEEDED


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("search", type=Path, metavar="SEARCH.yaml", help="a HyperpruneSearch document")
    parser.add_argument(
        "--workdir", type=Path, metavar="DIR", help="where trials, state and results go (default: runs/<metadata.name>)"
    )
    parser.add_argument(
        "--workers", type=int, metavar="N",
        help="trials at once, the dense reference included (default: spec.budget.parallelism); "
             "each trial gets cores/N threads",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="plain log lines with decisions and problems only")
    parser.add_argument(
        "--retry-failed", action="store_true",
        help="resume a search that failed, once its cause is fixed: its failed trials (and those its failure "
             "stopped) continue from their checkpoints",
    )


def _error(what: str, todo: str) -> None:
    print(f"error: {what} — {todo}", file=sys.stderr)


def _write_report(workdir) -> str | None:  # workdir: Workdir
    try:
        from hyperprune.report import write_report
    except ImportError as exc:
        print(f"warning: no report ({exc.name} is missing: pip install 'hyperprune[report]')", file=sys.stderr)
        return None
    try:
        return str(write_report(workdir.root))
    except Exception as exc:  # the search's results stand without their plots
        print(f"warning: could not write the report: {exc}", file=sys.stderr)
        return None


def again(args: argparse.Namespace, workdir: Path, *extra: str) -> str:
    """The command that resumes this run: the same file, work dir and workers."""
    parts = ["hyperprune", "run", shlex.quote(str(args.search)), "--workdir", shlex.quote(str(workdir))]
    if args.workers is not None:
        parts += ["--workers", str(args.workers)]
    if args.quiet:
        parts.append("--quiet")
    return " ".join([*parts, *extra])


def main(args: argparse.Namespace) -> int:
    from hyperprune.local.datafiles import record_data, with_absolute_data_path
    from hyperprune.local.engine import Engine, EngineOptions, PromotionFailed
    from hyperprune.local.layout import Workdir, WorkdirBusy, WorkdirFileError, write_json
    from hyperprune.local.preflight import preflight
    from hyperprune.local.progress import make_display
    from hyperprune.local.result import write_result
    from hyperprune.local.summary import summary_lines
    from hyperprune.spec import SearchSpecError, load_search
    from hyperprune.spec.errors import SearchFileError

    try:
        search = load_search(args.search)
    except SearchFileError as exc:
        _error(exc.errors[0], "pass the path of a HyperpruneSearch YAML file (see examples/quickstart.yaml)")
        return BAD_INPUT
    except SearchSpecError as exc:
        print(f"error: {args.search} is not a valid HyperpruneSearch — fix these fields (nothing was trained):", file=sys.stderr)
        for line in exc.errors:
            print(f"  {line}", file=sys.stderr)
        return BAD_INPUT
    if args.workers is not None and args.workers < 1:
        _error(f"--workers: {args.workers} is not a positive number", "pass 1 or more")
        return BAD_INPUT
    workdir = Workdir(args.workdir or Path("runs") / search.metadata.name)
    search = with_absolute_data_path(search, Path.cwd())  # resolved once; search.json keeps it
    issues = preflight(search, workdir, Path.cwd())
    if issues:
        print(f"error: cannot run {args.search} — fix these (nothing was trained):", file=sys.stderr)
        for path, message in issues:
            print(f"  {path}: {message}", file=sys.stderr)
        return BAD_INPUT

    try:
        with workdir.locked():
            if not workdir.started():
                write_json(workdir.search, search.dump())
            record_data(workdir, search.spec.data, Path.cwd())
            engine = Engine(search, workdir, EngineOptions(workers=args.workers, retry_failed=args.retry_failed))
            display = make_display(search, engine.spec, str(workdir.root), engine.threads, quiet=args.quiet)
            state = engine.run(display)
            if state.outcome is None:
                print(f"\ninterrupted: trials stopped at their last checkpoints; resume with\n  {again(args, workdir.root)}",
                      file=sys.stderr)
                return INTERRUPTED
            result = write_result(search, engine.spec, state, workdir)
    except WorkdirBusy as exc:
        _error(str(exc), "wait for it to finish, or stop it (Ctrl-C) and run again")
        return BAD_INPUT
    except WorkdirFileError as exc:
        _error(str(exc), f"it is written by 'hyperprune run': restore it, or start the search again in a new --workdir")
        return BAD_INPUT
    except PromotionFailed as exc:
        _error(*exc.args)
        return FAILED
    except OSError as exc:
        # A full disk or a folder made read-only while the search ran: the state saved last is
        # intact (every write is atomic), so the same command resumes once the cause is gone.
        where = f" ({exc.filename})" if exc.filename else ""
        _error(f"{exc.strerror or exc}{where}", f"fix that (free disk space, permissions), then resume with: "
                                                f"{again(args, workdir.root)}")
        return FAILED
    report = _write_report(workdir)
    print()
    for line in summary_lines(result, report):
        print(line)
    if result["status"] == "succeeded":
        return SUCCEEDED
    print(f"  once the cause is fixed, resume the failed trials with: {again(args, workdir.root, '--retry-failed')}")
    return FAILED
