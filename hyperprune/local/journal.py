"""The engine's journal, ``DIR/events.jsonl``: one JSON line per thing that happened, append-only.

Events (every line has ``event`` and ``time``, seconds since the epoch):

- ``session``  an engine started working in DIR (``resumed``, ``workers``, ``pid``)
- ``action``   a decision of the policy (``action``: ``hyperprune.policy.action_to_json``)
- ``launch``   a trial process started (``trial``, ``fromEpoch``, ``untilEpoch``, ``pid``)
- ``report``   a report the state accepted (``trial``, ``epoch``, ``status``, ``metric``, ``spectrum``)
- ``exit``     a trial process ended (``trial``, ``code``, ``epoch``, ``status``: the trial's status after it)
- ``interrupted`` / ``finished``  the session ended (``outcome`` for finished)
- ``reopened`` a failed search resumed with ``--retry-failed`` (``trials``: the ids given another chance)
- ``promotion-failed``  the best model could not be copied to the output folder (``trial``, ``message``)

``state.json`` is saved without spectra (a JSON dump of every spectrum grows with the search); the
journal keeps them, so a restarted engine gets them back from here. The report reads the timeline
from the launch and exit events.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        torn = _ends_mid_line(path)
        self._file = open(path, "a", encoding="utf-8")
        if torn:
            # An engine killed mid-write left half a line: end it, or the next event would be
            # glued onto it and lost with it (the reader skips the torn line alone).
            self._file.write("\n")

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        line = {"event": event, "time": round(time.time(), 3), **_finite(fields)}
        # Flushed, not fsynced: a killed engine loses nothing the OS already holds, and the spectra
        # a power cut could lose are read again from the trials' own reports.jsonl on restart.
        self._file.write(json.dumps(line, allow_nan=False) + "\n")
        self._file.flush()
        return line

    def close(self) -> None:
        self._file.close()


def _ends_mid_line(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            if f.tell() == 0:
                return False
            f.seek(-1, 2)
            return f.read(1) != b"\n"
    except FileNotFoundError:
        return False


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Every complete event line; a torn last line (the engine killed mid-write) is ignored."""
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and "event" in event:
            events.append(event)
    return events
