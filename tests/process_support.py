"""How a test process waits for another one to be ready, without sleeping and hoping: signal
dispositions read from /proc (Linux)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

Disposition = Literal["caught", "ignored", "default"]


def disposition(pid: int, signum: int) -> Disposition:
    """What process ``pid`` does with ``signum``: a handler (SigCgt), ignores it (SigIgn), or the default."""
    masks = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("SigCgt", "SigIgn"):
            masks[key] = int(value.split()[0], 16)
    if masks.get("SigCgt", 0) >> (signum - 1) & 1:
        return "caught"
    if masks.get("SigIgn", 0) >> (signum - 1) & 1:
        return "ignored"
    return "default"


def wait_for_disposition(pid: int, signum: int, want: Disposition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while disposition(pid, signum) != want:
        if time.monotonic() > deadline:
            raise AssertionError(f"process {pid} did not set signal {signum} to {want} within {timeout} s")
        time.sleep(0.005)
