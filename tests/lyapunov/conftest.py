from __future__ import annotations

import pytest
import torch

from hyperprune.lyapunov import register_cell, unregister_cell

from .helpers import LinearCell, build_linear


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    # The spectra here are tiny; OpenMP hand-offs between threads cost more than they save, and the
    # development machines are shared. The tolerances below hold for any thread count.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def linear_cell():
    register_cell(LinearCell, build_linear)
    yield LinearCell
    unregister_cell(LinearCell)
