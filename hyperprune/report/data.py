"""Everything the report reads from a search's work dir, finished or still running. Read-only."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperprune.local.follow import read_report_lines
from hyperprune.local.journal import read_journal
from hyperprune.local.layout import Workdir, WorkdirFileError, lock_held, read_json
from hyperprune.local.result import session_times
from hyperprune.local.store import load_current_state
from hyperprune.policy import SearchState, TrialState, final_metric
from hyperprune.policy.scoring import distance_history
from hyperprune.spec.models import HyperpruneSearch, SearchSpec
from hyperprune.spec.errors import SearchSpecError
from hyperprune.spec.parse import parse_search
from hyperprune.contract.files import REPORTS_FILE
from hyperprune.contract.report import TrialReport


class NotASearch(ValueError):
    """The directory holds no search (no search.json), or its files cannot be read back."""


@dataclass
class Segment:
    """One run of one trial process: when, from which epoch to which, how it ended."""

    trial_id: str
    start: float  # seconds since the search started
    end: float
    from_epoch: int
    until_epoch: int
    reached: int
    outcome: str  # paused | completed | stopped | failed | errored | diverged | interrupted | running


@dataclass
class SearchRecord:
    workdir: Workdir
    search: HyperpruneSearch
    state: SearchState
    events: list[dict[str, Any]]
    reports: dict[str, list[TrialReport]]
    result: dict[str, Any] | None
    read_at: float
    engine_running: bool

    @property
    def spec(self) -> SearchSpec:
        return self.search.spec

    @property
    def metric(self) -> str:
        return self.spec.metric

    @property
    def finished(self) -> bool:
        return self.state.outcome is not None

    @property
    def origin(self) -> float:
        sessions = session_times(self.events)
        return sessions[0][0] if sessions else self.read_at

    def distances(self, trial: TrialState) -> dict[int, float]:
        return {e: d for e, d in distance_history(trial, self.state.dense).items() if math.isfinite(d)}

    def first_rung(self) -> int | None:
        """The epoch whose LS distance the report relates to the final metric: the first rung (or
        the first epoch with a dense spectrum when the strategy has no rungs)."""
        dense = self.state.dense
        epochs = [e for e in self.spec.lyapunov_epochs() if dense is not None and e in dense.observations
                  and dense.observations[e].spectrum is not None]
        return epochs[0] if epochs else None

    def final_metric(self, trial: TrialState) -> float | None:
        return final_metric(trial) if trial.status == "completed" else None

    def last_report(self, trial_id: str) -> TrialReport | None:
        reports = self.reports.get(trial_id) or []
        return reports[-1] if reports else None

    def segments(self) -> list[Segment]:
        """Every trial process from the journal's launch and exit events. A run whose exit was never
        written ended with its session (a killed engine), or is still going when the engine is."""
        origin, out = self.origin, []
        open_runs: dict[str, Segment] = {}
        last_time: float | None = None

        def close_open(at: float, outcome: str) -> None:
            for run in open_runs.values():
                run.end, run.outcome = max(run.start, at - origin), outcome
                out.append(run)
            open_runs.clear()

        for event in self.events:
            kind, at = event["event"], event["time"]
            if kind == "session" and last_time is not None:
                close_open(last_time, "interrupted")
            elif kind == "launch":
                open_runs[event["trial"]] = Segment(
                    event["trial"], at - origin, at - origin, event["fromEpoch"], event["untilEpoch"],
                    event["fromEpoch"], "running",
                )
            elif kind == "report" and event["trial"] in open_runs:
                run = open_runs[event["trial"]]
                run.reached = max(run.reached, event["epoch"])
            elif kind == "exit" and event["trial"] in open_runs:
                run = open_runs.pop(event["trial"])
                run.end = at - origin
                if event.get("message") == "interrupted":
                    run.outcome = "interrupted"
                else:
                    status = event.get("status") or "errored"
                    # running after a clean exit: it was continued while its process finished
                    run.outcome = "paused" if status == "running" else status
                out.append(run)
            last_time = at
        if self.engine_running:
            close_open(self.read_at, "running")
        elif last_time is not None:
            close_open(last_time, "interrupted")
        return sorted(out, key=lambda s: s.start)


def load_record(directory: str | Path) -> SearchRecord:
    workdir = Workdir(Path(directory))
    if not workdir.search.exists():
        raise NotASearch(f"{workdir.root} holds no search (no search.json): pass the --workdir of 'hyperprune run'")
    try:
        search = parse_search(read_json(workdir.search))
        state = load_current_state(workdir)
        result = read_json(workdir.result) if workdir.result.exists() else None
    except SearchSpecError as exc:
        raise NotASearch(f"{workdir.search} does not hold a valid search ({'; '.join(exc.errors[:3])})") from None
    except WorkdirFileError as exc:
        raise NotASearch(str(exc)) from None
    reports = {t.id: read_report_lines(workdir.trial(t.id) / REPORTS_FILE) for t in state.trials}
    return SearchRecord(
        workdir, search, state, read_journal(workdir.journal), reports, result, time.time(), lock_held(workdir.engine_lock)
    )
