"""The protocol a task's entry point implements: what it gets (``TaskContext``) and returns (``Task``).

A task is the user's own recurrent model and data. Hyperprune prunes the model's recurrent layers,
trains it with its own loop (optimiser, learning-rate schedule, the pruner's hooks, checkpoints that
resume bit for bit), measures the metric on the validation split and the Lyapunov spectrum of the
recurrent layers, epoch by epoch. The entry point decides everything about the model and the data.
See docs/tasks.md for a complete example.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

Batch = Any  # whatever the task's loaders yield; by default an (inputs, targets) pair


@dataclass(frozen=True)
class TaskContext:
    """What the trial hands the entry point."""

    seed: int  # the search's seed: seed your own generators with it (the global ones are seeded from it already)
    device: torch.device  # where the trial trains; the model and every batch are moved there
    params: Mapping[str, Any]  # spec.task.params, as written (JSON values)


@dataclass(frozen=True)
class Metric:
    """The validation metric and its direction.

    ``values(output, target)`` returns one value per example (or per predicted step) of a batch; the
    metric of a split is the mean of all its values, passed through ``finish`` when given: mean
    absolute error is ``values=|output - target|``; root mean squared error adds ``finish=math.sqrt``;
    accuracy is ``values=(output.argmax(-1) == target)`` with mode ``max``."""

    name: str  # as spec.task.metric names it (mae, rmse, accuracy, ...)
    mode: Literal["min", "max"]  # min: lower is better; max: higher is better
    values: Callable[[Any, Any], Tensor]
    finish: Callable[[float], float] | None = None

    def of_mean(self, mean: float) -> float:
        """The metric of a split whose values average ``mean``."""
        if not math.isfinite(mean):
            return mean
        return self.finish(mean) if self.finish is not None else mean


@dataclass
class Task:
    """What the entry point returns.

    model: any ``nn.Module`` holding one or more ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` layers (stacked
        or not, ``batch_first`` or not) or Hyperprune's own cores (``hyperprune.models.rhn.RHN``),
        each called once per forward on the whole sequence.
    train, valid, test: iterables of batches that can be read again every epoch (a list, a
        ``DataLoader``; not a one-shot generator). A ``DataLoader`` that shuffles draws from torch's
        global generator, which the trial seeds from (seed, epoch), so its order is reproducible
        and a resumed run sees the same batches. ``test`` may be None (no test metric).
    loss: ``loss(output, target) -> scalar tensor`` (training and validation loss).
    metric: the validation metric (see ``Metric``).
    forward: ``forward(model, batch) -> (output, target)``; default: ``inputs, target = batch;
        return model(inputs), target``.
    train_step: ``train_step(model, batch) -> scalar loss`` for one training batch (teacher forcing,
        several inputs, ...); default ``loss(*forward(model, batch))``. The trial does the rest:
        the pruner's regulariser, backward, masks, clipping, the optimiser step.
    probe: the batch (same form as a validation batch) whose forward drives the spectrum; the
        recurrent layers' inputs are captured on it. Default: the first validation batch.
    """

    model: nn.Module
    train: Iterable[Batch]
    valid: Iterable[Batch]
    loss: Callable[[Any, Any], Tensor]
    metric: Metric
    test: Iterable[Batch] | None = None
    forward: Callable[[nn.Module, Batch], tuple[Any, Any]] | None = None
    train_step: Callable[[nn.Module, Batch], Tensor] | None = None
    probe: Batch | None = None

    def run(self, model: nn.Module, batch: Batch) -> tuple[Any, Any]:
        """(output, target) of ``batch``: the task's own ``forward``, or ``model(inputs), target``."""
        if self.forward is not None:
            return self.forward(model, batch)
        inputs, target = split_batch(batch)
        return model(inputs), target

    def training_loss(self, model: nn.Module, batch: Batch) -> Tensor:
        if self.train_step is not None:
            return self.train_step(model, batch)
        output, target = self.run(model, batch)
        return self.loss(output, target)


def split_batch(batch: Batch) -> tuple[Any, Any]:
    """The default batch form: an ``(inputs, targets)`` pair."""
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    raise TypeError(
        f"a batch is a {type(batch).__name__}, not an (inputs, targets) pair; yield pairs or give Task.forward"
    )


def to_device(obj: Any, device: torch.device) -> Any:
    """``obj`` with every tensor in it (through tuples, lists and dicts) on ``device``."""
    if isinstance(obj, Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        moved = [to_device(v, device) for v in obj]
        return type(obj)(*moved) if hasattr(obj, "_fields") else type(obj)(moved)
    return obj
