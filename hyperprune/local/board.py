"""Each candidate's LS distance, epoch by epoch, into its trial's TensorBoard folder (spec.tensorboard).

A trial writes its own metric, losses, sparsity and spectrum summary (DIR/trials/<id>/tensorboard);
the distance to the dense spectrum at the same epoch is known only here, where both spectra meet,
so the engine adds it beside them, once both reported (``lyapunov/distance``). Written with
tensorboard's own event writer, which needs no torch; without the package, nothing is written.
"""

from __future__ import annotations

import time
from typing import Any

from hyperprune.local.layout import Workdir
from hyperprune.policy import SearchState
from hyperprune.policy.summary import distance_at

BOARD_DIR = "tensorboard"  # the trial's own event folder (hyperprune.trial.tensorboard)
DISTANCE_TAG = "lyapunov/distance"


class DistanceBoard:
    def __init__(self, workdir: Workdir) -> None:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter  # the tensorboard extra

        self._writer_type = EventFileWriter
        self.workdir = workdir
        self.writers: dict[str, Any] = {}
        self.written: set[tuple[str, int]] = set()

    def update(self, state: SearchState) -> None:
        """Write every candidate distance that became known and is not written yet."""
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        for trial in state.candidates:
            for epoch in sorted(trial.observations):
                if (trial.id, epoch) in self.written:
                    continue
                distance = distance_at(state, trial, epoch)
                if distance is None:
                    continue
                writer = self.writers.get(trial.id)
                if writer is None:
                    folder = self.workdir.trial(trial.id) / BOARD_DIR
                    writer = self.writers[trial.id] = self._writer_type(str(folder), filename_suffix=".distance")
                value = Summary.Value(tag=DISTANCE_TAG, simple_value=distance)
                writer.add_event(Event(wall_time=time.time(), step=epoch, summary=Summary(value=[value])))
                writer.flush()
                self.written.add((trial.id, epoch))

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


def distance_board(workdir: Workdir) -> DistanceBoard | None:
    try:
        return DistanceBoard(workdir)
    except ImportError:
        return None
