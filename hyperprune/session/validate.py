"""Check a HyperpruneSearch file and name every invalid field.

    hyperprune validate SEARCH.yaml [--quiet]

Prints OK and a summary of what the search will do, or one `path: message` line per problem
(exit code 2, as `hyperprune run` gives for a spec it refuses). What depends on this machine's data
(a missing directory, a corpus too small for the recipe, a schedule that does not fit its steps) is
a warning: the file may be meant for a cluster, where the path is the trial pod's.

A search with a task (spec.task) is checked further, without training, in a separate process
(`hyperprune trial --check`, so that this command itself never imports torch or your code): the
entry point is imported and called, the model built, its recurrent layers found, one training and
one validation batch put through it and the probe captured; what it finds is refused (exit 2).
`--no-task-check` skips that (e.g. where your package or torch is not installed: the trial image
has them).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hyperprune.session import BAD_INPUT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("search", type=Path, metavar="SEARCH.yaml", help="a HyperpruneSearch document")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing when the file is valid")
    parser.add_argument(
        "--no-task-check", action="store_true", help="do not import and call spec.task's entry point (no torch needed)"
    )


def main(args: argparse.Namespace) -> int:
    from hyperprune.local.datafiles import data_issues, path_issues
    from hyperprune.spec.errors import SearchFileError, SearchSpecError
    from hyperprune.spec.parse import load_search
    from hyperprune.spec.summary import plan_summary

    try:
        search = load_search(args.search)
    except SearchFileError as exc:
        print(f"error: {exc.errors[0]} — pass the path of a HyperpruneSearch YAML file (see examples/)", file=sys.stderr)
        return BAD_INPUT
    except SearchSpecError as exc:
        print(f"error: {args.search} is not a valid HyperpruneSearch — fix these fields:", file=sys.stderr)
        for line in exc.errors:
            print(f"  {line}", file=sys.stderr)
        return BAD_INPUT
    if search.spec.task is not None and not args.no_task_check:
        from hyperprune.session.task_check import check_task

        checked = check_task(search)
        if checked.problems:
            print(f"error: {args.search}: the task's trials would be refused — fix these (nothing was trained):", file=sys.stderr)
            for line in checked.problems:
                print(f"  {line}", file=sys.stderr)
            return BAD_INPUT
        if checked.skipped:
            print(f"warning: {checked.skipped}", file=sys.stderr)
    if not args.quiet:
        print(f"OK: {args.search}")
        for line in plan_summary(search):
            print(line)
        missing = path_issues(search.spec.data, Path.cwd())
        for path, message in missing:
            print(f"warning: {path}: {message} (fine if the search runs on a cluster)")
        for path, message in [] if missing else data_issues(search.spec, Path.cwd()):
            print(f"warning: {path}: {message} (with the data on this machine: 'hyperprune run' refuses it here)")
    return 0
