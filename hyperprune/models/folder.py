"""A finished model folder (``DIR/model/``, the promoted ``best/``), and ``load_model`` to use it in one call.

Written by the trial runtime after the last epoch (``hyperprune.trial.export``):

- ``model.pt``     state dict, masks applied (pruned weights are exact zeros)
- ``masks.pt``     ``{parameter name: bool tensor}``, True where a weight is kept
- ``config.json``  the TrialConfig it was trained with (camelCase)
- ``task.json``    what the data decided: ``{"task": "language_model", "vocab_size": V}`` or
                   ``{"task": "classification", "num_classes": C, "input_size": F}``; for a task's
                   own model ``{"task": "entry_point", "entry_point": "package.module:function"}``
- ``vocab.json``   language models only: the token of each id, so text can be encoded as in training
- ``metrics.json`` the final TrialReport (validation and test metric, sparsity, spectrum)

``load_model(path) -> (model, config)`` rebuilds the architecture from ``config.json`` and
``task.json``, loads the weights and returns the model in eval mode. A task's model is rebuilt by
calling its entry point again (with the trial's seed and ``task.params``, on the CPU): the result
is the user's own model class, with the pruned weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from hyperprune.contract.files import MODEL_DIR
from hyperprune.contract.trial import TrialConfig
from hyperprune.models.build import build_model

WEIGHTS_FILE = "model.pt"
MASKS_FILE = "masks.pt"
CONFIG_FILE = "config.json"
TASK_FILE = "task.json"
VOCAB_FILE = "vocab.json"
METRICS_FILE = "metrics.json"


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, TrialConfig]:
    """``(model, config)`` from a model folder (``DIR/model``, or a trial's ``DIR`` itself)."""
    root = Path(path)
    if not (root / WEIGHTS_FILE).exists() and (root / MODEL_DIR / WEIGHTS_FILE).exists():
        root = root / MODEL_DIR
    if not (root / WEIGHTS_FILE).exists():
        raise FileNotFoundError(f"{root} is not a model folder (expected {WEIGHTS_FILE}, {CONFIG_FILE}, {TASK_FILE})")
    config = TrialConfig.model_validate_json((root / CONFIG_FILE).read_text())
    spec = json.loads((root / TASK_FILE).read_text())
    if config.task is not None:
        from hyperprune.task import load_task

        model = load_task(config.task, seed=config.seed, device=torch.device("cpu")).model
    elif spec["task"] == "language_model":
        model = build_model(config.model, vocab_size=spec["vocab_size"], seed=config.seed)
    else:
        model = build_model(
            config.model, num_classes=spec["num_classes"], input_size=spec["input_size"], seed=config.seed
        )
    model.load_state_dict(torch.load(root / WEIGHTS_FILE, map_location="cpu", weights_only=True))
    return model.to(device).eval(), config
