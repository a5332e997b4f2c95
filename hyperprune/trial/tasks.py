"""The kinds of task a trial trains, behind one small interface the training loop uses.

- ``LanguageModelTask``: next-token prediction on a token corpus, truncated BPTT over contiguous
  streams (hidden state carried across windows), metric = perplexity (lower is better).
- ``ClassificationTask``: one label per sequence (the digits), metric = accuracy (higher is better).
- ``EntryPointTask``: the user's own model and data, from a task's entry point (``hyperprune.task``),
  metric and direction as the task says.

Each builds its model, yields the training batches of an epoch (order from (seed, epoch) only),
computes a batch's loss, evaluates a split and gives the fixed Lyapunov probe (a forward of the
model on the same batch at every epoch, whose recurrent layers' inputs the spectrum captures).
The built-in tasks carry a language model's hidden state across windows and index their windows by
epoch, which a user's iterables of batches need not do; so they stay their own implementations of
this interface rather than instances of the user protocol, and the loop has no special case.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hyperprune.contract.trial import LyapunovConfig, TrialConfig
from hyperprune.data import (
    SequenceClassificationData,
    TokenCorpus,
    batchify,
    classification_batches,
    epoch_windows,
    eval_windows,
    probe_sequences,
    probe_tokens,
    load_data,
    window_batch,
)
from hyperprune.contract.text import SplitSizes, steps_per_epoch
from hyperprune.models.cores import detach_state
from hyperprune.task import Task as UserTask
from hyperprune.task import load_task, split_batch, to_device

StopCheck = Callable[[], None]
ProbeRun = Callable[[nn.Module], Any]  # the model's forward on the fixed probe batch


@dataclass
class TrainBatch:
    x: Any  # inputs (built-in tasks), or the user's whole batch (entry-point tasks)
    y: Any  # targets (built-in tasks); None for entry-point tasks
    reset_state: bool  # language models: start this window from a zero state
    tokens: int  # targets predicted (for tokens/second, and the weight of the batch's loss)


@dataclass(frozen=True)
class Evaluation:
    loss: float  # mean loss (nats, for the built-in cross-entropy)
    metric: float  # perplexity, accuracy, or the task's own metric


class LanguageModelTask:
    metric: Literal["perplexity"] = "perplexity"
    mode: Literal["min"] = "min"
    recurrent_layers: list[str] | None = None  # every recurrent layer: the model's core
    where = "model"  # the field a problem with the model's forward is reported at

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
    def evaluate(
        self, model: nn.Module, split: str, check_stop: StopCheck | None = None, limit: int | None = None
    ) -> Evaluation | None:
        data = self._eval_data[split]
        t = self.config.training
        total, count, state = 0.0, 0, None
        for w in eval_windows(data.size(0), t.bptt, limit or t.eval_max_batches):
            if check_stop:
                check_stop()
            x, y = window_batch(data, w)
            logits, state = model(x, state)
            total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum").item()
            count += y.numel()
        loss = total / count
        return Evaluation(loss=loss, metric=math.exp(loss) if loss < 700 else math.inf)

    def probe(self, cfg: LyapunovConfig) -> ProbeRun:
        """The forward on ``[warmup + probe_length, batch]`` validation tokens, the same at every epoch."""
        tokens = probe_tokens(self.corpus.valid, cfg.batch, cfg.warmup + cfg.probe_length).to(self.device)
        return lambda model: model(tokens)

    def scoring_batches(self) -> Iterator[TrainBatch]:
        """Training windows in text order, each from a zero state, for pruners that score weights
        before training (they take as many as they need; see ``batch_loss``)."""
        for w in eval_windows(self.train_data.size(0), self.config.training.bptt):
            x, y = window_batch(self.train_data, w)
            yield TrainBatch(x, y, True, y.numel())


class ClassificationTask:
    metric: Literal["accuracy"] = "accuracy"
    mode: Literal["max"] = "max"
    recurrent_layers: list[str] | None = None
    where = "model"

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
    def evaluate(
        self, model: nn.Module, split: str, check_stop: StopCheck | None = None, limit: int | None = None
    ) -> Evaluation | None:
        x, y = self._x[split], self._y[split]
        t = self.config.training
        total, correct, count = 0.0, 0, 0
        cap = limit or t.eval_max_batches
        for b, idx in enumerate(torch.arange(y.numel(), device=self.device).split(t.eval_batch_size)):
            if cap and b >= cap:
                break
            if check_stop:
                check_stop()
            logits = model(x[:, idx])
            total += F.cross_entropy(logits, y[idx], reduction="sum").item()
            correct += int((logits.argmax(-1) == y[idx]).sum())
            count += idx.numel()
        return Evaluation(loss=total / count, metric=correct / count)

    def probe(self, cfg: LyapunovConfig) -> ProbeRun:
        """The forward on ``[warmup + probe_length, batch, features]``: chained validation examples, fixed."""
        x = probe_sequences(self.data.valid_x, cfg.batch, cfg.warmup + cfg.probe_length).to(self.device)
        return lambda model: model(x)

    def scoring_batches(self) -> Iterator[TrainBatch]:
        """Training batches in data order, for pruners that score weights before training."""
        n = self._y["train"].numel()
        for idx in torch.arange(n, device=self.device).split(self.config.training.batch_size):
            yield TrainBatch(self._x["train"][:, idx], self._y["train"][idx], True, idx.numel())


class EntryPointTask:
    """The user's own model and data: what the task's entry point returns (``hyperprune.task.Task``).

    Batches are the user's, moved to the device; the loss of a batch is weighted by its targets'
    elements (an ``(inputs, targets)`` pair; 1 for other batch forms); a split's metric is the mean
    of all ``Metric.values``, through ``Metric.finish``."""

    def __init__(self, config: TrialConfig, device: torch.device) -> None:
        assert config.task is not None
        self.config = config
        self.device = device
        self.entry_point = config.task.entry_point
        self.where = f"task.entryPoint: {self.entry_point}"
        self.metric = config.task.metric
        self.mode = config.task.mode
        self.recurrent_layers = config.task.recurrent_layers
        self.user: UserTask = load_task(config.task, seed=config.seed, device=device)
        n = len(self.user.train) if hasattr(self.user.train, "__len__") else sum(1 for _ in self.user.train)  # type: ignore[arg-type]
        cap = config.training.max_batches
        self._steps = min(n, cap) if cap else n

    def build_model(self) -> nn.Module:
        return self.user.model

    def model_spec(self) -> dict[str, Any]:
        """``load_model`` calls the entry point again (config.json holds it) for the model's class."""
        return {"task": "entry_point", "entry_point": self.entry_point}

    def vocabulary(self) -> list[str] | None:
        return None

    @property
    def steps_per_epoch(self) -> int:
        return self._steps

    def _batches(self, data: Any, cap: int | None) -> Iterator[Any]:
        for i, batch in enumerate(data):
            if cap and i >= cap:
                break
            yield to_device(batch, self.device)

    def train_batches(self, epoch: int) -> Iterator[TrainBatch]:
        # The loop has seeded the global generators from (seed, epoch): a shuffling DataLoader draws
        # its order from them when it is iterated here.
        for batch in self._batches(self.user.train, self.config.training.max_batches):
            yield TrainBatch(batch, None, True, _target_count(batch))

    def loss(self, model: nn.Module, batch: TrainBatch, state: Any = None) -> tuple[Tensor, Any]:
        return self.user.training_loss(model, batch.x), None

    @torch.no_grad()
    def evaluate(
        self, model: nn.Module, split: str, check_stop: StopCheck | None = None, limit: int | None = None
    ) -> Evaluation | None:
        data = self.user.valid if split == "valid" else self.user.test
        if data is None:
            return None  # the task has no test split
        loss_sum, values_sum, count = 0.0, 0.0, 0
        for batch in self._batches(data, limit or self.config.training.eval_max_batches):
            if check_stop:
                check_stop()
            output, target = self.user.run(model, batch)
            values = torch.as_tensor(self.user.metric.values(output, target)).detach().double()
            loss_sum += float(self.user.loss(output, target)) * values.numel()
            values_sum += float(values.sum())
            count += values.numel()
        if count == 0:
            raise ValueError(f"the {split} data yields no batch (or its Metric.values are empty)")
        return Evaluation(loss=loss_sum / count, metric=self.user.metric.of_mean(values_sum / count))

    def probe(self, cfg: LyapunovConfig) -> ProbeRun:
        """The forward on ``Task.probe``, or on the first validation batch, the same at every epoch."""
        batch = self.user.probe if self.user.probe is not None else next(iter(self.user.valid), None)
        if batch is None:
            raise ValueError("the validation data yields no batch to probe the spectrum with")
        batch = to_device(batch, self.device)
        return lambda model: self.user.run(model, batch)

    def scoring_batches(self) -> Iterator[TrainBatch]:
        """Training batches in the loader's order, for pruners that score weights before training."""
        for batch in self._batches(self.user.train, None):
            yield TrainBatch(batch, None, True, _target_count(batch))


def _target_count(batch: Any) -> int:
    try:
        _, target = split_batch(batch)
    except TypeError:
        return 1
    return target.numel() if isinstance(target, Tensor) else 1


Task = LanguageModelTask | ClassificationTask | EntryPointTask


def batch_loss(task: Task) -> Callable[[nn.Module, TrainBatch], Tensor]:
    """``loss_fn(model, batch)`` for a pruner's ``before_training``: the loss from a zero state."""

    def loss_fn(model: nn.Module, batch: TrainBatch) -> Tensor:
        return task.loss(model, batch, None)[0]

    return loss_fn


def make_task(
    config: TrialConfig, device: torch.device, data: TokenCorpus | SequenceClassificationData | None = None
) -> Task:
    """The task of ``config``: its entry point's, or the built-in one its data decides (``data``:
    the corpus already loaded, else loaded here). Raises ``DataError`` (built-in data) or
    ``TaskError`` (an entry point), each naming the problem."""
    if config.task is not None:
        return EntryPointTask(config, device)
    if data is None:
        data = load_data(config.data)
    if isinstance(data, SequenceClassificationData):
        return ClassificationTask(data, config, device)
    return LanguageModelTask(data, config, device)
