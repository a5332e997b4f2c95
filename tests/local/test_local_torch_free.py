"""The engine and the report never import torch: trials do the training in their own processes."""

from __future__ import annotations

import subprocess
import sys


def test_engine_report_and_their_commands_import_without_torch():
    code = (
        "import sys\n"
        "import hyperprune.session.run, hyperprune.local.engine, hyperprune.local.result\n"
        "import hyperprune.report, hyperprune.report.command, hyperprune.report.html\n"
        "from hyperprune.cli import build_command_parser\n"
        "build_command_parser('run'); build_command_parser('report')\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
