"""The CRDs in ``crds/``: Hyperprune's (generated from the pydantic models by ``hyperprune crd``) and
kopf's peering CRDs (needed for ``--peering``).

    python -m hyperprune_operator.crds --output crds/     # rewrite crds/
    python -m hyperprune_operator.crds --check crds/      # exit 1 naming every file that differs

A test runs ``--check``: crds/ never drifts from the models.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

PEERING_FILE = "kopf-peering.yaml"


def crd_files() -> dict[str, str]:
    """File name -> YAML text, exactly as crds/ holds them."""
    from hyperprune.spec.crd import all_crds, dump_yaml

    from hyperprune_operator.peering import peering_crds

    files = {f"{crd['metadata']['name']}.yaml": dump_yaml([crd]) for crd in all_crds()}
    files[PEERING_FILE] = dump_yaml(peering_crds())
    return files


def all_crd_documents() -> list[dict[str, Any]]:
    from hyperprune.spec.crd import all_crds

    from hyperprune_operator.peering import peering_crds

    return [*all_crds(), *peering_crds()]


def differences(directory: Path) -> list[str]:
    problems = []
    expected = crd_files()
    for name, text in expected.items():
        path = directory / name
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_text() != text:
            problems.append(f"{path}: differs from the models")
    for path in sorted(directory.glob("*.yaml")):
        if path.name not in expected:
            problems.append(f"{path}: not generated (no such CRD)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hyperprune_operator.crds", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--output", type=Path, metavar="DIR", help="write the CRD files into DIR")
    group.add_argument("--check", type=Path, metavar="DIR", help="compare DIR with the generated files")
    args = parser.parse_args(argv)
    if args.check:
        problems = differences(args.check)
        for line in problems:
            print(f"error: {line} — run: python -m hyperprune_operator.crds --output {args.check}", file=sys.stderr)
        return 1 if problems else 0
    args.output.mkdir(parents=True, exist_ok=True)
    for name, text in crd_files().items():
        (args.output / name).write_text(text)
        print(args.output / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
