"""Print the trial image's pip requirements, read from pyproject.toml (one source of truth):

    python trial-image/requirements.py pyproject.toml > requirements.txt

The project's core dependencies, the `torch` extra without torch itself (the base image's CUDA build
of torch is kept, never reinstalled) and the `kubernetes` client of the `operator` extra (the trial
runtime's `kube` reporter patches the trial's status with it). Standard library only.
"""

from __future__ import annotations

import re
import sys
import tomllib

NOT_INSTALLED = {"torch"}  # provided by the base image
FROM_OPERATOR_EXTRA = {"kubernetes"}


def name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower()


def trial_requirements(pyproject: dict) -> list[str]:
    project = pyproject["project"]
    extras = project["optional-dependencies"]
    wanted = list(project["dependencies"])
    wanted += [r for r in extras["torch"] if name(r) not in NOT_INSTALLED]
    wanted += [r for r in extras["operator"] if name(r) in FROM_OPERATOR_EXTRA]
    missing = FROM_OPERATOR_EXTRA - {name(r) for r in wanted}
    if missing:
        raise SystemExit(f"pyproject.toml: the operator extra no longer lists {sorted(missing)}")
    return wanted


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: requirements.py PYPROJECT.toml", file=sys.stderr)
        return 2
    with open(argv[1], "rb") as f:
        print("\n".join(trial_requirements(tomllib.load(f))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
