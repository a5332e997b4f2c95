"""The digits task: scikit-learn's bundled 8x8 handwritten digits, read row by row.

Each image is a sequence of 8 time steps with 8 features (one pixel row, scaled to [0, 1]); the label
is the digit. The split is fixed (a permutation with its own seed, not the trial's): 80% train, 10%
validation, 10% test, so every trial of a search sees the same examples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hyperprune.contract.text import digits_sizes

SPLIT_SEED = 20240229


@dataclass(frozen=True)
class SequenceClassificationData:
    name: str
    num_classes: int
    input_size: int  # features per time step
    steps: int  # time steps per sequence
    train_x: torch.Tensor  # [N, steps, input_size] float32
    train_y: torch.Tensor  # [N] int64
    valid_x: torch.Tensor
    valid_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        if name not in ("train", "valid", "test"):
            raise ValueError(f"unknown split {name!r}")
        return getattr(self, f"{name}_x"), getattr(self, f"{name}_y")


def load_digits_task() -> SequenceClassificationData:
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    digits = load_digits()
    x = torch.from_numpy((digits.data / 16.0).astype(np.float32)).reshape(-1, 8, 8)
    y = torch.from_numpy(digits.target.astype(np.int64))
    order = torch.from_numpy(np.random.default_rng(SPLIT_SEED).permutation(len(y)))
    sizes = digits_sizes(len(y))
    n_train, n_valid = sizes.train, sizes.valid
    tr, va, te = order[:n_train], order[n_train : n_train + n_valid], order[n_train + n_valid :]
    return SequenceClassificationData(
        name="digits (scikit-learn, 8 rows x 8 pixels)",
        num_classes=10,
        input_size=8,
        steps=8,
        train_x=x[tr],
        train_y=y[tr],
        valid_x=x[va],
        valid_y=y[va],
        test_x=x[te],
        test_y=y[te],
    )
