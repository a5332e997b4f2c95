"""Ground truth: every candidate of a pool (and the dense reference) trained to the final epoch once.

Each trial is a real ``hyperprune.trial.run_trial`` with the search's own trial config (the spec's
``trial_config``), except that it computes a spectrum at every analysis epoch, so that any strategy's
rungs can be replayed from it. Trials run in a pool of worker processes with one CPU thread each;
a trial directory that already holds the final report is read, not retrained (an interrupted
benchmark continues where it stopped: trials resume from their checkpoints).

A task may ask for spectra of other states beside the spec's (``spectra.alsoStates``: an LSTM's
hidden-only spectrum, as published, beside the exact (h, c) one), for the predictor comparison only.
The trial contract reports one spectrum per epoch, so the ground truth computes the others in the
same process at the same moment (``extra_spectra``: the runtime's ``probe_spectrum`` called once
more per state, in eval mode, with its own generator: training is untouched, and the trial's reports
stay bit-identical to a live run's). They go to ``extra-spectra.jsonl`` in the trial's directory;
their seconds are taken out of the epoch's, so replayed wall times are those of a trial without them.

A record is plain JSON:

    {"id", "point", "family", "description", "status": completed|diverged|error, "message",
     "divergedAt", "testMetric", "testLoss", "wallSeconds",
     "epochs": [{"epoch", "valMetric", "valLoss", "trainLoss", "sparsity", "epochSeconds",
                 "lyapunovSeconds", "tokensPerSecond", "spectrum": [...] | null,
                 "spectra": {"hidden": [...]} (the extra states, where recorded)}]}
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable

REPORTS = "reports.jsonl"
EXTRA_SPECTRA = "extra-spectra.jsonl"


def _init_worker() -> None:
    # One thread per trial: workers run side by side, and a trial's numbers must not depend on how
    # many threads it got (the live check runs the same trials through the CLI with one thread).
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    import torch

    torch.set_num_threads(1)


def read_reports(trial_dir: Path) -> list[dict[str, Any]]:
    path = Path(trial_dir) / REPORTS
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def read_extra_spectra(trial_dir: Path) -> dict[int, dict[str, Any]]:
    """epoch -> {state: {"spectrum", "seconds"}} from the trial's extra-spectra.jsonl."""
    path = Path(trial_dir) / EXTRA_SPECTRA
    out: dict[int, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                entry = json.loads(line)
                out.setdefault(entry["epoch"], {})[entry["state"]] = entry
    return out


@contextlib.contextmanager
def extra_spectra(states: list[str], sink: list[dict[str, Any]]) -> Iterator[None]:
    """While active, every spectrum the trial runtime computes is followed by one per other state in
    ``states``, appended to ``sink`` (one dict per call, in order)."""
    from hyperprune.trial import runtime

    original = runtime.probe_spectrum

    def with_extra(model: Any, probe: Any, layers: Any, cfg: Any) -> tuple[list[float], float]:
        out = original(model, probe, layers, cfg)
        extra: dict[str, Any] = {}
        for state in states:
            if state == cfg.state:
                continue
            try:
                values, seconds = original(model, probe, layers, cfg.model_copy(update={"state": state}))
                extra[state] = {"spectrum": [v if v == v and abs(v) != float("inf") else None for v in values],
                                "seconds": seconds}
            except ValueError:  # a numerically broken core: no spectrum, as the runtime does
                extra[state] = {"spectrum": None, "seconds": 0.0}
        sink.append(extra)
        return out

    runtime.probe_spectrum = with_extra
    try:
        yield
    finally:
        runtime.probe_spectrum = original


def save_extra_spectra(trial_dir: Path, start_epoch: int, sink: list[dict[str, Any]]) -> None:
    """Pair this run's extra spectra with the epochs it reported a spectrum for (in order, after the
    epoch it started from) and append them to the trial's extra-spectra.jsonl."""
    epochs = [r["epoch"] for r in read_reports(trial_dir)
              if r["status"] != "diverged" and r["epoch"] > start_epoch and r.get("lyapunov") is not None]
    with open(Path(trial_dir) / EXTRA_SPECTRA, "a") as f:
        for epoch, extra in zip(epochs, sink):
            for state, entry in extra.items():
                f.write(json.dumps({"epoch": epoch, "state": state, **entry}) + "\n")


def record_from_reports(reports: list[dict[str, Any]], final_epoch: int,
                        extra: dict[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The trajectory a trial's report lines describe (one line per epoch)."""
    extra = extra or {}
    epochs = []
    diverged_at = None
    message = None
    test_metric = test_loss = None
    for r in reports:
        if r["status"] == "diverged":
            diverged_at = r["epoch"]
            message = r.get("message")
            break
        others = extra.get(r["epoch"], {})
        entry = {
            "epoch": r["epoch"],
            "valMetric": r["valMetric"],
            "valLoss": r["valLoss"],
            "trainLoss": r["trainLoss"],
            "sparsity": r["sparsity"],
            # without the extra spectra: what the trial takes in a search
            "epochSeconds": r["epochSeconds"] - sum(e["seconds"] for e in others.values()),
            "lyapunovSeconds": r.get("lyapunovSeconds") or 0.0,
            "tokensPerSecond": r.get("tokensPerSecond"),
            "spectrum": r.get("lyapunov"),
        }
        if others:
            entry["spectra"] = {state: e["spectrum"] for state, e in others.items()}
        epochs.append(entry)
        if r["epoch"] == final_epoch:
            test_metric, test_loss = r.get("testMetric"), r.get("testLoss")
    if diverged_at is not None:
        status = "diverged"
    elif epochs and epochs[-1]["epoch"] == final_epoch:
        status = "completed"
    else:
        status = "incomplete"
    return {
        "status": status,
        "divergedAt": diverged_at,
        "message": message,
        "testMetric": test_metric,
        "testLoss": test_loss,
        "wallSeconds": reports[-1]["wallSeconds"] if reports else 0.0,
        "epochs": epochs,
    }


def finished(trial_dir: Path, final_epoch: int) -> bool:
    reports = read_reports(trial_dir)
    return bool(reports) and (reports[-1]["status"] == "diverged" or reports[-1]["epoch"] >= final_epoch)


def train_trial(config_json: str, trial_dir: str, also_states: tuple[str, ...] = ()) -> dict[str, Any]:
    """Worker: train one trial to its final epoch (resuming a checkpoint if any) and return its record,
    with spectra of ``also_states`` beside the config's (see ``extra_spectra``)."""
    from hyperprune.contract.trial import TrialConfig

    config = TrialConfig.model_validate_json(config_json)
    final = config.training.epochs
    started, cpu = time.time(), time.process_time()
    error = None
    reused = finished(Path(trial_dir), final)
    if not reused:
        from hyperprune.trial.runtime import TrialSetupError, run_trial

        sink: list[dict[str, Any]] = []
        before = read_reports(Path(trial_dir))
        start_epoch = before[-1]["epoch"] if before else 0
        try:
            with extra_spectra(list(also_states), sink):
                outcome = run_trial(config, trial_dir)
            if outcome.status not in ("completed", "diverged", "unchanged"):
                error = f"trial ended {outcome.status} (exit code {outcome.exit_code})"
        except TrialSetupError as exc:
            error = "; ".join(str(line) for line in exc.lines)
        except Exception as exc:  # a crash is a result too: the record says what happened
            error = f"{type(exc).__name__}: {exc}"
        if also_states:
            save_extra_spectra(Path(trial_dir), start_epoch, sink)
    record = record_from_reports(read_reports(Path(trial_dir)), final, read_extra_spectra(Path(trial_dir)))
    if error is not None:
        record["status"], record["message"] = "error", error
    record["reused"] = reused  # read from an earlier run's directory: its times are that run's
    record["processSeconds"] = time.time() - started
    record["processCpuSeconds"] = time.process_time() - cpu  # this process, all its threads
    return record


def live_run(document_json: str, workdir: str, cpu: int | None) -> dict[str, Any]:
    """Worker: run one search through the local engine's command line (``hyperprune run``), with one
    worker, pinned to one CPU so that every trial process gets one thread (as the ground truth's)."""
    search_file = Path(workdir).with_suffix(".yaml")
    search_file.parent.mkdir(parents=True, exist_ok=True)
    search_file.write_text(document_json)  # JSON is YAML
    command = [sys.executable, "-m", "hyperprune.cli", "run", str(search_file), "--workdir", workdir,
               "--workers", "1", "--quiet"]

    def pin() -> None:
        if cpu is not None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {cpu})

    started = time.time()
    proc = subprocess.run(command, capture_output=True, text=True, preexec_fn=pin)
    return {
        "command": " ".join(command),
        "exitCode": proc.returncode,
        "seconds": time.time() - started,
        "outputTail": (proc.stdout + proc.stderr)[-4000:],
        "pinnedCpu": cpu,
    }


def live_or_reuse(document_json: str, live_dir: str, cpu: int | None) -> dict[str, Any]:
    """Worker: the live run, or what a finished one in the same directory recorded."""
    info_file = Path(live_dir).with_suffix(".run.json")
    if (Path(live_dir) / "result.json").exists() and info_file.exists():
        return json.loads(info_file.read_text())
    info = live_run(document_json, live_dir, cpu)
    info_file.write_text(json.dumps(info))
    return info


@dataclass
class Job:
    key: str  # "<task label>/<trial id>" or "<task label>/live"
    fn: Callable[..., dict[str, Any]]
    args: tuple
    weight: float = 1.0  # expected cost, longest first
    on_done: Callable[[str, dict[str, Any]], None] | None = None


@dataclass
class Pool:
    """Runs jobs on `workers` processes (one thread each), longest first; live jobs start first."""

    workers: int
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    def run(self, jobs: list[Job]) -> dict[str, dict[str, Any]]:
        todo = sorted(jobs, key=lambda j: -j.weight)
        if not todo:
            return self.results
        ctx = get_context("spawn")
        with ProcessPoolExecutor(max_workers=max(1, min(self.workers, len(todo))), mp_context=ctx,
                                 initializer=_init_worker) as ex:
            running: dict[Future, Job] = {}
            while todo or running:
                while todo and len(running) < self.workers:
                    job = todo.pop(0)
                    running[ex.submit(job.fn, *job.args)] = job
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in done:
                    job = running.pop(fut)
                    try:
                        result = fut.result()
                    except Exception as exc:  # the worker itself died
                        result = {"status": "error", "message": f"{type(exc).__name__}: {exc}", "epochs": []}
                    self.results[job.key] = result
                    if job.on_done is not None:
                        job.on_done(job.key, result)
        return self.results


def machine_info() -> dict[str, Any]:
    import platform

    import torch

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpus": affinity,
        "processor": platform.processor() or platform.machine(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    try:
        info["loadAverage"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    return info
