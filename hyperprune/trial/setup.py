"""A trial's set-up: everything checked and built before training, each problem naming its field.

The data (checked against the recipe by the contract's rules on a corpus) or the task's entry
point, the model, its recurrent layers, one training and one validation batch through it (a finite
scalar loss with a gradient, a finite loss and metric), and the probe forward capturing the
recurrent layers' inputs. ``run_trial`` builds on it;
``check_trial`` runs it alone (``hyperprune trial --check``, which ``hyperprune validate`` runs for a
search with a task). Problems are ``TrialSetupError`` lines, and the trial exits 2.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hyperprune.contract.text import recipe_issues, vocabulary_issues
from hyperprune.contract.trial import TrialConfig
from hyperprune.data import DataError, SequenceClassificationData, TokenCorpus, load_data, split_sizes
from hyperprune.models.recurrent import RecurrentLayer
from hyperprune.trial.device import resolve_device
from hyperprune.trial.spectrum import capture_probe, spectrum_epochs
from hyperprune.trial.tasks import ProbeRun, Task, make_task


class TrialSetupError(Exception):
    """A setting that cannot work, found before training. ``lines`` each start with the field."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("; ".join(lines))


def trial_device(config: TrialConfig) -> torch.device:
    try:
        return resolve_device(config.device)
    except ValueError as exc:
        raise TrialSetupError([str(exc)]) from exc


@dataclass
class Setup:
    """What set-up built before the pruner: the task, its model, recurrent layers and probe."""

    task: Task
    model: nn.Module
    layers: list[RecurrentLayer]
    probe: ProbeRun


def setup_trial(config: TrialConfig, device: torch.device) -> Setup:
    """Data (or the entry point), model, recurrent layers, one batch through the model, the probe.
    Everything that can be wrong with them is a ``TrialSetupError`` naming the field."""
    from hyperprune.lyapunov import CaptureError
    from hyperprune.models import ModelConfigError
    from hyperprune.models.recurrent import RecurrentLayerError, recurrent_layers
    from hyperprune.task import TaskError

    # The entry point and the model's initialisation may draw from the global generators.
    seed_epoch(config.seed, 0)
    try:
        task = make_task(config, device, None if config.task is not None else _built_in_data(config))
    except TaskError as exc:
        raise TrialSetupError([str(exc)]) from exc
    try:
        model = task.build_model().to(device)
    except ModelConfigError as exc:
        raise TrialSetupError([str(exc)]) from exc
    try:
        layers = recurrent_layers(model, task.recurrent_layers)
    except RecurrentLayerError as exc:
        field = "task.recurrentLayers" if task.recurrent_layers else task.where
        raise TrialSetupError([f"{field}: {exc}"]) from exc
    _check_one_batch(task, model)
    try:
        probe = task.probe(config.lyapunov)
    except ValueError as exc:
        raise TrialSetupError([f"lyapunov.probeLength: {exc}"]) from exc
    if spectrum_epochs(config):
        try:
            capture_probe(model, probe, layers, config.lyapunov)
        except CaptureError as exc:
            field = "" if str(exc).startswith("lyapunov.") else f"{task.where}: "
            raise TrialSetupError([f"{field}{exc}"]) from exc
        except Exception as exc:
            raise TrialSetupError([f"{task.where}: the probe batch does not go through the model: {_describe_error(exc)}"]) from exc
    return Setup(task, model, layers, probe)


def _built_in_data(config: TrialConfig) -> TokenCorpus | SequenceClassificationData:
    """The built-in corpus, checked by the contract's rules on a corpus against the recipe (the
    local engine checks the same before any trial starts)."""
    try:
        data = load_data(config.data)
    except DataError as exc:
        raise TrialSetupError([f"data.path: {exc}"]) from exc
    lyapunov = config.lyapunov
    problems = recipe_issues(split_sizes(data), config.training.batch_size, lyapunov.warmup + lyapunov.probe_length)
    if isinstance(data, TokenCorpus):
        problems += vocabulary_issues(len(data.vocab) - 2, config.data.min_count)
    if problems:
        raise TrialSetupError([f"{path}: {message}" for path, message in problems])
    return data


def _describe_error(exc: BaseException) -> str:
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _check_one_batch(task: Task, model: nn.Module) -> None:
    """One training batch through the model (a scalar, finite loss with a gradient) and one
    validation batch (a finite loss and metric), before anything is trained."""
    where = task.where
    batch = next(iter(task.scoring_batches()), None)
    if batch is None:
        raise TrialSetupError([f"{where}: the training data yields no batch"])
    was_training = model.training
    model.eval()
    try:
        try:
            loss, _ = task.loss(model, batch, None)
        except Exception as exc:
            raise TrialSetupError([f"{where}: the first training batch does not go through the model and the loss: {_describe_error(exc)}"]) from exc
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            shape = list(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
            raise TrialSetupError([f"{where}: the loss of a batch must be a scalar tensor, got {shape}"])
        if not loss.requires_grad:
            raise TrialSetupError([f"{where}: the loss does not depend on the model's weights (no gradient): return a tensor computed from the model's output"])
        if not math.isfinite(loss.item()):
            raise TrialSetupError([f"{where}: the loss of the first training batch is {loss.item()} before any training"])
        try:
            val = task.evaluate(model, "valid", None, limit=1)
        except Exception as exc:
            raise TrialSetupError([f"{where}: the first validation batch does not go through the model, the loss and the metric: {_describe_error(exc)}"]) from exc
        assert val is not None
        for what, value in (("metric", val.metric), ("loss", val.loss)):
            if not math.isfinite(value):
                raise TrialSetupError([f"{where}: the {what} of the first validation batch is {value} before any training; check the task's {'Metric.values' if what == 'metric' else 'loss'}"])
    finally:
        model.train(was_training)
        model.zero_grad(set_to_none=True)


def check_trial(config: TrialConfig) -> list[str]:
    """Everything set-up checks, without a work dir and without training: the problems, each
    naming its field (``hyperprune trial --check``; ``hyperprune validate`` runs it for a task)."""
    from hyperprune.pruning import build_pruner

    try:
        device = trial_device(config)
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            setup = setup_trial(config, device)
            build_pruner(
                setup.model,
                config.pruning,
                steps_per_epoch=setup.task.steps_per_epoch,
                total_epochs=config.training.epochs,
                seed=config.seed,
                layers=[layer.path for layer in setup.layers],
            )
    except TrialSetupError as exc:
        return exc.lines
    except ValueError as exc:
        return [str(exc) if hasattr(exc, "field") else f"pruning: {exc}"]
    return []


def seed_epoch(seed: int, epoch: int) -> None:
    """Seed the global generators (dropout, anything else drawing from them) from (seed, epoch)
    alone, so an epoch draws the same numbers whether or not the run was resumed before it."""
    torch_seed, numpy_seed, python_seed = np.random.SeedSequence([seed, epoch, 0x7EED]).generate_state(3)
    torch.manual_seed(int(torch_seed))
    np.random.seed(int(numpy_seed))
    random.seed(int(python_seed))
