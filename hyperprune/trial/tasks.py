"""The two kinds of task a trial trains, behind one small interface the training loop uses.

- ``LanguageModelTask``: next-token prediction on a token corpus, truncated BPTT over contiguous
  streams (hidden state carried across windows), metric = perplexity (lower is better).
- ``ClassificationTask``: one label per sequence (the digits), metric = accuracy (higher is better).

Both build their model, yield the training batches of an epoch (order from (seed, epoch) only),
compute a batch's loss, evaluate a split and give the fixed Lyapunov probe.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hyperprune.data import (
    SequenceClassificationData,
    TokenCorpus,
    batchify,
    classification_batches,
    epoch_windows,
    eval_windows,
    probe_sequences,
    probe_tokens,
    window_batch,
)
from hyperprune.contract.text import SplitSizes, steps_per_epoch
from hyperprune.contract.trial import LyapunovConfig, TrialConfig
from hyperprune.models.cores import detach_state

StopCheck = Callable[[], None]


@dataclass
class TrainBatch:
    x: Tensor
    y: Tensor
    reset_state: bool  # language models: start this window from a zero state
    tokens: int  # targets predicted (for tokens/second)


@dataclass(frozen=True)
class Evaluation:
    loss: float  # mean cross-entropy (nats)
    metric: float  # perplexity or accuracy


class LanguageModelTask:
    metric: Literal["perplexity"] = "perplexity"
    mode: Literal["min"] = "min"

    def __init__(self, corpus: TokenCorpus, config: TrialConfig, device: torch.device) -> None:
        t = config.training
        self.corpus = corpus
        self.config = config
        self.train_data = batchify(corpus.train, t.batch_size).to(device)
        self._eval_data = {
            split: batchify(corpus.split(split), min(t.eval_batch_size, corpus.split(split).numel() // 2)).to(device)
            for split in ("valid", "test")
        }
        self.device = device

    @property
    def vocab_size(self) -> int:
        return len(self.corpus.vocab)

    def build_model(self) -> nn.Module:
        from hyperprune.models import build_model

        return build_model(self.config.model, vocab_size=self.vocab_size, seed=self.config.seed)

    def model_spec(self) -> dict[str, Any]:
        """What ``load_model`` needs besides the config to rebuild the model."""
        return {"task": "language_model", "vocab_size": self.vocab_size}

    def vocabulary(self) -> list[str] | None:
        """The token of each id, saved beside the final model."""
        return list(self.corpus.vocab.tokens)

    @property
    def steps_per_epoch(self) -> int:
        t = self.config.training
        return steps_per_epoch(SplitSizes(self.corpus.train.numel(), 0, 0), t.batch_size, t.bptt, t.max_batches)

    def train_batches(self, epoch: int) -> Iterator[TrainBatch]:
        t = self.config.training
        for w in epoch_windows(self.train_data.size(0), t.bptt, self.config.seed, epoch, t.max_batches):
            x, y = window_batch(self.train_data, w)
            yield TrainBatch(x, y, w.reset, y.numel())

    def loss(self, model: nn.Module, batch: TrainBatch, state: Any) -> tuple[Tensor, Any]:
        """Mean next-token cross-entropy of one window; the returned state is detached (truncated BPTT)."""
        logits, state = model(batch.x, None if batch.reset_state else state)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), batch.y.reshape(-1))
        return loss, detach_state(state)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str, check_stop: StopCheck | None = None) -> Evaluation:
        data = self._eval_data[split]
        t = self.config.training
        total, count, state = 0.0, 0, None
        for w in eval_windows(data.size(0), t.bptt, t.eval_max_batches):
            if check_stop:
                check_stop()
            x, y = window_batch(data, w)
            logits, state = model(x, state)
            total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum").item()
            count += y.numel()
        loss = total / count
        return Evaluation(loss=loss, metric=math.exp(loss) if loss < 700 else math.inf)

    def probe(self, cfg: LyapunovConfig) -> Tensor:
        """``[warmup + probe_length, batch]`` validation tokens, the same at every epoch."""
        return probe_tokens(self.corpus.valid, cfg.batch, cfg.warmup + cfg.probe_length).to(self.device)

    def scoring_batches(self) -> Iterator[TrainBatch]:
        """Training windows in text order, each from a zero state, for pruners that score weights
        before training (they take as many as they need; see ``batch_loss``)."""
        for w in eval_windows(self.train_data.size(0), self.config.training.bptt):
            x, y = window_batch(self.train_data, w)
            yield TrainBatch(x, y, True, y.numel())


class ClassificationTask:
    metric: Literal["accuracy"] = "accuracy"
    mode: Literal["max"] = "max"

    def __init__(self, data: SequenceClassificationData, config: TrialConfig, device: torch.device) -> None:
        self.data = data
        self.config = config
        self.device = device
        # Stored sequence first ([T, N, F]) so a batch is a column slice, as the models expect.
        self._x = {s: data.split(s)[0].transpose(0, 1).contiguous().to(device) for s in ("train", "valid", "test")}
        self._y = {s: data.split(s)[1].to(device) for s in ("train", "valid", "test")}

    def build_model(self) -> nn.Module:
        from hyperprune.models import build_model

        d = self.data
        return build_model(self.config.model, num_classes=d.num_classes, input_size=d.input_size, seed=self.config.seed)

    def model_spec(self) -> dict[str, Any]:
        return {"task": "classification", "num_classes": self.data.num_classes, "input_size": self.data.input_size}

    def vocabulary(self) -> list[str] | None:
        return None  # features, not tokens

    @property
    def steps_per_epoch(self) -> int:
        t = self.config.training
        return steps_per_epoch(SplitSizes(self._y["train"].numel(), 0, 0, "examples"), t.batch_size, t.bptt, t.max_batches)

    def train_batches(self, epoch: int) -> Iterator[TrainBatch]:
        t = self.config.training
        n = self._y["train"].numel()
        for idx in classification_batches(n, t.batch_size, self.config.seed, epoch, t.max_batches):
            idx = idx.to(self.device)
            yield TrainBatch(self._x["train"][:, idx], self._y["train"][idx], True, idx.numel())

    def loss(self, model: nn.Module, batch: TrainBatch, state: Any = None) -> tuple[Tensor, Any]:
        return F.cross_entropy(model(batch.x), batch.y), None

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str, check_stop: StopCheck | None = None) -> Evaluation:
        x, y = self._x[split], self._y[split]
        t = self.config.training
        total, correct, count = 0.0, 0, 0
        for b, idx in enumerate(torch.arange(y.numel(), device=self.device).split(t.eval_batch_size)):
            if t.eval_max_batches and b >= t.eval_max_batches:
                break
            if check_stop:
                check_stop()
            logits = model(x[:, idx])
            total += F.cross_entropy(logits, y[idx], reduction="sum").item()
            correct += int((logits.argmax(-1) == y[idx]).sum())
            count += idx.numel()
        return Evaluation(loss=total / count, metric=correct / count)

    def probe(self, cfg: LyapunovConfig) -> Tensor:
        """``[warmup + probe_length, batch, features]``: chained validation examples, fixed."""
        return probe_sequences(self.data.valid_x, cfg.batch, cfg.warmup + cfg.probe_length).to(self.device)

    def scoring_batches(self) -> Iterator[TrainBatch]:
        """Training batches in data order, for pruners that score weights before training."""
        n = self._y["train"].numel()
        for idx in torch.arange(n, device=self.device).split(self.config.training.batch_size):
            yield TrainBatch(self._x["train"][:, idx], self._y["train"][idx], True, idx.numel())


Task = LanguageModelTask | ClassificationTask


def batch_loss(task: Task) -> Callable[[nn.Module, TrainBatch], Tensor]:
    """``loss_fn(model, batch)`` for a pruner's ``before_training``: the loss from a zero state."""

    def loss_fn(model: nn.Module, batch: TrainBatch) -> Tensor:
        return task.loss(model, batch, None)[0]

    return loss_fn


def make_task(config: TrialConfig, data: TokenCorpus | SequenceClassificationData, device: torch.device) -> Task:
    if isinstance(data, SequenceClassificationData):
        return ClassificationTask(data, config, device)
    return LanguageModelTask(data, config, device)
