"""The spec and the policy run in the operator image, which has no torch."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import hyperprune.spec, hyperprune.spec.crd, hyperprune.spec.crd_command, hyperprune.session.validate
import hyperprune.policy, hyperprune.policy.simulate
from hyperprune.cli import main
assert main(["validate", "-q", "examples/quickstart.yaml"]) == 0
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "kubernetes", "kopf"))
print(",".join(heavy))
"""


def test_spec_policy_and_their_commands_import_no_torch(repo_root):
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=repo_root, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
