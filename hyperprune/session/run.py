"""Run a search on this machine: candidates train as local `hyperprune trial` processes.

    hyperprune run SEARCH.yaml [--workdir DIR] [--workers N] [--quiet] [--retry-failed]

Checks the search (every invalid field by its path), its data directory and its space before any
training; then trains the dense reference and the candidates the policy starts, stops the ones it
stops, continues survivors from their checkpoints and promotes the best model to DIR/best (or
spec.output.path). Live progress on a terminal; plain lines otherwise or with --quiet.

Ctrl-C stops the trials at their last checkpoint; running the same command again resumes the
search where it was (also after a kill). At the end: DIR/result.json, DIR/report.html and a summary.
A search that failed for a cause fixed since (a damaged checkpoint deleted, a full disk enlarged)
resumes its failed trials with --retry-failed. From Python (a notebook, a script):
``hyperprune.run(spec, workdir=...)`` does the same and returns the result (hyperprune.session.api).

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


def again(args: argparse.Namespace, workdir: Path, *extra: str) -> str:
    """The command that resumes this run: the same file, work dir and workers."""
    parts = ["hyperprune", "run", shlex.quote(str(args.search)), "--workdir", shlex.quote(str(workdir))]
    if args.workers is not None:
        parts += ["--workers", str(args.workers)]
    if args.quiet:
        parts.append("--quiet")
    return " ".join([*parts, *extra])


def main(args: argparse.Namespace) -> int:
    from hyperprune.local.summary import summary_lines
    from hyperprune.session.search import SearchCannotGoOn, SearchInputError, read_search, run_search

    try:
        search = read_search(args.search)
        outcome = run_search(search, args.workdir, workers=args.workers, quiet=args.quiet, retry_failed=args.retry_failed)
    except SearchInputError as exc:
        if exc.lines:
            print(f"error: {exc.headline}", file=sys.stderr)
            for line in exc.lines:
                print(f"  {line}", file=sys.stderr)
        else:
            _error(exc.headline, exc.todo)
        return BAD_INPUT
    except SearchCannotGoOn as exc:
        _error(exc.what, f"{exc.todo} with: {again(args, exc.workdir)}" if exc.resume else exc.todo)
        return FAILED
    if outcome.result is None:
        print(f"\ninterrupted: trials stopped at their last checkpoints; resume with\n  {again(args, outcome.workdir)}",
              file=sys.stderr)
        return INTERRUPTED
    print()
    for line in summary_lines(outcome.result, outcome.report):
        print(line)
    if outcome.result["status"] == "succeeded":
        return SUCCEEDED
    print(f"  once the cause is fixed, resume the failed trials with: {again(args, outcome.workdir, '--retry-failed')}")
    return FAILED
