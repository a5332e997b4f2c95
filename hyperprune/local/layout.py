"""Where everything of one local search lives: the work dir ``DIR``.

    DIR/search.json          the validated HyperpruneSearch this DIR was started with (camelCase; data.path absolute)
    DIR/data.json            size and SHA-256 of every data file, when the search started
    DIR/state.json           the policy's SearchState, rewritten atomically after every change (no spectra)
    DIR/events.jsonl         the engine's journal: decisions, launches, reports (with spectra), exits
    DIR/trials/<id>/         one trial's work dir: trial.json, reports.jsonl, checkpoint.pt, model/, ...
    DIR/trials/<id>/process.log   stdout and stderr of that trial's processes
    DIR/result.json          written when the search ends
    DIR/best/                the promoted model (spec.output.path, relative to DIR)
    DIR/report.html          ``hyperprune report DIR``
    DIR/.lock                held by the engine working in DIR
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class WorkdirBusy(RuntimeError):
    """Another engine works in the same DIR."""


class WorkdirFileError(ValueError):
    """A file Hyperprune wrote in DIR cannot be read back (edited, truncated, replaced): the
    message names the file and what is wrong with it."""


@dataclass(frozen=True)
class Workdir:
    root: Path

    @property
    def search(self) -> Path:
        return self.root / "search.json"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def journal(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def data(self) -> Path:
        return self.root / "data.json"

    @property
    def result(self) -> Path:
        return self.root / "result.json"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    @property
    def trials(self) -> Path:
        return self.root / "trials"

    def trial(self, trial_id: str) -> Path:
        return self.trials / trial_id

    def output(self, folder: str) -> Path:
        """The promoted model's folder: ``spec.output.folder``, which the spec keeps inside DIR."""
        return self.root / folder

    @property
    def engine_lock(self) -> Path:
        return self.root / ".lock"

    def started(self) -> bool:
        return self.search.exists()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive use of DIR by one engine: two would launch the same trials twice."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.engine_lock, "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise WorkdirBusy(f"another 'hyperprune run' is working in {self.root}") from None
            yield


def lock_held(lock: Path) -> bool:
    """Whether a process holds an flock on this lock file right now (the engine's DIR/.lock, a
    trial's work-dir lock). Probes with a non-blocking lock of its own, released at once."""
    if not lock.exists():
        return False
    with open(lock, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


def write_text(path: Path, text: str) -> None:
    """Write a file atomically: a reader (or a crash) sees the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half file behind
        raise


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=1, allow_nan=False) + "\n")


def read_json(path: Path) -> Any:
    """A JSON file of the work dir; WorkdirFileError naming it when it is not readable JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise WorkdirFileError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:
        raise WorkdirFileError(f"{path} is not valid JSON ({exc})") from None
    except OSError as exc:
        raise WorkdirFileError(f"cannot read {path}: {exc.strerror or exc}") from None
