"""Run a search on this machine: candidates train as local `hyperprune trial` processes.

    hyperprune run SEARCH.yaml [--workdir DIR] [--workers N] [--quiet]

Checks the search (every invalid field by its path), its data directory and its space before any
training; then trains the dense reference and the candidates the policy starts, stops the ones it
stops, continues survivors from their checkpoints and promotes the best model to DIR/best (or
spec.output.path). Live progress on a terminal; plain lines otherwise or with --quiet.

Ctrl-C stops the trials at their last checkpoint; running the same command again resumes the
search where it was (also after a kill). At the end: DIR/result.json, DIR/report.html and a summary.
From Python (a notebook, a script): ``hyperprune.run(spec, workdir=...)`` does the same and returns
the result (hyperprune.session.api).

Exit codes: 0 the search succeeded; 1 it failed (every candidate failed, too many failures, ...);
2 bad input (nothing was trained); 130 interrupted (run again to resume).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

BAD_INPUT = 2
INTERRUPTED = 130


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


def _error(what: str, todo: str) -> None:
    print(f"error: {what} — {todo}", file=sys.stderr)


def main(args: argparse.Namespace) -> int:
    from hyperprune.local.summary import summary_lines
    from hyperprune.session.search import SearchInputError, read_search, run_search

    try:
        search = read_search(args.search)
        outcome = run_search(search, args.workdir, workers=args.workers, quiet=args.quiet)
    except SearchInputError as exc:
        if exc.lines:
            print(f"error: {exc.headline}", file=sys.stderr)
            for line in exc.lines:
                print(f"  {line}", file=sys.stderr)
        else:
            _error(exc.headline, exc.todo)
        return BAD_INPUT
    if outcome.result is None:
        print(
            f"\ninterrupted: trials stopped at their last checkpoints; resume with\n"
            f"  hyperprune run {args.search} --workdir {outcome.workdir}",
            file=sys.stderr,
        )
        return INTERRUPTED
    print()
    for line in summary_lines(outcome.result, outcome.report):
        print(line)
    return 0 if outcome.result["status"] == "succeeded" else 1
