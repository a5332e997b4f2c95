"""Check a HyperpruneSearch file and name every invalid field.

    hyperprune validate SEARCH.yaml [--quiet]

Prints OK and a summary of what the search will do, or one `path: message` line per problem
(exit code 1). A data directory missing on this machine is a warning: the file may be meant for a
cluster, where the path is the trial pod's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("search", type=Path, metavar="SEARCH.yaml", help="a HyperpruneSearch document")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing when the file is valid")


def summary(search) -> list[str]:  # search: HyperpruneSearch
    """What the search will do, in a few lines."""
    from hyperprune.spec.space import describe_point

    spec = search.spec
    strategy = spec.strategy
    lines = [f"{search.kind} {search.metadata.name}: strategy {strategy.name}"]
    rungs = spec.rung_epochs()
    if rungs:
        keep = "floor(n/2)+1" if strategy.name == "lsh-sync" else f"{strategy.rungs.keep_fraction:g} of each rung"
        lines.append(f"  rungs at epochs {', '.join(map(str, rungs))} of {spec.final_epoch}; keep {keep}")
    elif strategy.name == "median":
        rule = strategy.median
        lines.append(f"  median stopping after {rule.grace_epochs} epoch(s), once {rule.min_trials} other trials report")
    lines.append(f"  final training: {spec.final_epoch} epochs; metric: {'accuracy' if spec.metric_mode == 'max' else 'perplexity'}")
    pool = spec.pool()
    if pool is not None:
        lines.append(f"  candidates: {spec.max_candidates()} from an explicit pool of {len(pool)}")
        for point in pool[:5]:
            lines.append(f"    {describe_point(point)}")
        if len(pool) > 5:
            lines.append(f"    ... and {len(pool) - 5} more")
    else:
        size = spec.space.size()
        methods = ", ".join(m.method for m in spec.space.methods)
        lines.append(
            f"  candidates: {spec.max_candidates()} drawn by {strategy.sampler} from {methods} "
            f"({'an unbounded space' if size is None else f'{size} distinct points'})"
        )
    dense = "on" if spec.dense.enabled else "off"
    lines.append(
        f"  dense reference: {dense}; parallelism {spec.budget.parallelism}; retries {spec.budget.retries}; "
        f"at most {spec.budget.max_failed_trials} failed trials"
    )
    lines.append(f"  Lyapunov spectra at epochs {', '.join(map(str, spec.lyapunov_epochs()))} (distance {spec.lyapunov.distance})")
    lines.append(f"  promoted model: {spec.output.path}")
    return lines


def main(args: argparse.Namespace) -> int:
    from hyperprune.spec.validation import SearchFileError, SearchSpecError, load_search, local_path_issues

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
    if not args.quiet:
        print(f"OK: {args.search}")
        for line in summary(search):
            print(line)
        for path, message in local_path_issues(search, Path.cwd()):
            print(f"warning: {path}: {message} (fine if the search runs on a cluster)")
    return 0
