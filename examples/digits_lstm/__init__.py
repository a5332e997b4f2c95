"""An LSTM classifier of handwritten digits read row by row, as a Hyperprune task
(``digits_lstm:make_task``). Plain PyTorch; see digits-lstm.yaml."""

from digits_lstm.task import RowReader, make_task

__all__ = ["RowReader", "make_task"]
