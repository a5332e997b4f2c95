"""The local engine: the policy's actions carried out with trial processes on this machine.

A thin adapter. Every decision comes from ``hyperprune.policy.decide``; every epoch is trained by
``hyperprune trial``. The engine only turns facts into state and actions into processes:

    loop:
        collect    new report lines -> record_trial_report; process exits -> record_error when a
                   run ended without reaching its target (a crash, a kill, exit 2)
        decide     apply each action: Stop/Fail terminate the trial's process (SIGTERM), a
                   from-scratch Continue wipes the trial's checkpoint and reports, Promote copies
                   the winner's model/ to the output folder, Finish ends the loop
        launch     every trial that holds a worker (pending or running) and has no process gets one:
                   ``hyperprune trial --until-epoch <target>``, continuing from its checkpoint
        persist    DIR/state.json (atomically) whenever something changed

The launch rule is also how a restarted engine resumes: the trials the saved state shows running
are launched again and continue from their checkpoints.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

from hyperprune.local.board import DistanceBoard, distance_board
from hyperprune.local.dense_cache import DenseCache, cache_key, open_cache
from hyperprune.local.follow import ReportFollower
from hyperprune.local.journal import Journal
from hyperprune.local.layout import Workdir, WorkdirFileError, read_json, write_text
from hyperprune.local.processes import (
    TrialProcess,
    describe_exit,
    last_error_line,
    launch,
    threads_per_trial,
    trial_dir_busy,
)
from hyperprune.local.progress import Display
from hyperprune.local.result import promote, promote_front
from hyperprune.local.store import load_state, save_state
from hyperprune.policy import (
    OCCUPYING,
    TERMINAL,
    Action,
    Continue,
    Fail,
    Finish,
    Promote,
    SearchState,
    Start,
    Stop,
    TrialExit,
    action_to_json,
    apply,
    decide,
    mark_running,
    record_error,
    record_exit,
    record_trial_report,
    reopen,
    restart_from_scratch,
)
from hyperprune.contract.files import ATTEMPT_DIRS, ATTEMPT_FILES, CHECKPOINT_FILE, CONFIG_FILE, REPORTS_FILE
from hyperprune.contract.promotion import PromotionRefused, promoted_by_hyperprune
from hyperprune.spec.models import HyperpruneSearch


class PromotionFailed(RuntimeError):
    """The best model could not be copied to the output folder; the search is not finished and
    resumes with the promotion once the cause is fixed. ``args``: (what happened, what to do)."""


@dataclass
class EngineOptions:
    workers: int | None = None  # trials at once; None: the spec's budget.parallelism
    poll_seconds: float = 0.2  # how often processes and report files are checked
    grace_seconds: float = 30.0  # SIGTERM -> SIGKILL after this long
    cores: int | None = None  # CPUs to share between workers; None: what this process may use
    retry_failed: bool = False  # reopen a failed search: its failed trials resume (hyperprune run --retry-failed)


@dataclass
class Engine:
    search: HyperpruneSearch
    workdir: Workdir
    options: EngineOptions = field(default_factory=EngineOptions)
    processes: dict[str, TrialProcess] = field(default_factory=dict)
    followers: dict[str, ReportFollower] = field(default_factory=dict)
    interrupted: bool = False
    hurry: bool = False  # a second Ctrl-C: kill the trials instead of waiting for them
    board: DistanceBoard | None = None  # LS distances into the trials' TensorBoard folders (spec.tensorboard)

    def __post_init__(self) -> None:
        spec = self.search.spec
        if self.options.workers is not None:
            # The policy never lets more than budget.parallelism trials hold a worker.
            spec = spec.with_parallelism(self.options.workers)
        self.spec = spec
        self.threads = threads_per_trial(spec.budget.parallelism, self.options.cores)
        self.dense_cache = open_cache() if spec.dense.cache else None

    # ---- the loop ------------------------------------------------------------------------------

    def run(self, display: Display) -> SearchState:
        """Run (or resume) the search until it finishes or is interrupted; returns the state. A
        finished search trains nothing and starts no session (its promoted model is put back if
        it was deleted), unless ``retry_failed`` reopens a failed one."""
        self.display = display
        resumed = self.workdir.state.exists()
        self.state = load_state(self.workdir)
        reopened = reopen(self.state) if self.options.retry_failed else []
        if self.state.outcome is not None:
            self.display.start(self.state, resumed=resumed)
            self._restore_promoted_model()
            self.display.stop(self.state)
            return self.state
        self.journal = Journal(self.workdir.journal)
        self.board = distance_board(self.workdir) if self.spec.tensorboard else None
        try:
            self.journal.append("session", resumed=resumed, workers=self.spec.budget.parallelism,
                                threads=self.threads, pid=os.getpid())
            if reopened:
                self.journal.append("reopened", trials=reopened)
            self.display.start(self.state, resumed=resumed, reopened=reopened)
            with self._signals():
                self._loop()
        finally:
            try:
                # Normally only trials just stopped are left; after an error or Ctrl-C, every running one.
                self._stop_all(interrupted=self.state.outcome is None)
                self._save()
            finally:
                self.journal.close()
                if self.board is not None:
                    self.board.close()
                self.display.stop(self.state)
        return self.state

    def _restore_promoted_model(self) -> None:
        """A finished search whose promoted folder was deleted since gets it back from the winner's
        own model/ folder, so what result.json and the summary name is there."""
        if self.state.promoted is None:
            return
        target = self.workdir.output(self.spec.output.folder)
        if promoted_by_hyperprune(target):
            return
        try:
            promote(self.workdir, self.search, self.state.promoted, self.spec.output.folder)
            promote_front(self.workdir, self.search, self.spec, self.state, self.state.promoted)
        except (OSError, PromotionRefused) as exc:
            self.display.note(f"the promoted model is not at {target} and could not be copied there again: {exc}")
        else:
            self.display.note(f"{target} was missing: copied the model of {self.state.promoted} there again")

    def _loop(self) -> None:
        state = self.state
        self._collect_all_reports()  # reports written after the last save (or while no engine ran)
        self._save()
        changed = True
        while True:
            changed |= self._collect()
            if self.interrupted:
                self._stop_all(interrupted=True)
                self._save()
                self.journal.append("interrupted")
                return
            if changed:  # decide is level-triggered: an unchanged state would give nothing new
                for action in decide(self.spec, state):
                    self._carry_out(action)
                if state.outcome is not None:
                    self._save()
                    self.journal.append("finished", outcome=state.outcome, message=state.message)
                    return
                self._save()
            launched, facts = self._launch_missing()
            if launched or facts:
                self._save()
            # A launch that failed (an error) or a cached dense reference are facts to decide on at once;
            # otherwise wait for reports and exits.
            changed = facts
            if not (changed or launched):
                self.display.refresh(state)
                time.sleep(self.options.poll_seconds)

    def _save(self) -> None:
        save_state(self.workdir, self.state)

    # ---- facts -> state --------------------------------------------------------------------------

    def _follower(self, trial_id: str) -> ReportFollower:
        if trial_id not in self.followers:
            self.followers[trial_id] = ReportFollower(self.workdir.trial(trial_id))
        return self.followers[trial_id]

    def _read_reports(self, trial_id: str) -> bool:
        accepted = False
        for report in self._follower(trial_id).changed():
            if report.trial_id != trial_id or not record_trial_report(self.state, report):
                continue  # a duplicate (re-read file, retrained epoch) or a trial already ended
            accepted = True
            self.journal.append(
                "report", trial=trial_id, epoch=report.epoch, status=report.status, metric=report.val_metric,
                testMetric=report.test_metric, sparsity=report.sparsity, spectrum=report.lyapunov,
                message=report.message,
            )
            self.display.report(self.state, trial_id, report)
        if accepted and self.board is not None:
            self.board.update(self.state)
        return accepted

    def _collect_all_reports(self) -> None:
        for trial in self.state.trials:
            self._read_reports(trial.id)

    def _collect(self) -> bool:
        changed = False
        for trial_id, process in list(self.processes.items()):
            code = process.poll()  # first: once it has exited, all its reports are on disk
            changed |= self._read_reports(trial_id)
            if code is None:
                process.kill_if_overdue(0.0 if self.hurry else self.options.grace_seconds)
                continue
            del self.processes[trial_id]
            self._exited(process, code)
            changed = True
        return changed

    def _exited(self, process: TrialProcess, code: int) -> None:
        """The policy's reducer decides what an exit means (``record_exit``, as for the operator's pods)."""
        trial = self.state.trial(process.trial_id)
        how = describe_exit(code, process.terminate_sent is not None) if code != 0 else ""
        problem = record_exit(self.state, TrialExit(
            trial.id, process.until_epoch, code, how, last_error_line(self.workdir.trial(trial.id))))
        self.journal.append("exit", trial=trial.id, code=code, epoch=trial.epoch, status=trial.status,
                            message=trial.message if problem else None)
        if trial.is_dense and code == 0 and not problem and self.dense_cache is not None:
            self._keep_dense(self.dense_cache)
        self.display.exited(self.state, trial.id, code, trial.message if problem else None)

    # ---- actions -> processes --------------------------------------------------------------------

    def _carry_out(self, action: Action) -> None:
        if isinstance(action, Continue) and action.from_scratch:
            # Its last run may still be writing the checkpoint of the epoch it just reported; let it
            # finish (and read what it wrote) before the run's files are discarded.
            self._settle(action.trial_id)
        if isinstance(action, Promote):
            # Copied before it is recorded: a copy that fails (a full disk, a folder that is not
            # ours) leaves the state unpromoted, and the next run decides to promote again.
            self._promote(action.trial_id)
        apply(self.state, action)
        self.journal.append("action", action=action_to_json(action))
        self.display.action(self.state, action)
        if isinstance(action, Continue) and action.from_scratch:
            self._wipe_run(action.trial_id)
        elif isinstance(action, (Stop, Fail)):
            self._terminate_unfinished(action.trial_id)
        elif isinstance(action, (Start, Finish, Promote)):
            pass  # a started trial is launched with every other trial that holds a worker

    def _promote(self, trial_id: str) -> None:
        target = self.workdir.output(self.spec.output.folder)
        try:
            promote(self.workdir, self.search, trial_id, self.spec.output.folder)
            promote_front(self.workdir, self.search, self.spec, self.state, trial_id)
        except (OSError, PromotionRefused) as exc:
            self.journal.append("promotion-failed", trial=trial_id, message=str(exc))
            raise PromotionFailed(
                f"could not promote {trial_id} to {target}: {exc}",
                f"fix that (free space, or move {target} away), then run the same command again: it promotes "
                f"{trial_id} and finishes without training",
            ) from None

    def _settle(self, trial_id: str) -> None:
        process = self.processes.get(trial_id)
        if process is None:
            return
        deadline = time.monotonic() + self.options.grace_seconds
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if process.poll() is None:
            process.terminate()
            while process.poll() is None:
                process.kill_if_overdue(self.options.grace_seconds)
                time.sleep(0.05)
        self._read_reports(trial_id)
        del self.processes[trial_id]
        self._exited(process, process.poll())  # type: ignore[arg-type]

    def _wipe_run(self, trial_id: str) -> None:
        trial_dir = self.workdir.trial(trial_id)
        for name in ATTEMPT_FILES:
            (trial_dir / name).unlink(missing_ok=True)
        for name in ATTEMPT_DIRS:
            shutil.rmtree(trial_dir / name, ignore_errors=True)
        self._follower(trial_id).forget()

    # ---- the dense reference's cache ------------------------------------------------------------

    def _dense_key(self) -> str:
        from hyperprune.policy import DENSE_ID

        try:
            files = read_json(self.workdir.data)["files"] if self.workdir.data.exists() else []
        except (WorkdirFileError, KeyError, TypeError):
            files = [{"bytes": -1, "sha256": "unreadable data.json"}]  # never matches a real entry
        return cache_key(self.spec.trial_config(DENSE_ID, None), files)

    def _serve_dense(self, cache: DenseCache, trial_id: str) -> bool:
        """A fresh dense reference from the cache, as far as the search trains it; True when it took
        anything (its reports are then recorded like a run's)."""
        trial = self.state.trial(trial_id)
        trial_dir = self.workdir.trial(trial_id)
        if trial.epoch > 0 or (trial_dir / REPORTS_FILE).exists():
            return False
        config = self.spec.trial_config(trial_id, trial.params)
        try:
            key = self._dense_key()
            served = cache.serve(key, config, trial_dir, trial.target_epoch)
        except OSError as exc:
            self.display.note(f"the dense reference's cache in {cache.root} could not be read ({exc}); training it")
            return False
        if served is None:
            return False
        self.journal.append("dense-cache", trial=trial_id, key=key, epochs=served.epochs, checkpoint=served.checkpoint)
        self.display.note(f"{trial_id}: epochs 1-{served.epochs} taken from the cache of an earlier search "
                          f"({cache.entry(key)}); counted as trained")
        self._read_reports(trial_id)
        return True

    def _keep_dense(self, cache: DenseCache) -> None:
        from hyperprune.policy import DENSE_ID

        try:
            cache.store(self._dense_key(), self.workdir.trial(DENSE_ID))
        except OSError as exc:  # a full or read-only cache never takes the search down
            self.display.note(f"the dense reference was not kept in {cache.root} ({exc})")

    def _launch_missing(self) -> tuple[bool, bool]:
        """Give a process to every trial that holds a worker but has none (new, continued, resumed).
        Returns (whether one was launched, whether there are new facts to decide on at once: a launch
        that failed, recorded as the trial's error, or a dense reference taken from the cache)."""
        launched = facts = False
        for trial in self.state.trials:
            if trial.status not in OCCUPYING or trial.id in self.processes:
                continue
            if trial.is_dense and self.dense_cache is not None and self._serve_dense(self.dense_cache, trial.id):
                facts = True
                if trial.status not in OCCUPYING:
                    continue  # the cache reached as far as the search trains it
            trial_dir = self.workdir.trial(trial.id)
            if trial_dir_busy(trial_dir):
                # A process of an engine that died is still finishing its step (it got SIGTERM when
                # the engine died); starting another would fail on the trial's lock. Next round.
                continue
            if trial.epoch > 0 and not (trial_dir / CHECKPOINT_FILE).exists():
                # Deleted (it was damaged) or never written (a crash right after the report): the
                # run trains from epoch 0, and those epochs count as trained again.
                restart_from_scratch(self.state, trial.id)
                self.display.note(f"{trial.id} has no checkpoint ({trial_dir / CHECKPOINT_FILE}): it trains from epoch 0")
            try:
                trial_dir.mkdir(parents=True, exist_ok=True)
                config_file = trial_dir / CONFIG_FILE
                if not config_file.exists():
                    config = self.spec.trial_config(trial.id, trial.params)
                    write_text(config_file, config.model_dump_json(by_alias=True, indent=2))
                process = launch(trial.id, trial_dir, trial.epoch, trial.target_epoch, self.threads)
            except OSError as exc:
                record_error(self.state, trial.id, f"could not start 'hyperprune trial': {exc}")
                self.display.exited(self.state, trial.id, -1, trial.message)
                facts = True
                continue
            self.processes[trial.id] = process
            mark_running(self.state, trial.id)
            self.journal.append("launch", trial=trial.id, fromEpoch=trial.epoch, untilEpoch=trial.target_epoch,
                                pid=process.pid)
            self.display.launched(self.state, trial.id, trial.epoch, trial.target_epoch)
            launched = True
        return launched, facts

    # ---- stopping ------------------------------------------------------------------------------

    def _terminate_unfinished(self, trial_id: str) -> None:
        """SIGTERM the trial's process unless it already reported the epoch it was started for:
        then it is only writing its checkpoint and exits by itself."""
        process = self.processes.get(trial_id)
        if process is not None and self.state.trial(trial_id).epoch < process.until_epoch:
            process.terminate()

    def _stop_all(self, *, interrupted: bool) -> None:
        """Stop every trial process (SIGTERM: each keeps its last checkpoint) and wait for them.
        When interrupted, the trials stay running in the state, with the reports they made up to the
        stop, and the next run on this DIR launches them again from their checkpoints."""
        for trial_id in self.processes:
            self._terminate_unfinished(trial_id)
        while self.processes:
            for trial_id, process in list(self.processes.items()):
                code = process.poll()
                if code is None:
                    process.kill_if_overdue(0.0 if self.hurry else self.options.grace_seconds)
                    continue
                del self.processes[trial_id]
                self._read_reports(trial_id)
                trial = self.state.trial(trial_id)
                if interrupted and trial.status not in TERMINAL and trial.epoch < process.until_epoch:
                    self.journal.append("exit", trial=trial_id, code=code, epoch=trial.epoch, status=trial.status,
                                        message="interrupted")
                else:
                    self._exited(process, code)
            time.sleep(0.05)

    @contextmanager
    def _signals(self) -> Iterator[None]:
        def handle(signum: int, frame: object) -> None:
            if self.interrupted:
                self.hurry = True
            self.interrupted = True
            self.display.note(
                "stopping: trials finish their current step and keep their checkpoints"
                + (" (killing them now)" if self.hurry else "; press Ctrl-C again to kill them")
            )

        previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

