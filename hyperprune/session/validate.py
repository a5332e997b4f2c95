"""Check a HyperpruneSearch file and name every invalid field.

    hyperprune validate SEARCH.yaml [--quiet]

Prints OK and a summary of what the search will do, or one `path: message` line per problem
(exit code 1). A data directory missing on this machine is a warning: the file may be meant for a
cluster, where the path is the trial pod's.

A search with a task (spec.task) is checked further, without training, in a separate process
(`hyperprune trial --check`, so that this command itself never imports torch or your code): the
entry point is imported and called, the model built, its recurrent layers found, one training and
one validation batch put through it and the probe captured. `--no-task-check` skips that (e.g.
where your package or torch is not installed: the trial image has them).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("search", type=Path, metavar="SEARCH.yaml", help="a HyperpruneSearch document")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing when the file is valid")
    parser.add_argument(
        "--no-task-check", action="store_true", help="do not import and call spec.task's entry point (no torch needed)"
    )


def main(args: argparse.Namespace) -> int:
    from hyperprune.local.preflight import data_path_issues
    from hyperprune.spec.errors import SearchFileError, SearchSpecError
    from hyperprune.spec.parse import load_search
    from hyperprune.spec.summary import plan_summary

    try:
        search = load_search(args.search)
    except SearchFileError as exc:
        print(f"error: {exc.errors[0]} — pass the path of a HyperpruneSearch YAML file (see examples/)", file=sys.stderr)
        return 1
    except SearchSpecError as exc:
        print(f"error: {args.search} is not a valid HyperpruneSearch — fix these fields:", file=sys.stderr)
        for line in exc.errors:
            print(f"  {line}", file=sys.stderr)
        return 1
    if search.spec.task is not None and not args.no_task_check:
        from hyperprune.session.task_check import check_task

        checked = check_task(search)
        if checked.problems:
            print(f"error: {args.search}: the task's trials would be refused — fix these (nothing was trained):", file=sys.stderr)
            for line in checked.problems:
                print(f"  {line}", file=sys.stderr)
            return 1
        if checked.skipped:
            print(f"warning: {checked.skipped}", file=sys.stderr)
    if not args.quiet:
        print(f"OK: {args.search}")
        for line in plan_summary(search):
            print(line)
        for path, message in data_path_issues(search.spec.data, Path.cwd()):
            print(f"warning: {path}: {message} (fine if the search runs on a cluster)")
    return 0
