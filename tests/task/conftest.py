"""The task tests import their user tasks from this folder, as trials import a user's package."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def user_package_on_path(monkeypatch):
    """Trials import entry points from the working directory or an installed package: this folder
    plays the installed package (for subprocesses too, through PYTHONPATH)."""
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", str(HERE))
    yield
    sys.modules.pop("usertasks", None)
