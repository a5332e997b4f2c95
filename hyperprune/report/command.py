"""Write DIR/report.html with plots of a finished or running search.

    hyperprune report DIR

DIR is the --workdir of 'hyperprune run'. The page is self-contained (inline figures, no network):
Lyapunov spectra of the candidates vs the dense reference, LS distance at the first rung vs the
final metric with Spearman's rho, the search timeline, the winner's sparsity per layer and a table
of every trial.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workdir", type=Path, metavar="DIR", help="the work dir of a search (hyperprune run --workdir)")


def main(args: argparse.Namespace) -> int:
    try:
        from hyperprune.report import write_report
        from hyperprune.report.data import NotASearch
    except ImportError as exc:
        print(f"error: {exc.name} is missing — pip install 'hyperprune[report]'", file=sys.stderr)
        return 1
    try:
        path = write_report(args.workdir)
    except NotASearch as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = exc.filename or args.workdir / "report.html"
        print(f"error: cannot write {where}: {exc.strerror or exc} — make it writable and run again", file=sys.stderr)
        return 1
    print(path)
    return 0
