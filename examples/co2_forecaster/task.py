"""One-month-ahead forecasts of atmospheric CO2 at Mauna Loa (ppm), from the previous two years.

The data is the weekly series statsmodels ships (``statsmodels.datasets.co2``, 1958-2001), averaged
by month (526 months; the 5 months without a measurement are interpolated). The last 15 % of the
months are the test split and the 15 % before them the validation split, in time order, so every
forecast is of a month the model never trained on. The model reads a window of ``window`` months
(scaled with the training split's mean and spread) and predicts the next one; the metric is the
mean absolute error in ppm, lower is better.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from hyperprune.task import Metric, Task, TaskContext


def monthly_co2() -> np.ndarray:
    """The monthly mean CO2 concentration in ppm, March 1958 to December 2001."""
    from statsmodels.datasets import co2

    weekly = co2.load().data["co2"]
    return weekly.resample("MS").mean().interpolate().to_numpy(dtype=np.float32)


class Forecaster(nn.Module):
    """A GRU over the scaled window (batch first), its last output -> the change to the next month.

    The window is read relative to its last month, and the forecast is that month plus the predicted
    change: the series rises by about 1.5 ppm a year, so the test months lie above every training
    month, and a model of absolute levels would have to extrapolate them."""

    def __init__(self, hidden: int = 32, layers: int = 1) -> None:
        super().__init__()
        self.gru = nn.GRU(1, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [batch, window, 1]
        last = x[:, -1]
        out, _ = self.gru(x - last[:, None])
        return last + self.head(out[:, -1])  # [batch, 1]


def _windows(series: np.ndarray, window: int, start: int, stop: int) -> TensorDataset:
    """(window months, the next month) for every target month in [start, stop)."""
    x = np.stack([series[t - window : t] for t in range(start, stop)])[:, :, None]
    y = series[start:stop, None]
    return TensorDataset(torch.from_numpy(x), torch.from_numpy(y))


def make_task(ctx: TaskContext) -> Task:
    window = int(ctx.params.get("window", 24))
    series = monthly_co2()
    n = len(series)
    valid_start, test_start = int(n * 0.70), int(n * 0.85)
    # Scaled by the spread of the monthly changes, the size of what the model predicts.
    mean, spread = series[:valid_start].mean(), np.diff(series[:valid_start]).std()
    scaled = (series - mean) / spread

    train = _windows(scaled, window, window, valid_start)
    valid = _windows(scaled, window, valid_start, test_start)
    test = _windows(scaled, window, test_start, n)
    batch = int(ctx.params.get("batchSize", 32))
    model = Forecaster(hidden=int(ctx.params.get("hidden", 32)), layers=int(ctx.params.get("layers", 1)))
    return Task(
        model=model,
        train=DataLoader(train, batch_size=batch, shuffle=True),
        valid=DataLoader(valid, batch_size=256),
        test=DataLoader(test, batch_size=256),
        loss=nn.functional.mse_loss,
        # The error of each forecast in ppm; the metric of a split is their mean.
        metric=Metric("mae", "min", lambda output, target: (output - target).abs() * float(spread)),
    )
