"""Tiny models, data and a training loop that calls the pruner's hooks as the trial runtime does."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from hyperprune.models import build_model
from hyperprune.pruning import build_pruner
from hyperprune.contract.pruning import parse_pruning_config
from hyperprune.pruning.iss import pruned_weight_count, unit_layers
from hyperprune.pruning.targets import prunable_matrices, total_weights
from hyperprune.contract.trial import ModelConfig

VOCAB = 20
SEQ, BATCH = 6, 3


def tiny_lm(arch: str = "lstm", hidden: int = 16, layers: int = 1, seed: int = 0) -> nn.Module:
    return build_model(ModelConfig(arch=arch, hidden_size=hidden, num_layers=layers, rhn_depth=2), vocab_size=VOCAB, seed=seed)


def batches(count: int, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        seq = torch.randint(0, VOCAB, (SEQ + 1, BATCH), generator=gen)
        out.append((seq[:-1], seq[1:]))
    return out


def lm_loss(model: nn.Module, batch) -> torch.Tensor:
    tokens, targets = batch
    logits, _ = model(tokens)
    return nn.functional.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))


def make_optimizer(model: nn.Module, kind: str) -> torch.optim.Optimizer:
    if kind == "adam":
        return torch.optim.Adam(model.parameters(), lr=0.01)
    return torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=1e-4)


@dataclass
class Run:
    """A model, its pruner and optimiser, trained epoch by epoch with the hooks in runtime order."""

    model: nn.Module
    pruner: object
    optimizer: torch.optim.Optimizer
    data: list
    steps_per_epoch: int
    step: int = 0
    epoch: int = 0
    sparsity_by_epoch: dict[int, float] = field(default_factory=dict)

    def start(self) -> None:
        self.pruner.before_training(iter(self.data), lm_loss)
        self.sparsity_by_epoch[0] = self.pruner.sparsity()[0]

    def train_epoch(self, check_zeros: bool = True) -> None:
        self.model.train()
        for batch in self.data[: self.steps_per_epoch]:
            self.step += 1
            loss = lm_loss(self.model, batch)
            extra = self.pruner.regularization()
            if extra is not None:
                loss = loss + extra
            self.optimizer.zero_grad()
            loss.backward()
            self.pruner.before_step(self.step, self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), 0.25)
            self.optimizer.step()
            self.pruner.after_step(self.step)
            if check_zeros:
                assert_masked_weights_zero(self.pruner)
        self.epoch += 1
        self.pruner.on_epoch_end(self.epoch, self.optimizer)
        if check_zeros:
            assert_masked_weights_zero(self.pruner)
        self.sparsity_by_epoch[self.epoch] = self.pruner.sparsity()[0]


def new_run(
    method_cfg: dict,
    *,
    arch: str = "lstm",
    hidden: int = 16,
    layers: int = 1,
    epochs: int = 4,
    steps_per_epoch: int = 4,
    optimizer: str = "sgd",
    seed: int = 0,
) -> Run:
    model = tiny_lm(arch, hidden, layers, seed=seed)
    pruner = build_pruner(model, parse_pruning_config(method_cfg), steps_per_epoch=steps_per_epoch, total_epochs=epochs, seed=seed)
    return Run(model, pruner, make_optimizer(model, optimizer), batches(steps_per_epoch, seed), steps_per_epoch)


def assert_masked_weights_zero(pruner) -> None:
    params = dict(pruner.model.named_parameters())
    for name, mask in pruner.masks().items():
        pruned = params[name].detach()[~mask]
        assert torch.count_nonzero(pruned) == 0, f"{name}: {torch.count_nonzero(pruned)} pruned weights are not zero"


def iss_case(arch: str, hidden: int, layers: int, units: list[int]) -> dict:
    """An ISS setting whose target is exactly reachable by removing ``units`` per layer."""
    matrices = prunable_matrices(tiny_lm(arch, hidden, layers))
    removed = pruned_weight_count(matrices, unit_layers(matrices, arch == "rhn"), units)
    return {"method": "iss", "sparsity": round(removed / total_weights(matrices), 4), "params": {"pruneEpoch": 1, "groupLasso": 1e-3}}
