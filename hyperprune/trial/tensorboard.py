"""TensorBoard event files for a trial (``tensorboard: true`` in the spec; the ``tensorboard`` extra).

Every epoch's report goes to ``DIR/tensorboard``: the validation metric and loss, the training
loss, the realised sparsity, the spectrum's summary (largest exponent, mean, the exponents as a
histogram) and the epoch's time; the local engine adds each candidate's LS distance to the dense
spectrum beside them. ``tensorboard --logdir WORKDIR`` then shows a whole search, trial by trial.
Without the package installed a trial logs one warning and trains as usual.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hyperprune.contract.report import TrialReport

TENSORBOARD_DIR = "tensorboard"
log = logging.getLogger("hyperprune.trial")


class TensorBoardReporter:
    def __init__(self, directory: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package

        self.writer = SummaryWriter(str(directory))

    def report(self, report: TrialReport) -> None:
        import numpy as np

        step, w = report.epoch, self.writer
        scalars = {
            f"valid/{report.metric}": report.val_metric,
            "valid/loss": report.val_loss,
            "train/loss": report.train_loss,
            f"test/{report.metric}": report.test_metric,
            "sparsity": report.sparsity,
            "time/epoch_seconds": report.epoch_seconds,
            "time/lyapunov_seconds": report.lyapunov_seconds,
        }
        exponents = [x for x in (report.lyapunov or []) if x is not None]
        if exponents:
            scalars["lyapunov/max"] = exponents[0]
            scalars["lyapunov/mean"] = float(np.mean(exponents))
            w.add_histogram("lyapunov/exponents", np.asarray(exponents), step)
        for tag, value in scalars.items():
            if value is not None:
                w.add_scalar(tag, value, step)
        w.flush()

    def close(self) -> None:
        self.writer.close()


def tensorboard_reporter(workdir: Path) -> TensorBoardReporter | None:
    """The reporter writing ``workdir/tensorboard``, or None (with a warning) without the package."""
    try:
        return TensorBoardReporter(workdir / TENSORBOARD_DIR)
    except ImportError as exc:
        log.warning(
            "no TensorBoard event files: %s (install it with pip install 'hyperprune[tensorboard]')", exc
        )
        return None
