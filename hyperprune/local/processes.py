"""Trial processes: ``hyperprune trial`` as a child of the engine, one per running trial.

Children share the engine's process group (so ``kill -- -PGID`` ends the whole search), ignore
SIGINT (a Ctrl-C in the terminal reaches the whole group; the engine stops them itself, with
SIGTERM, so they leave their checkpoints), and on Linux get SIGTERM when the engine dies, so an
engine killed with SIGKILL leaves no trial running on its own.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from hyperprune.local.layout import lock_held
from hyperprune.contract.resources import cpu_budget
from hyperprune.contract.files import CONFIG_FILE, LOCK_FILE
from hyperprune.contract.files import REFUSED_CONFIG_EXIT as REFUSED_CONFIG
from hyperprune.contract.files import STOPPED_EXIT as STOPPED_BY_SIGTERM

PROCESS_LOG = "process.log"  # the children's stdout and stderr (tracebacks land here)
PR_SET_PDEATHSIG = 1


def threads_per_trial(workers: int, cores: int | None = None) -> int:
    """Threads each trial may use so that ``workers`` trials at once do not oversubscribe the CPU."""
    return max(1, (cores or cpu_budget()) // max(1, workers))


def prepare_child() -> None:  # runs in the child between fork and exec
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited through exec: Python keeps it ignored
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass


@dataclass
class TrialProcess:
    trial_id: str
    popen: subprocess.Popen
    from_epoch: int
    until_epoch: int
    started: float
    terminate_sent: float | None = None  # time.monotonic() of our SIGTERM

    @property
    def pid(self) -> int:
        return self.popen.pid

    def poll(self) -> int | None:
        return self.popen.poll()

    def terminate(self) -> None:
        """Ask it to stop (SIGTERM: it finishes the current step and exits 143, checkpoint intact)."""
        if self.terminate_sent is None and self.popen.poll() is None:
            self.terminate_sent = time.monotonic()
            self.popen.terminate()

    def kill_if_overdue(self, grace_seconds: float) -> None:
        if self.terminate_sent is not None and self.popen.poll() is None:
            if time.monotonic() - self.terminate_sent > grace_seconds:
                self.popen.kill()


def trial_dir_busy(trial_dir: Path) -> bool:
    """Whether a process holds the trial directory's lock (the trial runtime takes it for its run)."""
    return lock_held(trial_dir / LOCK_FILE)


def trial_command(trial_dir: Path, until_epoch: int) -> list[str]:
    return [
        sys.executable, "-m", "hyperprune.cli", "trial",
        "--config", str(trial_dir / CONFIG_FILE),
        "--workdir", str(trial_dir),
        "--until-epoch", str(until_epoch),
    ]


def launch(trial_id: str, trial_dir: Path, from_epoch: int, until_epoch: int, threads: int) -> TrialProcess:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    with open(trial_dir / PROCESS_LOG, "ab") as log:
        popen = subprocess.Popen(
            trial_command(trial_dir, until_epoch),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=prepare_child,
        )
    return TrialProcess(trial_id, popen, from_epoch, until_epoch, time.time())


def describe_exit(code: int, terminated_by_us: bool) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}"
    if code == STOPPED_BY_SIGTERM:
        return "stopped by SIGTERM" + ("" if terminated_by_us else " from outside the engine")
    if code == REFUSED_CONFIG:
        return "refused its config (exit code 2)"
    return f"exit code {code}"


def last_error_line(trial_dir: Path, max_bytes: int = 8192) -> str | None:
    """The most telling line at the end of the trial's process log: an ``error:`` line or the last
    line of a traceback."""
    path = trial_dir / PROCESS_LOG
    try:
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - max_bytes))
            lines = [ln.strip() for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return None
    errors = [ln for ln in lines if ln.startswith("error:")]
    if errors:
        return errors[-1]
    for ln in reversed(lines):
        if ":" in ln and not ln.startswith(("File ", "^", "~")) and ln.split(":", 1)[0].replace(".", "").isidentifier():
            return ln
    return lines[-1] if lines else None
