"""SIGTERM handling: turn the signal into a flag the training loop checks between steps.

Kubernetes sends SIGTERM before killing a pod; the default action would end the process wherever
it is, possibly mid-way through writing a report. With ``StopOnSignal`` installed the current step
(or evaluation batch) finishes, the unfinished epoch is abandoned, the last epoch checkpoint stays
as it is, and the command exits with ``STOPPED_EXIT`` (143 = 128 + SIGTERM, hyperprune.contract.files),
as a process killed by SIGTERM would.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any


class StopRequested(Exception):
    """Raised inside the training loop when a stop was requested."""


class StopFlag:
    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def request(self, reason: str) -> None:
        self.reason = reason
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise StopRequested(self.reason)


class StopOnSignal:
    """Context manager: while active, SIGTERM sets ``flag`` instead of killing the process."""

    def __init__(self, flag: StopFlag, signum: int = signal.SIGTERM) -> None:
        self.flag, self.signum = flag, signum
        self._previous: Callable[[int, FrameType | None], Any] | int | None = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.flag.request(f"received {signal.Signals(signum).name}")

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():  # signals only reach the main thread
            self._previous = signal.signal(self.signum, self._handle)
        return self.flag

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(self.signum, self._previous)
