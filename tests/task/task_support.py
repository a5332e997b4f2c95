"""Trial configs whose task is one of usertasks.py's entry points."""

from __future__ import annotations

from typing import Any

from hyperprune.contract.trial import TrialConfig


def task_config(function: str = "stacked", metric: str = "mae", **over: Any) -> TrialConfig:
    body: dict[str, Any] = {
        "trialId": "user",
        "seed": 5,
        "task": {"entryPoint": f"usertasks:{function}", "metric": metric, "mode": "min", "params": {"hidden": 8}},
        "training": {"epochs": 3, "optimizer": "adam", "lr": 0.01, "clip": 1.0},
        "lyapunov": {"probeLength": 12, "warmup": 3, "batch": 2},
        "device": "cpu",
    }
    for key, value in over.items():
        body[key] = {**body[key], **value} if isinstance(body.get(key), dict) else value
    return TrialConfig.model_validate(body)
