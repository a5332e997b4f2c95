"""Handwritten digits (scikit-learn's bundled 8 x 8 images), each read as 8 rows of 8 pixels.

The 1797 images are split once, by a fixed permutation (not the trial's seed, so every trial of a
search sees the same split), into 1297 training, 250 validation and 250 test images. An LSTM reads
the rows top to bottom (batch first); a linear layer classifies its last output; the metric is the
accuracy, higher is better.

Eight rows are too few steps for a Lyapunov spectrum, so the task gives its own probe: validation
images chained into sequences of 32 rows, which the same model reads like any other batch.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from hyperprune.task import Metric, Task, TaskContext

SPLIT_SEED = 2024


class RowReader(nn.Module):
    def __init__(self, hidden: int = 32, layers: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(hidden, 10)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:  # rows: [batch, rows, 8]
        out, _ = self.lstm(rows)
        return self.head(out[:, -1])  # logits [batch, 10]


def digit_splits() -> dict[str, TensorDataset]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32)  # [1797, 8 rows, 8 pixels] in [0, 1]
    y = torch.tensor(digits.target, dtype=torch.long)
    order = torch.from_numpy(np.random.default_rng(SPLIT_SEED).permutation(len(y)))
    parts = {"train": order[:1297], "valid": order[1297:1547], "test": order[1547:]}
    return {name: TensorDataset(x[idx], y[idx]) for name, idx in parts.items()}


def make_task(ctx: TaskContext) -> Task:
    splits = digit_splits()
    model = RowReader(hidden=int(ctx.params.get("hidden", 32)), layers=int(ctx.params.get("layers", 1)))
    valid_x, valid_y = splits["valid"].tensors
    probe_rows = int(ctx.params.get("probeRows", 32))
    images = probe_rows // 8
    chained = valid_x[: 4 * images].reshape(4, images * 8, 8)  # 4 sequences of consecutive images
    return Task(
        model=model,
        train=DataLoader(splits["train"], batch_size=int(ctx.params.get("batchSize", 64)), shuffle=True),
        valid=DataLoader(splits["valid"], batch_size=250),
        test=DataLoader(splits["test"], batch_size=250),
        loss=nn.functional.cross_entropy,
        metric=Metric("accuracy", "max", lambda logits, target: (logits.argmax(-1) == target).float()),
        probe=(chained, valid_y[:4]),
    )
