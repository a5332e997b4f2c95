"""Print the CustomResourceDefinitions generated from the spec models.

    hyperprune crd [--output DIR]

Writes YAML to stdout (pipe it to `kubectl apply -f -`), or one file per CRD into DIR
(`DIR/<plural>.<group>.yaml`, as kept in crds/).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", "-o", type=Path, metavar="DIR", help="write one file per CRD into DIR")


def main(args: argparse.Namespace) -> int:
    from hyperprune.spec.crd import all_crds, dump_yaml

    crds = all_crds()
    if args.output is None:
        print(dump_yaml(crds), end="")
        return 0
    try:
        args.output.mkdir(parents=True, exist_ok=True)
        for crd in crds:
            path = args.output / f"{crd['metadata']['name']}.yaml"
            path.write_text(dump_yaml([crd]))
            print(path)
    except OSError as exc:
        print(f"error: cannot write into {args.output}: {exc.strerror or exc} — pass a writable directory", file=sys.stderr)
        return 1
    return 0
