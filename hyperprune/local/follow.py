"""Reading a trial's ``reports.jsonl`` while the trial writes it."""

from __future__ import annotations

import os
from pathlib import Path

from hyperprune.contract.files import REPORTS_FILE
from hyperprune.contract.report import TrialReport


class ReportFollower:
    """Gives a trial directory's report lines whenever the file changes.

    The whole file is parsed again on each change (a line per epoch: small) rather than tailed from
    an offset, because a trial run rewrites the file atomically when it starts (dropping lines past
    its checkpoint), so offsets into the old file mean nothing. Re-reading gives lines already seen;
    the policy's reducers ignore duplicate epochs.
    """

    def __init__(self, trial_dir: Path) -> None:
        self.path = trial_dir / REPORTS_FILE
        self._signature: tuple[int, int, int] | None = None

    def changed(self) -> list[TrialReport]:
        """The complete, valid lines when the file changed since the last call; [] otherwise."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._signature = None
            return []
        signature = (st.st_ino, st.st_size, st.st_mtime_ns)
        if signature == self._signature:
            return []
        self._signature = signature
        return read_report_lines(self.path)

    def forget(self) -> None:
        """Read the file again from the start next time (after it was deleted or replaced by us)."""
        self._signature = None


def read_report_lines(path: Path) -> list[TrialReport]:
    """Complete lines only: a line being written has no newline yet."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    out = []
    for line in data[: data.rfind(b"\n") + 1].splitlines():
        try:
            out.append(TrialReport.model_validate_json(line))
        except ValueError:
            continue
    return out
