"""Shared fixtures. Tests run on CPU with small models; real corpora are optional.

Tests that read the real corpora are marked ``data`` and use the ``shared_data`` fixture. The corpora
live in ``../shared/data`` beside the checkout on the development machines (override with
HYPERPRUNE_TEST_DATA); on a machine without them those tests are skipped with the reason printed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# No test reads or fills the user's cache of dense references (~/.cache/hyperprune/dense), and no
# search in a test reuses another test's: the cache tests give their searches a folder of their own.
os.environ["HYPERPRUNE_CACHE_DIR"] = "off"


def _shared_data_dir() -> Path | None:
    env = os.environ.get("HYPERPRUNE_TEST_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "data")
    for path in candidates:
        if path.is_dir():
            return path
    return None


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = _shared_data_dir()
    if path is None:
        pytest.skip("real corpora not found (set HYPERPRUNE_TEST_DATA or provide ../shared/data)")
    return path


@pytest.fixture(autouse=True)
def _few_threads(monkeypatch):
    # CI has 2 cores; keep torch from oversubscribing when tests start subprocesses.
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "2"))
