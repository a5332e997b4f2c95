"""Print an image's pip requirements, read from pyproject.toml (one source of truth):

    python trial-image/requirements.py pyproject.toml [--image trial|operator] > requirements.txt

Both Dockerfiles install these in a layer of their own before copying the sources, so that a change
of the sources rebuilds only the project's own install, not its dependencies.

trial (the default): the project's core dependencies, the `torch` extra without torch itself (the
base image's CUDA build of torch is kept, never reinstalled) and the `kubernetes` client of the
`operator` extra (the trial runtime's `kube` reporter patches the trial's status with it).
operator: the core dependencies and the `operator` extra (never torch). Standard library only.
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


def operator_requirements(pyproject: dict) -> list[str]:
    project = pyproject["project"]
    wanted = list(project["dependencies"]) + list(project["optional-dependencies"]["operator"])
    if NOT_INSTALLED & {name(r) for r in wanted}:
        raise SystemExit("pyproject.toml: the operator's dependencies must not include torch")
    return wanted


IMAGES = {"trial": trial_requirements, "operator": operator_requirements}


def main(argv: list[str]) -> int:
    args = argv[1:]
    image = "trial"
    if len(args) == 3 and args[1] == "--image" and args[2] in IMAGES:
        image = args[2]
    elif len(args) != 1:
        print("usage: requirements.py PYPROJECT.toml [--image trial|operator]", file=sys.stderr)
        return 2
    with open(args[0], "rb") as f:
        print("\n".join(IMAGES[image](tomllib.load(f))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
