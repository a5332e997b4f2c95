"""Importing and calling a task's entry point, and refusing what it returns when it cannot work.

Every problem is a ``TaskError`` whose message starts with the field and names the entry point:
``task.entryPoint: forecast.task:make_task: raised KeyError: 'hidden' (forecast/task.py, line 12)``.
The trial turns it into a refusal before training (exit 2); ``hyperprune validate`` prints it.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from hyperprune.contract.trial import TaskConfig
from hyperprune.task.protocol import Metric, Task, TaskContext

FIELD = "task.entryPoint"


class TaskError(ValueError):
    """A task that cannot be trained; the message names the field and the entry point."""

    def __init__(self, entry_point: str, problem: str, field: str = FIELD) -> None:
        self.field = field
        super().__init__(f"{field}: {entry_point}: {problem}")


def _where(exc: BaseException) -> str:
    """' (file, line N)' of the innermost frame of the traceback, where the user's code failed."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f" ({os.path.relpath(last.filename) if not last.filename.startswith('<') else last.filename}, line {last.lineno})"


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}{_where(exc)}"


def resolve_entry_point(entry_point: str) -> Any:
    """The function ``package.module:function`` names. The current directory is on the import path
    (as with ``python -m``), so a package beside where you run hyperprune needs no install."""
    module_name, _, attribute = entry_point.partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(missing + "."):  # the module itself, not a dependency
            raise TaskError(
                entry_point,
                f"cannot import module {module_name} (no module named {missing!r} on the path of the trial, "
                f"whose working directory is {os.getcwd()}): install the package where trials run, or run "
                "hyperprune from the directory that holds it",
            ) from exc
        raise TaskError(entry_point, f"importing {module_name} failed: {_describe(exc)}") from exc
    except Exception as exc:
        raise TaskError(entry_point, f"importing {module_name} failed: {_describe(exc)}") from exc
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise TaskError(entry_point, f"{module_name} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise TaskError(entry_point, f"{attribute} is a {type(target).__name__}, not a function")
    return target


def load_task(config: TaskConfig, *, seed: int, device: torch.device) -> Task:
    """Call the entry point with the trial's seed, device and ``config.params``; check what it
    returns. Raises ``TaskError`` naming the entry point and the problem."""
    function = resolve_entry_point(config.entry_point)
    context = TaskContext(seed=seed, device=device, params=dict(config.params))
    try:
        task = function(context)
    except Exception as exc:
        raise TaskError(config.entry_point, f"raised {_describe(exc)}") from exc
    return check_task(config, task)


def _reiterable(entry_point: str, name: str, value: Any, required: bool = True) -> None:
    if value is None and not required:
        return
    if value is None or isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TaskError(entry_point, f"Task.{name} is {type(value).__name__}, not an iterable of batches (a list, a DataLoader)")
    if iter(value) is value:
        raise TaskError(
            entry_point,
            f"Task.{name} is an iterator that can be read only once ({type(value).__name__}); every epoch reads it "
            "again: give a list or a DataLoader",
        )


def check_task(config: TaskConfig, task: Any) -> Task:
    """``task`` if it is a well-formed ``Task`` for ``config``; else ``TaskError``. (Whether its
    batches fit its model is checked by the trial on one batch.)"""
    ep = config.entry_point
    if not isinstance(task, Task):
        raise TaskError(ep, f"returned {type(task).__name__}, expected a hyperprune.task.Task")
    if not isinstance(task.model, nn.Module):
        raise TaskError(ep, f"Task.model is {type(task.model).__name__}, not a torch.nn.Module")
    _reiterable(ep, "train", task.train)
    _reiterable(ep, "valid", task.valid)
    _reiterable(ep, "test", task.test, required=False)
    for name in ("loss", "forward", "train_step"):
        value = getattr(task, name)
        if (value is not None or name == "loss") and not callable(value):
            raise TaskError(ep, f"Task.{name} is {type(value).__name__}, not a function")
    metric = task.metric
    if not isinstance(metric, Metric):
        raise TaskError(ep, f"Task.metric is {type(metric).__name__}, expected a hyperprune.task.Metric")
    if not callable(metric.values):
        raise TaskError(ep, f"Metric.values is {type(metric.values).__name__}, not a function")
    if (metric.name, metric.mode) != (config.metric, config.mode):
        raise TaskError(
            ep,
            f"its Metric is {metric.name!r} ({metric.mode}) but the spec says task.metric: {config.metric}, "
            f"task.mode: {config.mode}; the search ranks candidates by what the spec says, so make them agree",
            field="task.metric",
        )
    return task
