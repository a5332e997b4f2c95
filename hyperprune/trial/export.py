"""The finished model folder, ``DIR/model/``, and ``load_model`` to use it in one call.

Written after the last epoch (``training.epochs``); the promoted model of a search is such a folder:

- ``model.pt``     state dict, masks applied (pruned weights are exact zeros)
- ``masks.pt``     ``{parameter name: bool tensor}``, True where a weight is kept
- ``config.json``  the TrialConfig it was trained with (camelCase)
- ``task.json``    what the data decided: ``{"task": "language_model", "vocab_size": V}`` or
                   ``{"task": "classification", "num_classes": C, "input_size": F}``
- ``vocab.json``   language models only: the token of each id, so text can be encoded as in training
- ``metrics.json`` the final TrialReport (validation and test metric, sparsity, spectrum)

``load_model(path) -> (model, config)`` rebuilds the architecture from ``config.json`` and
``task.json``, loads the weights and returns the model in eval mode.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hyperprune.trial.checkpoint import atomic_write
from hyperprune.trial.config import TrialConfig
from hyperprune.trial.files import MODEL_DIR


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
    atomic_write(staging / "model.pt", lambda f: torch.save(masked_state_dict(model, masks), f))
    atomic_write(staging / "masks.pt", lambda f: torch.save(bool_masks, f))
    _write_json(staging / "config.json", config.dump())
    _write_json(staging / "task.json", model_spec)
    _write_json(staging / "metrics.json", metrics)
    if vocab is not None:
        _write_json(staging / "vocab.json", vocab)
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    return final


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, TrialConfig]:
    """``(model, config)`` from a model folder (``DIR/model``, or a trial's ``DIR`` itself)."""
    from hyperprune.models import build_model

    root = Path(path)
    if not (root / "model.pt").exists() and (root / MODEL_DIR / "model.pt").exists():
        root = root / MODEL_DIR
    if not (root / "model.pt").exists():
        raise FileNotFoundError(f"{root} is not a model folder (expected model.pt, config.json, task.json)")
    config = TrialConfig.model_validate_json((root / "config.json").read_text())
    spec = json.loads((root / "task.json").read_text())
    if spec["task"] == "language_model":
        model = build_model(config.model, vocab_size=spec["vocab_size"], seed=config.seed)
    else:
        model = build_model(
            config.model, num_classes=spec["num_classes"], input_size=spec["input_size"], seed=config.seed
        )
    model.load_state_dict(torch.load(root / "model.pt", map_location="cpu", weights_only=True))
    return model.to(device).eval(), config
