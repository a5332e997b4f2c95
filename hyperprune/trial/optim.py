"""Optimiser and per-epoch learning-rate schedule, both with the full ``training.epochs`` horizon."""

from __future__ import annotations

import math

import torch
from torch import nn

from hyperprune.contract.trial import TrainingConfig


class EpochSchedule:
    """Learning-rate factor for the epoch about to start (0-based count of finished epochs).

    A callable object rather than a closure so that ``LambdaLR.state_dict`` can save it."""

    def __init__(self, kind: str, epochs: int, step_epochs: int, gamma: float) -> None:
        self.kind, self.epochs, self.step_epochs, self.gamma = kind, epochs, step_epochs, gamma

    def __call__(self, done: int) -> float:
        if self.kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(done, self.epochs) / self.epochs))
        if self.kind == "step":
            return self.gamma ** (done // self.step_epochs)
        return 1.0


def build_optimizer(model: nn.Module, cfg: TrainingConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainingConfig) -> torch.optim.lr_scheduler.LambdaLR:
    """Stepped once per epoch, after the epoch's training."""
    schedule = EpochSchedule(cfg.lr_schedule, cfg.epochs, cfg.lr_step_epochs, cfg.lr_gamma)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
