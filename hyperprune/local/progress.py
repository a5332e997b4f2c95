"""What ``hyperprune run`` shows while it works.

``LiveDisplay`` (a terminal, or a Jupyter notebook with ipywidgets): a table redrawn in place — trials by status, the dense target, the best
candidate so far, the trials in flight with their epoch, metric and LS distance — with decisions
scrolling above it. ``PlainDisplay`` (not a terminal, or ``--quiet``): one timestamped line per
launch, report and decision (``--quiet``: decisions and problems only).
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, TextIO

from hyperprune.policy import DENSE_ID, Action, Continue, Fail, Finish, Promote, SearchState, Start, Stop, describe
from hyperprune.contract.report import TrialReport
from hyperprune.policy.summary import distance_at, leader
from hyperprune.spec.models import HyperpruneSearch, SearchSpec
from hyperprune.spec.status import TrialPhase as Status
from hyperprune.spec.summary import plural

ACTIVE_ORDER = ("running", "pending", "errored", "paused")


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.4g}"


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Display:
    """Hooks the engine calls; the base class keeps the facts both displays share."""

    def __init__(self, search: HyperpruneSearch, spec: SearchSpec, workdir: str, threads: int) -> None:
        self.search, self.spec, self.workdir, self.threads = search, spec, workdir, threads
        self.metric = spec.metric
        self.started = time.monotonic()

    def headline(self, state: SearchState, resumed: bool, reopened: Sequence[str] = ()) -> str:
        name = self.search.metadata.name
        if state.outcome is not None:
            text = f"search {name} in {self.workdir} has finished ({state.outcome}); nothing to train"
            if state.outcome == "failed":
                text += "; once its cause is fixed, run the same command with --retry-failed to resume its failed trials"
            return text
        spec = self.spec
        rungs = spec.rung_epochs()
        where = f"rungs at epochs {', '.join(map(str, rungs))} of {spec.final_epoch}" if rungs else f"{spec.final_epoch} epochs"
        verb = f"retrying {', '.join(reopened)} of" if reopened else "resuming" if resumed else "starting"
        return (
            f"{verb} search {name} in {self.workdir}: strategy {spec.strategy.name}, "
            f"{plural(spec.max_candidates(), 'candidate')}, {where}; {plural(spec.budget.parallelism, 'worker')} x "
            f"{plural(self.threads, 'thread')}"
        )

    def report_line(self, state: SearchState, trial_id: str, report: TrialReport) -> str:
        trial = state.trial(trial_id)
        if report.status == "diverged":
            return f"{trial_id} diverged at epoch {report.epoch}: {report.message}"
        text = f"{trial_id} epoch {report.epoch}: {self.metric} {_num(report.val_metric)}"
        if not trial.is_dense and report.lyapunov is not None:
            text += f", LS distance {_num(distance_at(state, trial, report.epoch))}"
        if report.test_metric is not None:
            text += f", test {_num(report.test_metric)}"
        return text

    def action_line(self, action: Action, state: SearchState) -> str:
        if isinstance(action, Start):
            return f"{describe(action)}: {action.params.describe()}"
        return describe(action)

    # hooks
    def start(self, state: SearchState, resumed: bool, reopened: Sequence[str] = ()) -> None: ...
    def launched(self, state: SearchState, trial_id: str, from_epoch: int, until_epoch: int) -> None: ...
    def report(self, state: SearchState, trial_id: str, report: TrialReport) -> None: ...
    def action(self, state: SearchState, action: Action) -> None: ...
    def exited(self, state: SearchState, trial_id: str, code: int, problem: str | None) -> None: ...
    def refresh(self, state: SearchState) -> None: ...
    def note(self, text: str) -> None: ...
    def stop(self, state: SearchState) -> None: ...


class PlainDisplay(Display):
    def __init__(self, *args: Any, quiet: bool = False, stream: TextIO | None = None) -> None:
        super().__init__(*args)
        self.quiet = quiet
        self.stream = stream or sys.stdout

    def line(self, text: str) -> None:
        print(f"[{_clock(time.monotonic() - self.started)}] {text}", file=self.stream, flush=True)

    def start(self, state: SearchState, resumed: bool, reopened: Sequence[str] = ()) -> None:
        self.line(self.headline(state, resumed, reopened))

    def launched(self, state: SearchState, trial_id: str, from_epoch: int, until_epoch: int) -> None:
        if not self.quiet:
            how = f"from epoch {from_epoch}" if from_epoch else "from scratch"
            self.line(f"{trial_id} runs {how} to epoch {until_epoch}")

    def report(self, state: SearchState, trial_id: str, report: TrialReport) -> None:
        if not self.quiet or report.status == "diverged":
            self.line(self.report_line(state, trial_id, report))

    def action(self, state: SearchState, action: Action) -> None:
        self.line(self.action_line(action, state))

    def exited(self, state: SearchState, trial_id: str, code: int, problem: str | None) -> None:
        if problem:
            trial = state.trial(trial_id)
            self.line(f"{trial_id} failed (attempt {trial.failures}): {problem}")

    def note(self, text: str) -> None:
        self.line(text)


class LiveDisplay(Display):
    """A rich Live table, redrawn from the engine's thread only (no refresh thread touches the state)."""

    def __init__(self, *args: Any, console: Any = None) -> None:
        super().__init__(*args)
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console()
        self.live = Live(console=self.console, auto_refresh=False, transient=False, redirect_stdout=False)
        self.decisions: deque[str] = deque(maxlen=6)
        self.last_draw = 0.0

    def start(self, state: SearchState, resumed: bool, reopened: Sequence[str] = ()) -> None:
        self.console.print(self.headline(state, resumed, reopened), highlight=False)
        self.live.start()
        self.refresh(state, force=True)

    def report(self, state: SearchState, trial_id: str, report: TrialReport) -> None:
        if report.status == "diverged":
            self.live.console.print(f"[yellow]{self.report_line(state, trial_id, report)}[/]", highlight=False)
        self.refresh(state)

    def action(self, state: SearchState, action: Action) -> None:
        line = self.action_line(action, state)
        style = {Stop: "dim", Fail: "red", Promote: "bold green", Finish: "bold"}.get(type(action), "")
        self.live.console.print(f"[{style}]{line}[/]" if style else line, highlight=False)
        if isinstance(action, (Stop, Continue, Fail, Promote)):
            self.decisions.append(line)
        self.refresh(state)

    def exited(self, state: SearchState, trial_id: str, code: int, problem: str | None) -> None:
        if problem:
            trial = state.trial(trial_id)
            self.live.console.print(f"[red]{trial_id} failed (attempt {trial.failures}): {problem}[/]", highlight=False)
        self.refresh(state)

    def launched(self, state: SearchState, trial_id: str, from_epoch: int, until_epoch: int) -> None:
        self.refresh(state)

    def note(self, text: str) -> None:
        self.live.console.print(f"[yellow]{text}[/]", highlight=False)

    def refresh(self, state: SearchState, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last_draw >= 0.25:
            self.last_draw = now
            self.live.update(self.render(state), refresh=True)

    def stop(self, state: SearchState) -> None:
        self.refresh(state, force=True)
        self.live.stop()

    def render(self, state: SearchState) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        counts = state.counts()
        shown: tuple[Status, ...] = ("running", "pending", "paused", "errored", "stopped", "completed", "diverged", "failed")
        summary = " · ".join(f"{counts[s]} {s}" for s in shown if counts[s])
        lines = [
            Text(
                f"{_clock(time.monotonic() - self.started)} elapsed · {len(state.candidates)} of "
                f"{self.spec.max_candidates()} candidates created ({summary or 'none yet'}) · "
                f"{state.trial_epochs} trial-epochs"
            )
        ]
        dense = state.dense
        if dense is not None:
            obs = dense.observations.get(dense.last_epoch)
            target = f"{self.metric} {_num(obs.metric if obs else None)} at epoch {dense.epoch}/{self.spec.final_epoch}"
            lines.append(Text(f"dense target: {target} ({dense.status})"))
        best = leader(state, self.spec.metric_mode)
        if best is not None:
            trial, value, final = best
            when = "final" if final else f"at epoch {trial.last_epoch}"
            lines.append(Text(f"best so far: {trial.id} {trial.params.describe()} — {self.metric} {_num(value)} ({when})", style="green"))
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("trial", "candidate", "status", "epoch", self.metric, "LS distance"):
            table.add_column(column)
        active = [t for t in state.trials if t.status in ACTIVE_ORDER]
        active.sort(key=lambda t: (ACTIVE_ORDER.index(t.status), t.id))
        for trial in active[:12]:
            obs = trial.observations.get(trial.last_epoch)
            distance = None if trial.id == DENSE_ID else distance_at(state, trial, trial.last_epoch)
            table.add_row(
                trial.id,
                trial.params.describe(),
                trial.status,
                f"{trial.epoch}/{trial.target_epoch}",
                _num(obs.metric if obs else None),
                _num(distance),
            )
        if len(active) > 12:
            table.add_row("…", f"{len(active) - 12} more", "", "", "", "")
        parts: list[Any] = [*lines, table] if active else lines
        if self.decisions:
            parts.append(Text("recent decisions:", style="bold"))
            parts.extend(Text(f"  {d}", style="dim") for d in self.decisions)
        return Group(*parts)


def live_output(stream: TextIO) -> bool:
    """Whether a live table can be drawn: a terminal, or a Jupyter notebook with ipywidgets (rich
    draws its Live display into an ipywidgets Output there); elsewhere plain lines."""
    if stream.isatty():
        return True
    import importlib.util

    from rich.console import Console

    return stream is sys.stdout and Console().is_jupyter and importlib.util.find_spec("ipywidgets") is not None


def make_display(search: HyperpruneSearch, spec: SearchSpec, workdir: str, threads: int, *, quiet: bool, stream: TextIO | None = None) -> Display:
    stream = stream or sys.stdout
    if quiet or not live_output(stream):
        return PlainDisplay(search, spec, workdir, threads, quiet=quiet, stream=stream)
    return LiveDisplay(search, spec, workdir, threads)
