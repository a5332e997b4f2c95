"""User tasks for the tests, good and broken, importable as ``usertasks:<function>`` (tests/task is
put on the path by conftest.py, as a user's package would be installed).

``stacked`` is the shape of a real user model: an embedding-free sequence regressor with two separate
``nn.LSTM`` modules (batch first) and dropout between them, trained on a fixed noisy sine series.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from hyperprune.task import Metric, Task, TaskContext


def series_data(n: int = 96, steps: int = 16, features: int = 2) -> dict[str, TensorDataset]:
    g = torch.Generator().manual_seed(11)
    t = torch.arange(n + steps + 1, dtype=torch.float32)
    wave = torch.stack([torch.sin(0.3 * t), torch.cos(0.2 * t)][:features], dim=-1)
    wave = wave + 0.05 * torch.randn(wave.shape, generator=g)
    x = torch.stack([wave[i : i + steps] for i in range(n)])
    y = torch.stack([wave[i + steps, :1] for i in range(n)])
    return {"train": TensorDataset(x[:64], y[:64]), "valid": TensorDataset(x[64:80], y[64:80]), "test": TensorDataset(x[80:], y[80:])}


class Stacked(nn.Module):
    def __init__(self, hidden: int = 8) -> None:
        super().__init__()
        self.encoder = nn.ModuleDict({"rnn": nn.LSTM(2, hidden, batch_first=True)})
        self.drop = nn.Dropout(0.2)
        self.upper = nn.LSTM(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.encoder["rnn"](x)
        out, _ = self.upper(self.drop(out))
        return self.head(out[:, -1])


def _metric() -> Metric:
    return Metric("mae", "min", lambda out, y: (out - y).abs())


def stacked(ctx: TaskContext) -> Task:
    data = series_data()
    return Task(
        model=Stacked(int(ctx.params.get("hidden", 8))),
        train=DataLoader(data["train"], batch_size=16, shuffle=True),
        valid=DataLoader(data["valid"], batch_size=8),
        test=DataLoader(data["test"], batch_size=8),
        loss=nn.functional.mse_loss,
        metric=_metric(),
    )


# ---- other forms the protocol allows -------------------------------------------------------------


class WithState(nn.Module):
    """A GRU (time first) given an initial state from a learned parameter: the spectrum starts there."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(2, 6)
        self.h0 = nn.Parameter(torch.full((1, 1, 6), 0.3))
        self.head = nn.Linear(6, 1)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        x = batch["x"].transpose(0, 1)  # [T, B, F]
        out, _ = self.gru(x, self.h0.expand(1, x.shape[1], 6).contiguous())
        return self.head(out[-1])


def dict_batches(ctx: TaskContext) -> Task:
    data = series_data()
    batches = {s: [{"x": d.tensors[0][i : i + 8], "y": d.tensors[1][i : i + 8]} for i in range(0, len(d), 8)] for s, d in data.items()}
    return Task(
        model=WithState(),
        train=batches["train"],
        valid=batches["valid"],
        test=None,
        loss=nn.functional.mse_loss,
        metric=Metric("rmse", "min", lambda out, y: (out - y) ** 2, finish=math.sqrt),
        forward=lambda model, batch: (model(batch), batch["y"]),
        train_step=lambda model, batch: nn.functional.l1_loss(model(batch), batch["y"]),
    )


# ---- broken ones: each must be refused before training, naming the entry point --------------------


def raises(ctx: TaskContext) -> Task:
    return {"hidden": 3}["width"]  # KeyError


def returns_a_dict(ctx: TaskContext) -> dict:
    return {"model": Stacked()}


def model_not_a_module(ctx: TaskContext) -> Task:
    task = stacked(ctx)
    task.model = "lstm"  # type: ignore[assignment]
    return task


def one_shot_train(ctx: TaskContext) -> Task:
    task = stacked(ctx)
    task.train = iter(list(task.train))
    return task


def wrong_metric(ctx: TaskContext) -> Task:
    task = stacked(ctx)
    task.metric = Metric("rmse", "min", lambda out, y: (out - y) ** 2, finish=math.sqrt)
    return task


def no_recurrent_layer(ctx: TaskContext) -> Task:
    task = stacked(ctx)
    task.model = nn.Sequential(nn.Flatten(), nn.Linear(32, 1))
    return task


def bidirectional(ctx: TaskContext) -> Task:
    task = stacked(ctx)
    task.model.upper = nn.LSTM(8, 4, batch_first=True, bidirectional=True)
    return task


def wrong_shapes(ctx: TaskContext) -> Task:
    task = stacked(ctx)
    data = series_data(features=1)  # one feature per step; the model's first LSTM reads two
    task.train = DataLoader(data["train"], batch_size=16)
    return task


def nan_metric(ctx: TaskContext) -> Task:
    task = stacked(ctx)
    task.metric = Metric("mae", "min", lambda out, y: (out - y).abs() * float("nan"))
    return task


class Stepped(nn.Module):
    """An LSTM stepped one time step at a time in Python: pruning works, the spectrum cannot."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(2, 4, batch_first=True)
        self.head = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        state = None
        for t in range(x.shape[1]):
            out, state = self.rnn(x[:, t : t + 1], state)
        return self.head(out[:, -1])


def stepped(ctx: TaskContext) -> Task:
    task = stacked(ctx)
    task.model = Stepped()
    return task


class Packed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.GRU(2, 4, batch_first=True)
        self.head = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lengths = torch.full((x.shape[0],), x.shape[1])
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True)
        _, h = self.rnn(packed)
        return self.head(h[-1])


def packed(ctx: TaskContext) -> Task:
    task = stacked(ctx)
    task.model = Packed()
    return task
