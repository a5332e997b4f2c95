"""Writing a finished model folder (its layout and ``load_model``: ``hyperprune.models.folder``), with
the model's compact export inside it (``compact/``, loadable with torch alone: ``hyperprune.deploy``).

The compact export, and so the efficiency measurement made on it, knows Hyperprune's own model layout
only (an embedding or input, a recurrent ``core``, a decoder or head); a task's own model is any
``nn.Module``, so its folder has no ``compact/`` and its reports no efficiency (``has_compact_export``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hyperprune.contract.files import MODEL_DIR
from hyperprune.contract.trial import TrialConfig
from hyperprune.deploy import COMPACT_DIR, compact_export, write_compact
from hyperprune.models.folder import CONFIG_FILE, MASKS_FILE, METRICS_FILE, TASK_FILE, VOCAB_FILE, WEIGHTS_FILE
from hyperprune.trial.checkpoint import atomic_write


NOT_MEASURED = (
    "efficiency not measured: the compact export knows Hyperprune's own models only, not a task's own model"
)


def has_compact_export(config: TrialConfig) -> bool:
    """Whether the trial's model is exported compact and measured (see the module docstring)."""
    return config.task is None


def masked_state_dict(model: nn.Module, masks: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    for name, mask in masks.items():
        if name in state:
            state[name] = state[name] * mask.to(state[name].dtype).cpu()
    return state


def _write_json(path: Path, obj: Any) -> None:
    atomic_write(path, lambda f: f.write((json.dumps(obj, indent=2, allow_nan=False) + "\n").encode()))


def export_model(
    workdir: Path,
    model: nn.Module,
    masks: dict[str, torch.Tensor],
    config: TrialConfig,
    model_spec: dict[str, Any],
    metrics: dict[str, Any],
    vocab: list[str] | None = None,
) -> Path:
    """Write ``workdir/model`` (built beside it, then renamed into place)."""
    final = workdir / MODEL_DIR
    staging = workdir / f".{MODEL_DIR}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    bool_masks = {k: m.detach().cpu().bool() for k, m in masks.items()}
    atomic_write(staging / WEIGHTS_FILE, lambda f: torch.save(masked_state_dict(model, masks), f))
    atomic_write(staging / MASKS_FILE, lambda f: torch.save(bool_masks, f))
    _write_json(staging / CONFIG_FILE, config.dump())
    _write_json(staging / TASK_FILE, model_spec)
    _write_json(staging / METRICS_FILE, metrics)
    if vocab is not None:
        _write_json(staging / VOCAB_FILE, vocab)
    if has_compact_export(config):
        write_compact(compact_export(model, masks, model_spec), staging / COMPACT_DIR)
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    return final
