"""The engine's parts on their own: report following, state persistence, process helpers, summary."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from hyperprune.local.follow import ReportFollower
from hyperprune.local.journal import Journal, read_journal
from hyperprune.local.layout import Workdir, WorkdirBusy, write_json
from hyperprune.local.processes import TrialProcess, prepare_child, describe_exit, last_error_line, threads_per_trial
from hyperprune.local.result import session_times, wall_seconds
from hyperprune.local.store import load_current_state, load_state, save_state
from hyperprune.local.summary import summary_lines
from hyperprune.policy import SearchState, Start, apply, record_report
from hyperprune.contract.report import TrialReport
from hyperprune.spec import Point
from process_support import disposition, wait_for_disposition


def report(trial_id: str, epoch: int, **over) -> TrialReport:
    fields = {"trial_id": trial_id, "epoch": epoch, "metric": "perplexity", "mode": "min", "val_metric": 50.0 - epoch}
    return TrialReport(**{**fields, **over})


def line(r: TrialReport) -> str:
    return json.dumps(r.dump()) + "\n"


def test_follower_skips_a_torn_line_and_rereads_a_replaced_file(tmp_path):
    path = tmp_path / "reports.jsonl"
    follower = ReportFollower(tmp_path)
    assert follower.changed() == []
    path.write_text(line(report("t", 1)) + line(report("t", 2))[:30])  # epoch 2 half written
    assert [r.epoch for r in follower.changed()] == [1]
    assert follower.changed() == []  # nothing new
    with open(path, "a") as f:
        f.write(line(report("t", 2))[30:])
    assert [r.epoch for r in follower.changed()] == [1, 2]
    replacement = tmp_path / "new"
    replacement.write_text(line(report("t", 1)))  # a new run drops lines past its checkpoint
    os.replace(replacement, path)
    assert [r.epoch for r in follower.changed()] == [1]
    follower.forget()
    assert [r.epoch for r in follower.changed()] == [1]


def _state_with_spectra() -> SearchState:
    state = SearchState()
    apply(state, Start("dense", "dense", Point.dense(), 3))
    apply(state, Start("t000", "candidate", Point.of("random", 0.5), 1))
    record_report(state, "dense", epoch=1, metric=40.0, mode="min", spectrum=[0.1, -0.5])
    record_report(state, "t000", epoch=1, metric=45.0, mode="min", spectrum=[0.2, -0.7])
    return state


def test_state_is_saved_without_spectra_and_gets_them_back_from_the_journal(tmp_path):
    workdir = Workdir(tmp_path)
    state = _state_with_spectra()
    journal = Journal(workdir.journal)
    journal.append("report", trial="dense", epoch=1, spectrum=[0.1, -0.5])
    journal.append("report", trial="t000", epoch=1, spectrum=[0.2, -0.7])
    journal.close()
    save_state(workdir, state)
    assert "spectrum" not in workdir.state.read_text()
    loaded = load_state(workdir)
    np.testing.assert_array_equal(loaded.trial("t000").observations[1].spectrum, [0.2, -0.7])
    assert loaded.to_json() == state.to_json()


def test_spectra_also_come_back_from_the_trials_own_reports(tmp_path):
    workdir = Workdir(tmp_path)
    save_state(workdir, _state_with_spectra())  # the journal lost them (a power cut)
    for trial_id, spectrum in (("dense", [0.1, -0.5]), ("t000", [0.2, -0.7])):
        (workdir.trial(trial_id)).mkdir(parents=True)
        (workdir.trial(trial_id) / "reports.jsonl").write_text(line(report(trial_id, 1, lyapunov=spectrum)))
    loaded = load_state(workdir)
    np.testing.assert_array_equal(loaded.trial("dense").observations[1].spectrum, [0.1, -0.5])


def test_readers_see_reports_written_after_the_last_save(tmp_path):
    workdir = Workdir(tmp_path)
    state = _state_with_spectra()
    save_state(workdir, state)
    workdir.trial("dense").mkdir(parents=True)
    lines = [line(report("dense", e, lyapunov=[0.1, -0.5])) for e in (1, 2)]
    (workdir.trial("dense") / "reports.jsonl").write_text("".join(lines))
    current = load_current_state(workdir)
    assert current.trial("dense").epoch == 2 and load_state(workdir).trial("dense").epoch == 1


def test_one_engine_per_workdir(tmp_path):
    workdir = Workdir(tmp_path / "run")
    with workdir.locked():
        with pytest.raises(WorkdirBusy, match="another 'hyperprune run'"):
            with Workdir(tmp_path / "run").locked():
                pass


def test_write_json_replaces_atomically(tmp_path):
    path = tmp_path / "x.json"
    write_json(path, {"a": 1})
    write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_journal_skips_a_torn_last_line_and_sums_sessions(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(
        '{"event": "session", "time": 100.0}\n{"event": "launch", "time": 130.0}\n'
        '{"event": "session", "time": 200.0}\n{"event": "exit", "time": 210.5}\n{"event": "ex'
    )
    events = read_journal(path)
    assert [e["event"] for e in events] == ["session", "launch", "session", "exit"]
    assert session_times(events) == [(100.0, 130.0), (200.0, 210.5)]
    assert wall_seconds(events) == pytest.approx(40.5)


def test_a_journal_reopened_after_a_torn_line_starts_its_events_on_a_line_of_their_own(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"event": "session", "time": 100.0}\n{"event": "launch", "time": 130.0}\n{"event": "rep')
    journal = Journal(path)
    journal.append("session")
    journal.close()
    events = read_journal(path)
    assert [e["event"] for e in events] == ["session", "launch", "session"]
    assert len(session_times(events)) == 2  # result.json counts every session


@pytest.mark.parametrize("workers,cores,threads", [(1, 2, 2), (2, 2, 1), (3, 2, 1), (2, 16, 8), (3, 16, 5)])
def test_threads_split_the_cores_between_workers(workers, cores, threads):
    assert threads_per_trial(workers, cores) == threads


def test_exits_are_described():
    assert describe_exit(-signal.SIGKILL, False) == "killed by SIGKILL"
    assert describe_exit(143, True) == "stopped by SIGTERM"
    assert describe_exit(143, False) == "stopped by SIGTERM from outside the engine"
    assert describe_exit(2, False) == "refused its config (exit code 2)"
    assert describe_exit(1, False) == "exit code 1"


def test_the_error_line_of_a_crash_is_found(tmp_path):
    (tmp_path / "process.log").write_text(
        "2026-01-01 00:00:00,000 started t1 on cpu\nTraceback (most recent call last):\n"
        '  File "x.py", line 3, in <module>\n    boom()\nRuntimeError: the pruner exploded\n'
    )
    assert last_error_line(tmp_path) == "RuntimeError: the pruner exploded"
    (tmp_path / "process.log").write_text("log\nerror: data.path: no such directory — fix it\nt1: done\n")
    assert last_error_line(tmp_path) == "error: data.path: no such directory — fix it"
    assert last_error_line(tmp_path / "missing") is None


def test_summary_of_a_failed_search_points_at_the_logs():
    res = {
        "name": "s", "status": "failed", "strategy": "lsh", "message": "no candidate completed (1 failed)",
        "metric": "perplexity", "wallSeconds": 75.0, "sessions": 1, "fullTrialEpochs": 8, "trialEpochs": 0,
        "best": None, "dense": None,
        "trials": [{"id": "t000", "role": "candidate", "status": "failed", "stopReason": "crashed", "message": None,
                    "trialDir": "/r/trials/t000"}],
    }
    text = "\n".join(summary_lines(res, "/r/report.html"))
    assert "Search s failed (strategy lsh) in 1m15s" in text
    assert "why: no candidate completed (1 failed)" in text
    assert "t000 failed: crashed" in text and "/r/trials/t000/process.log" in text
    assert "report: /r/report.html" in text


def _python(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], preexec_fn=prepare_child)


def test_terminate_asks_then_kill_if_overdue_forces(tmp_path):
    stubborn = TrialProcess("t", _python(
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True); time.sleep(60)"
    ), 0, 1, time.time())
    wait_for_disposition(stubborn.pid, signal.SIGTERM, "ignored")
    stubborn.terminate()
    stubborn.kill_if_overdue(grace_seconds=5.0)
    assert stubborn.poll() is None  # ignores SIGTERM, and the grace has not passed
    time.sleep(0.3)
    stubborn.kill_if_overdue(grace_seconds=0.2)
    assert stubborn.popen.wait(timeout=10) == -signal.SIGKILL


def test_children_ignore_the_terminals_ctrl_c_the_engine_stops_them_itself():
    child = TrialProcess("t", _python("import time; time.sleep(60)"), 0, 1, time.time())
    assert disposition(child.pid, signal.SIGINT) == "ignored"  # set before exec: no waiting needed
    child.popen.send_signal(signal.SIGINT)
    child.terminate()
    # Pending signals are delivered lowest number first: had SIGINT been fatal, it would have ended it.
    # (A generous wait: under heavy disk and CPU load, a child still paging in its interpreter took
    # more than 10 s to act on the signal.)
    assert child.popen.wait(timeout=120) == -signal.SIGTERM


def test_live_and_plain_displays_show_progress_decisions_and_the_leader():
    import io

    from rich.console import Console

    from hyperprune.local.progress import LiveDisplay, PlainDisplay
    from hyperprune.policy import Stop
    from hyperprune.policy.simulate import Simulation, latent_trajectories
    from hyperprune.spec import parse_search
    from local_support import TINY_SEARCH

    search = parse_search(TINY_SEARCH)
    sim = Simulation(search.spec, latent_trajectories(seed=1, exponents=24)).run(max_decisions=10)
    assert sim.state.outcome is None  # mid-search
    stops = [a for _, a in sim.log if isinstance(a, Stop)]
    assert stops
    trial = next(t for t in sim.state.candidates if t.observations)
    obs = trial.observations[trial.last_epoch]
    last = report(trial.id, trial.last_epoch, lyapunov=None if obs.spectrum is None else obs.spectrum.tolist())

    out = io.StringIO()
    live = LiveDisplay(search, search.spec, "runs/tiny", 1, console=Console(file=out, force_terminal=True, width=140))
    live.start(sim.state, resumed=False)
    live.report(sim.state, trial.id, last)
    for _, action in sim.log:
        live.action(sim.state, action)
    live.stop(sim.state)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    assert "starting search tiny in runs/tiny: strategy lsh, 4 candidates" in text
    assert "dense target: perplexity" in text and "best so far:" in text and "recent decisions:" in text
    for stop in stops:
        assert f"stop {stop.trial_id}: LS distance" in text

    lines = io.StringIO()
    plain = PlainDisplay(search, search.spec, "runs/tiny", 1, quiet=False, stream=lines)
    plain.start(sim.state, resumed=True)
    plain.report(sim.state, trial.id, last)
    plain.exited(sim.state, trial.id, -9, "killed by SIGKILL")
    text = lines.getvalue()
    assert "resuming search tiny" in text
    assert f"{trial.id} epoch {trial.last_epoch}: perplexity" in text
    assert f"{trial.id} failed (attempt {trial.failures}): killed by SIGKILL" in text
