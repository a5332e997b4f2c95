"""Batches, as in PyTorch's word_language_model, plus the fixed Lyapunov probe.

A language-model stream is cut into ``batch_size`` contiguous columns (``batchify``: shape
``[rows, batch_size]``, sequence first) and read in truncated-BPTT windows of ``bptt`` rows; the
hidden state is carried from one window to the next, so the model sees each column as one long text.

Per-epoch order is a pure function of (seed, epoch), never of a global random stream, so a trial
resumed from a checkpoint trains on exactly the batches an uninterrupted run would:

- language models: the windows are rotated by a random whole number of windows (every target
  position is still predicted exactly once per full epoch; the hidden state is reset where the
  rotation wraps). With ``max_batches`` capping an epoch, successive epochs so see different text.
- classification: a random permutation of the examples per epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def epoch_rng(seed: int, epoch: int, purpose: str = "order") -> np.random.Generator:
    """An independent generator for one (seed, epoch, purpose)."""
    tag = int.from_bytes(purpose.encode()[:8].ljust(8, b"\0"), "little")
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, tag]))


def batchify(stream: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``[rows, batch_size]``: column j is the j-th contiguous stretch of the stream; the tail that
    does not fill a row is dropped."""
    rows = stream.numel() // batch_size
    if rows < 2:
        raise ValueError(f"{stream.numel()} tokens are too few for batches of {batch_size} sequences")
    return stream[: rows * batch_size].view(batch_size, rows).t().contiguous()


@dataclass(frozen=True)
class Window:
    start: int  # first input row
    length: int  # rows of input (targets are the next rows)
    reset: bool  # start from a fresh hidden state


def window_count(rows: int, bptt: int) -> int:
    return -(-(rows - 1) // bptt)


def epoch_windows(rows: int, bptt: int, seed: int, epoch: int, max_batches: int | None = None) -> list[Window]:
    """The BPTT windows of one training epoch, in order."""
    n = window_count(rows, bptt)
    first = int(epoch_rng(seed, epoch).integers(n)) * bptt
    starts = list(range(first, rows - 1, bptt)) + list(range(0, first, bptt))
    windows = [
        Window(start=s, length=min(bptt, rows - 1 - s), reset=(i == 0 or s == 0))
        for i, s in enumerate(starts)
    ]
    return windows[:max_batches] if max_batches else windows


def eval_windows(rows: int, bptt: int, max_batches: int | None = None) -> list[Window]:
    """Evaluation reads the whole stream in order, one hidden state throughout."""
    windows = [Window(s, min(bptt, rows - 1 - s), s == 0) for s in range(0, rows - 1, bptt)]
    return windows[:max_batches] if max_batches else windows


def window_batch(source: torch.Tensor, window: Window) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``[length, B]`` and next-token targets ``[length, B]``."""
    s, n = window.start, window.length
    return source[s : s + n], source[s + 1 : s + 1 + n]


def classification_batches(
    n_examples: int, batch_size: int, seed: int, epoch: int, max_batches: int | None = None
) -> list[torch.Tensor]:
    """Index tensors of one training epoch's minibatches (a fresh permutation per epoch)."""
    order = torch.from_numpy(epoch_rng(seed, epoch).permutation(n_examples))
    batches = list(order.split(batch_size))
    return batches[:max_batches] if max_batches else batches


def probe_tokens(stream: torch.Tensor, batch: int, length: int) -> torch.Tensor:
    """``[length, batch]``: ``batch`` windows of ``length`` tokens at evenly spaced offsets of the
    stream (the first at 0, the last ending at the stream's end). Fixed for a given stream."""
    if stream.numel() < length:
        raise ValueError(f"the validation split has {stream.numel()} tokens; the probe needs {length}")
    offsets = np.linspace(0, stream.numel() - length, batch).round().astype(np.int64)
    return torch.stack([stream[o : o + length] for o in offsets], dim=1)


def probe_sequences(x: torch.Tensor, batch: int, length: int) -> torch.Tensor:
    """``[length, batch, features]`` from a classification split ``x`` of shape ``[N, steps, F]``.

    Probe sequence j chains consecutive examples starting at an evenly spaced example, so a probe
    can be longer than one example (the digits have 8 steps; the probe needs warm-up + length)."""
    n, steps, features = x.shape
    per_probe = -(-length // steps)
    if n < per_probe:
        raise ValueError(f"the validation split has {n} examples; the probe needs {per_probe}")
    firsts = np.linspace(0, n - per_probe, batch).round().astype(np.int64)
    seqs = [x[f : f + per_probe].reshape(per_probe * steps, features)[:length] for f in firsts]
    return torch.stack(seqs, dim=1)
