"""The training loop of one trial: build, prune, train epoch by epoch, report, checkpoint.

    run_trial(config, workdir, until_epoch=E)

1. Set-up, where every bad setting fails before any training (``TrialSetupError``, exit code 2):
   the data or the task's entry point, the model and its recurrent layers, one batch through it,
   the probe (``hyperprune.trial.setup``); then the pruner and the reporters.
2. Resume: with ``DIR/checkpoint.pt`` present, restore everything from it and drop report lines of
   later epochs; otherwise call the pruner's ``before_training``.
3. For each epoch up to E: train (truncated BPTT for language models, gradient clipping, pruner
   hooks around every optimiser step, the pruner's regulariser added to the loss), let the pruner
   end the epoch, step the learning rate, evaluate the validation split, measure sparsity and (at
   the epochs in ``lyapunov.epochs``) the Lyapunov spectrum, (at the epochs in ``efficiency.epochs``
   and the last) the model's efficiency (``hyperprune.deploy``: sizes, FLOPs, kernel timings),
   append a report, checkpoint. The last epoch (``training.epochs``) also evaluates the test split
   and writes ``DIR/model`` with its compact export in ``DIR/model/compact``.

Everything random in an epoch is seeded from (seed, epoch), and the checkpoint holds all remaining
state, so a run continued from a checkpoint reproduces an uninterrupted run bit for bit.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from hyperprune.trial.checkpoint import CheckpointError, atomic_write, load_checkpoint, save_checkpoint, set_rng_state
from hyperprune.contract.trial import TrialConfig
from hyperprune.deploy import compact_export, measure
from hyperprune.trial.export import NOT_MEASURED, export_model, has_compact_export
from hyperprune.contract.files import CHECKPOINT_FILE, CONFIG_FILE, LOCK_FILE, LOG_FILE, STOPPED_EXIT
from hyperprune.trial.optim import build_optimizer, build_scheduler
from hyperprune.contract.efficiency import Efficiency
from hyperprune.contract.report import TrialReport
from hyperprune.models.recurrent import RecurrentLayer
from hyperprune.trial.reporters import (
    REPORTS_FILE,
    FileReporter,
    Reporter,
    ReporterContext,
    create_reporter,
    read_reports,
)
from hyperprune.trial.spectrum import probe_spectrum, wants_spectrum
from hyperprune.trial.stopping import StopFlag, StopRequested
from hyperprune.trial.setup import TrialSetupError, seed_epoch, setup_trial, trial_device
from hyperprune.trial.tasks import ProbeRun, Task, batch_loss

__all__ = ["TrialOutcome", "TrialSetupError", "run_trial"]

log = logging.getLogger("hyperprune.trial")


@dataclass(frozen=True)
class TrialOutcome:
    # paused: stopped at --until-epoch before the end; unchanged: the checkpoint was already there
    status: Literal["paused", "completed", "diverged", "stopped", "unchanged"]
    epoch: int  # epochs completed and checkpointed (for diverged: the epoch that diverged)
    message: str

    @property
    def exit_code(self) -> int:
        return STOPPED_EXIT if self.status == "stopped" else 0


@dataclass
class _Trial:
    """Everything the loop works on, built once by ``_prepare``."""

    config: TrialConfig
    workdir: Path
    device: torch.device
    task: Task
    model: nn.Module
    pruner: Any
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    probe: ProbeRun
    layers: list[RecurrentLayer]
    until: int
    extra_reporters: list[tuple[str, Reporter]] = field(default_factory=list)
    reporters: list[tuple[str, Reporter]] = field(default_factory=list)

    def send(self, report: TrialReport) -> None:
        for name, reporter in self.reporters:
            if isinstance(reporter, FileReporter):
                reporter.report(report)  # the record of the trial: a failure here is a crash
                continue
            try:
                reporter.report(report)
            except Exception:  # a flaky extra channel must not kill the training it reports on
                log.exception("reporter %r failed on the epoch %d report", name, report.epoch)


@dataclass
class _EpochResult:
    step: int  # optimiser steps done in the whole run after this epoch
    train_loss: float | None
    tokens: int
    train_seconds: float
    diverged: str | None = None  # what went non-finite, and where


def run_trial(
    config: TrialConfig,
    workdir: str | Path,
    *,
    until_epoch: int | None = None,
    reporter: str | None = None,
    stop: StopFlag | None = None,
) -> TrialOutcome:
    """Train ``config`` in ``workdir`` up to ``until_epoch`` (default: the last epoch), continuing from
    the checkpoint there if any. Raises ``TrialSetupError`` for bad settings before training."""
    workdir = Path(workdir)
    until = until_epoch or config.training.epochs
    if not 1 <= until <= config.training.epochs:
        raise TrialSetupError(
            [f"--until-epoch: {until} is outside 1..{config.training.epochs} (training.epochs)"]
        )
    workdir.mkdir(parents=True, exist_ok=True)
    with _exclusive(workdir), _log_to(workdir / LOG_FILE):
        try:
            _check_same_config(workdir, config)
            device = trial_device(config)
            cuda = [device.index or 0] if device.type == "cuda" else []
            # The loop seeds the global generators per epoch; keep the caller's streams untouched.
            with torch.random.fork_rng(devices=cuda):
                trial = _prepare(config, workdir, device, until, reporter)
                try:
                    return _run(trial, stop or StopFlag())
                finally:
                    for _, r in trial.reporters or trial.extra_reporters:
                        r.close()
        except TrialSetupError as exc:
            for line in exc.lines:
                log.error("bad config, nothing trained: %s", line)
            raise


def _prepare(config: TrialConfig, workdir: Path, device: torch.device, until: int, reporter: str | None) -> _Trial:
    from hyperprune.pruning import build_pruner

    setup = setup_trial(config, device)
    task, model = setup.task, setup.model
    try:
        pruner = build_pruner(
            model,
            config.pruning,
            steps_per_epoch=task.steps_per_epoch,
            total_epochs=config.training.epochs,
            seed=config.seed,
            layers=[layer.path for layer in setup.layers],
        )
    except ValueError as exc:  # PruningConfigError names its field; anything else is about pruning
        raise TrialSetupError([str(exc) if hasattr(exc, "field") else f"pruning: {exc}"]) from exc
    optimizer = build_optimizer(model, config.training)
    extra = []
    if reporter and reporter != "file":  # the file reporter is always on
        try:
            extra.append((reporter, create_reporter(reporter, ReporterContext(config, workdir))))
        except ValueError as exc:
            raise TrialSetupError([f"--reporter: {exc}"]) from exc
    if config.tensorboard:
        from hyperprune.trial.tensorboard import tensorboard_reporter

        board = tensorboard_reporter(workdir)
        if board is not None:
            extra.append(("tensorboard", board))
    return _Trial(
        config=config,
        workdir=workdir,
        device=device,
        task=task,
        model=model,
        pruner=pruner,
        optimizer=optimizer,
        scheduler=build_scheduler(optimizer, config.training),
        probe=setup.probe,
        layers=setup.layers,
        until=until,
        extra_reporters=extra,
    )


def _run(trial: _Trial, stop: StopFlag) -> TrialOutcome:
    cfg, workdir = trial.config, trial.workdir
    try:
        checkpoint = load_checkpoint(workdir / CHECKPOINT_FILE)
    except CheckpointError as exc:
        raise RuntimeError(f"{exc} — delete it to train this trial from scratch") from exc
    done = checkpoint["epoch"] if checkpoint else 0
    earlier = read_reports(workdir / REPORTS_FILE)

    last = earlier[-1] if earlier else None
    if last is not None and last.status == "diverged" and last.epoch == done + 1:
        _resend(trial, last)
        return TrialOutcome("diverged", last.epoch, f"already diverged: {last.message}")
    if done >= trial.until:
        if last is not None and last.epoch == done:
            _resend(trial, last)
        return TrialOutcome("unchanged", done, f"the checkpoint is already at epoch {done}; nothing to train")

    # Reports of epochs after the checkpoint came from a run that did not reach its next
    # checkpoint; those epochs are trained again, so their lines are rewritten.
    _rewrite_reports(workdir / REPORTS_FILE, [r for r in earlier if r.epoch <= done])
    if not (workdir / CONFIG_FILE).exists():
        atomic_write(workdir / CONFIG_FILE, lambda f: f.write(cfg.model_dump_json(by_alias=True, indent=2).encode()))
    trial.reporters = [("file", FileReporter(workdir / REPORTS_FILE)), *trial.extra_reporters]

    if checkpoint:
        _restore(trial, checkpoint)
        log.info("resumed %s from epoch %d (%s)", cfg.trial_id, done, workdir / CHECKPOINT_FILE)
    else:
        trial.pruner.before_training(trial.task.scoring_batches(), batch_loss(trial.task))
        log.info("started %s on %s: %s", cfg.trial_id, trial.device, _describe(trial))
    wall = checkpoint["wall_seconds"] if checkpoint else 0.0
    step = checkpoint["step"] if checkpoint else 0

    for epoch in range(done + 1, trial.until + 1):
        start = time.perf_counter()
        try:
            result = _train_epoch(trial, epoch, step, stop)
        except StopRequested as exc:
            return _stopped(f"{exc} during epoch {epoch}", epoch)
        step = result.step
        if result.diverged:
            return _diverge(trial, epoch, result, wall + time.perf_counter() - start)

        trial.pruner.on_epoch_end(epoch, trial.optimizer)
        trial.scheduler.step()
        try:
            report = _evaluate(trial, epoch, result, stop)
        except StopRequested as exc:
            return _stopped(f"{exc} while evaluating epoch {epoch}", epoch)
        if report.status == "diverged":
            _finish_report(report, start, wall)
            trial.send(report)
            log.warning(report.message)
            return TrialOutcome("diverged", epoch, report.message or "")
        wall = _finish_report(report, start, wall)
        if report.status == "completed":
            export_model(
                workdir,
                trial.model,
                trial.pruner.masks(),
                cfg,
                trial.task.model_spec(),
                report.dump(),
                vocab=trial.task.vocabulary(),
            )
        trial.send(report)  # first the report, then the checkpoint: see _rewrite_reports above
        _save(trial, epoch, step, wall)
        log.info(_summary(report, cfg.training.epochs))

    if trial.until == cfg.training.epochs:
        return TrialOutcome("completed", trial.until, f"completed {trial.until} epochs")
    return TrialOutcome("paused", trial.until, f"reached epoch {trial.until} of {cfg.training.epochs}")


def _train_epoch(trial: _Trial, epoch: int, step: int, stop: StopFlag) -> _EpochResult:
    model, task, pruner, optimizer = trial.model, trial.task, trial.pruner, trial.optimizer
    clip = trial.config.training.clip
    params = [p for p in model.parameters() if p.requires_grad]
    seed_epoch(trial.config.seed, epoch)
    model.train()
    state, loss_sum, tokens = None, 0.0, 0
    start = time.perf_counter()
    for i, batch in enumerate(task.train_batches(epoch)):
        stop.check()
        loss, state = task.loss(model, batch, state)
        value = loss.item()
        if not math.isfinite(value):
            return _EpochResult(
                step,
                None,
                tokens,
                time.perf_counter() - start,
                diverged=(
                    f"training loss became {value} at epoch {epoch}, step {i + 1} of "
                    f"{task.steps_per_epoch} (optimiser step {step + 1} of the run)"
                ),
            )
        regularizer = pruner.regularization()
        optimizer.zero_grad(set_to_none=True)
        (loss if regularizer is None else loss + regularizer).backward()
        step += 1  # the pruner counts optimiser steps from 1, the current one included
        # Reads the dense gradients (RigL, gradient growth), then masks them, so pruned weights
        # count neither in the clipping norm nor in momentum.
        pruner.before_step(step, optimizer)
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()
        pruner.after_step(step)  # re-applies the masks: pruned weights stay exactly zero
        loss_sum += value * batch.tokens
        tokens += batch.tokens
    seconds = time.perf_counter() - start
    return _EpochResult(step, loss_sum / max(tokens, 1), tokens, seconds)


def _evaluate(trial: _Trial, epoch: int, result: _EpochResult, stop: StopFlag) -> TrialReport:
    cfg, task, model = trial.config, trial.task, trial.model
    final = epoch == cfg.training.epochs
    model.eval()
    val = task.evaluate(model, "valid", stop.check)
    assert val is not None
    overall, per_layer = trial.pruner.sparsity()
    report = TrialReport(
        trial_id=cfg.trial_id,
        epoch=epoch,
        status="completed" if final else "running",
        metric=task.metric,
        mode=task.mode,
        train_loss=result.train_loss,
        sparsity=float(overall),
        sparsity_per_layer={k: float(v) for k, v in per_layer.items()},
        tokens_per_second=result.tokens / result.train_seconds if result.train_seconds > 0 else None,
    )
    if not (math.isfinite(val.loss) and math.isfinite(val.metric)):
        # An overflowing perplexity (loss above ~700 nats) is as diverged as a NaN loss.
        report.status = "diverged"
        report.message = (
            f"validation loss is {val.loss:.4g} after epoch {epoch} ({task.metric} {val.metric}; "
            f"training loss {result.train_loss:.4g})"
        )
        return report
    report.val_loss, report.val_metric = val.loss, _finite_or_none(val.metric)
    if wants_spectrum(cfg.lyapunov, epoch):
        try:
            exponents, seconds = probe_spectrum(model, trial.probe, trial.layers, cfg.lyapunov)
            report.lyapunov = [_finite_or_none(x) for x in exponents]
            report.lyapunov_seconds = seconds
        except ValueError as exc:  # the engine refuses NaN/inf spectra of a numerically broken core
            report.message = f"no Lyapunov spectrum at epoch {epoch}: {exc}"
            log.warning(report.message)
    test = task.evaluate(model, "test", stop.check) if final and cfg.evaluate_test else None
    if test is not None:  # None: no test split (a task may have none)
        report.test_loss, report.test_metric = _finite_or_none(test.loss), _finite_or_none(test.metric)
    if final or epoch in cfg.efficiency.epochs:
        if has_compact_export(cfg):
            report.efficiency = _efficiency(trial)
        else:
            report.message = f"{report.message}; {NOT_MEASURED}" if report.message else NOT_MEASURED
    model.train()
    return report


def _efficiency(trial: _Trial) -> Efficiency:
    compact = compact_export(trial.model, trial.pruner.masks(), trial.task.model_spec())
    return measure(trial.model, compact, trial.device, masked=trial.config.pruning.method != "none",
                   timing=trial.config.efficiency.timing)


def _diverge(trial: _Trial, epoch: int, result: _EpochResult, wall: float) -> TrialOutcome:
    overall, per_layer = trial.pruner.sparsity()
    report = TrialReport(
        trial_id=trial.config.trial_id,
        epoch=epoch,
        status="diverged",
        metric=trial.task.metric,
        mode=trial.task.mode,
        sparsity=float(overall),
        sparsity_per_layer={k: float(v) for k, v in per_layer.items()},
        epoch_seconds=result.train_seconds,
        wall_seconds=wall,
        message=result.diverged,
    )
    trial.send(report)
    log.warning(result.diverged)
    return TrialOutcome("diverged", epoch, result.diverged or "")


def _save(trial: _Trial, epoch: int, step: int, wall: float) -> None:
    save_checkpoint(
        trial.workdir / CHECKPOINT_FILE,
        {
            "epoch": epoch,
            "step": step,
            "wall_seconds": wall,
            "config": trial.config.dump(),
            "model": trial.model.state_dict(),
            "optimizer": trial.optimizer.state_dict(),
            "scheduler": trial.scheduler.state_dict(),
            "pruner": trial.pruner.state_dict(),
        },
    )


def _stopped(what: str, epoch: int) -> TrialOutcome:
    """The unfinished epoch is abandoned: nothing of it was reported or checkpointed."""
    message = f"{what}; the checkpoint of epoch {epoch - 1} is kept"
    log.warning(message)
    return TrialOutcome("stopped", epoch - 1, message)


def _finish_report(report: TrialReport, start: float, wall: float) -> float:
    report.epoch_seconds = time.perf_counter() - start
    report.wall_seconds = wall + report.epoch_seconds
    return report.wall_seconds


def _restore(trial: _Trial, checkpoint: dict[str, Any]) -> None:
    trial.model.load_state_dict(checkpoint["model"])
    trial.optimizer.load_state_dict(checkpoint["optimizer"])
    trial.scheduler.load_state_dict(checkpoint["scheduler"])
    trial.pruner.load_state_dict(checkpoint["pruner"])
    set_rng_state(checkpoint["rng"])


def _resend(trial: _Trial, report: TrialReport) -> None:
    """Give the extra reporters the last report again (e.g. a pod restarted after its last epoch
    but before its status was written); the file already has it."""
    for name, reporter in trial.extra_reporters:
        try:
            reporter.report(report)
        except Exception:
            log.exception("reporter %r failed", name)


def _rewrite_reports(path: Path, keep: list[TrialReport]) -> None:
    import json

    text = "".join(json.dumps(r.dump(), allow_nan=False) + "\n" for r in keep)
    atomic_write(path, lambda f: f.write(text.encode()))


def _check_same_config(workdir: Path, config: TrialConfig) -> None:
    path = workdir / CONFIG_FILE
    if not path.exists():
        return
    try:
        before = TrialConfig.model_validate_json(path.read_text())
    except ValueError as exc:
        raise TrialSetupError([f"{path}: the config stored in the workdir is not readable ({exc})"]) from exc
    if before != config:
        fields = _differences(before.dump(), config.dump())
        raise TrialSetupError(
            [f"{f}: differs from the config this workdir was started with ({path}); use a fresh --workdir" for f in fields]
        )


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            out += _differences(a.get(key), b.get(key), f"{prefix}.{key}" if prefix else key)
        return out
    return [] if a == b else [prefix or "<root>"]


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _describe(trial: _Trial) -> str:
    n = sum(p.numel() for p in trial.model.parameters())
    p, cfg = trial.config.pruning, trial.config
    what = (
        f"{cfg.task.entry_point} ({type(trial.model).__name__}; recurrent layers {', '.join(l.path or '<model>' for l in trial.layers)})"
        if cfg.task
        else f"{cfg.model.arch} x{cfg.model.num_layers} h={cfg.model.hidden_size}"
    )
    return (
        f"{what}, "
        f"{n} parameters, pruning {p.method} at {p.sparsity}, {trial.task.steps_per_epoch} steps/epoch, "
        f"{trial.config.training.epochs} epochs (until {trial.until})"
    )


def _summary(report: TrialReport, epochs: int) -> str:
    def num(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.4g}"

    ls = f", LS max {num(report.lyapunov[0])} ({report.lyapunov_seconds:.2f} s)" if report.lyapunov else ""
    test = f", test {report.metric} {num(report.test_metric)}" if report.test_metric is not None else ""
    return (
        f"epoch {report.epoch}/{epochs}: train loss {num(report.train_loss)}, val {report.metric} "
        f"{num(report.val_metric)}{test}, sparsity {report.sparsity:.3f}{ls}, {report.epoch_seconds:.2f} s, "
        f"{num(report.tokens_per_second)} tokens/s"
    )


@contextlib.contextmanager
def _exclusive(workdir: Path) -> Iterator[None]:
    """One process per trial directory: two writers would interleave reports and checkpoints."""
    with open(workdir / LOCK_FILE, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise RuntimeError(f"another hyperprune trial is running in {workdir}") from exc
        yield


@contextlib.contextmanager
def _log_to(path: Path) -> Iterator[None]:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        handler.close()
