"""Saving and rebuilding the search state of a work dir.

``state.json`` holds ``SearchState.to_json(spectra=False)``: serialising every spectrum after every
change would grow with the search (see docs/search.md, Performance). Spectra are put back on load,
from the journal (every accepted report, in order) and then from each trial's own ``reports.jsonl``
(its current run, the newest word on the epochs it covers).
"""

from __future__ import annotations

import numpy as np

from hyperprune.local.follow import read_report_lines
from hyperprune.local.journal import read_journal
from hyperprune.local.layout import Workdir, WorkdirFileError, read_json, write_json
from hyperprune.policy import SearchState, record_trial_report
from hyperprune.contract.files import REPORTS_FILE


def save_state(workdir: Workdir, state: SearchState) -> None:
    write_json(workdir.state, state.to_json(spectra=False))


def _set_spectrum(state: SearchState, trial_id: str, epoch: int, spectrum: list | None) -> None:
    trial = state.find(trial_id)
    obs = trial.observations.get(epoch) if trial is not None else None
    if obs is not None and spectrum is not None:
        obs.spectrum = np.array([np.nan if x is None else x for x in spectrum], dtype=np.float64)
        obs.distance_memo = None


def read_state(workdir: Workdir) -> SearchState:
    """The saved state as it is in ``state.json`` (no spectra); WorkdirFileError naming the file
    when it is not a search state (edited, truncated, another program's)."""
    data = read_json(workdir.state)
    try:
        return SearchState.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise WorkdirFileError(f"{workdir.state} does not hold a search state ({type(exc).__name__}: {exc})") from None


def load_state(workdir: Workdir) -> SearchState:
    """The saved state with its spectra; an empty state for a fresh DIR."""
    if not workdir.state.exists():
        return SearchState()
    state = read_state(workdir)
    for event in read_journal(workdir.journal):
        if event["event"] == "report":
            _set_spectrum(state, event["trial"], event["epoch"], event.get("spectrum"))
    for trial in state.trials:
        for report in read_report_lines(workdir.trial(trial.id) / REPORTS_FILE):
            _set_spectrum(state, trial.id, report.epoch, report.lyapunov)
    return state


def load_current_state(workdir: Workdir) -> SearchState:
    """The state as it is now, for readers (the report): also the reports trials wrote after the
    engine last saved (or while it is not running). Nothing is written."""
    state = load_state(workdir)
    for trial in state.trials:
        for report in read_report_lines(workdir.trial(trial.id) / REPORTS_FILE):
            record_trial_report(state, report)
    return state
