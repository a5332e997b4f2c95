"""A corpus as tokens, and what a corpus must hold for a trial to train on it. Part of the contract:
the trial's data loader (hyperprune.data) and the local engine's checks before any training
(hyperprune.local.preflight) read text and apply these rules the same way, so a corpus the engine
accepts is one every trial accepts.

Reading: every line ends with ``<eos>`` (as in PyTorch's word_language_model), so sentence and
paragraph boundaries are tokens. Word level splits on whitespace. Character level takes every
character of the line, spaces included; PTB's character files are already one symbol per
whitespace-separated item (``_`` marks word boundaries), so they are read like words. A file that is
empty, binary (NUL bytes) or not UTF-8 is refused by name.

Splits without a file of their own are cut from the end of the training text: test last, the
validation split before it, ``holdout`` of the tokens each.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hyperprune.contract.data_layout import DataError
from hyperprune.contract.document import Issue
from hyperprune.contract.trial import DataConfig, ModelConfig

EOS = "<eos>"
UNK = "<unk>"
Level = Literal["word", "char"]


def line_tokens(line: str, level: Level, *, spaced_symbols: bool = False) -> list[str]:
    line = line.rstrip("\r\n")
    if level == "word" or spaced_symbols:
        return line.split() + [EOS]
    return list(line) + [EOS]


def iter_file_tokens(path: Path, level: Level, *, spaced_symbols: bool = False) -> Iterator[str]:
    """The tokens of one text file; DataError naming the file when it is not a text corpus."""
    try:
        if path.stat().st_size == 0:
            raise DataError(f"{path} is empty; a corpus file needs text (remove the file or fill it)")
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if "\x00" in line:
                    raise DataError(f"{path} is binary (a NUL byte on line {number}), not a text corpus")
                yield from line_tokens(line, level, spaced_symbols=spaced_symbols)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc


def read_tokens(paths: Iterable[Path], level: Level, *, spaced_symbols: bool = False) -> list[str]:
    """All tokens of the files, concatenated in the order given."""
    out: list[str] = []
    for path in paths:
        out.extend(iter_file_tokens(path, level, spaced_symbols=spaced_symbols))
    return out


def holdout_splits(
    train: list[str], valid: list[str] | None, test: list[str] | None, holdout: float
) -> tuple[list[str], list[str], list[str]]:
    """(train, valid, test): a split without its own file is the last ``holdout`` of the training
    text (test last, validation before it)."""
    cut = int(len(train) * holdout)
    if test is None:
        train, test = train[: len(train) - cut], train[len(train) - cut :]
    if valid is None:
        train, valid = train[: len(train) - cut], train[len(train) - cut :]
    return train, valid, test


def kept_tokens(train: Iterable[str], *, min_count: int = 1, max_size: int | None = None) -> list[str]:
    """The tokens a vocabulary keeps besides ``<eos>`` and ``<unk>``: by descending count in the
    training split (ties by first appearance), at least ``min_count`` times, at most
    ``max_size - 2`` of them."""
    counts = Counter(train)  # Counter keeps first-appearance order, so the sort below is stable
    ranked = [tok for tok, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n >= min_count and tok not in (EOS, UNK)]
    return ranked if max_size is None else ranked[: max(0, max_size - 2)]


@dataclass(frozen=True)
class SplitSizes:
    """Tokens (language models) or examples (classification) per split."""

    train: int
    valid: int
    test: int
    unit: Literal["tokens", "examples"] = "tokens"
    steps_per_example: int = 1  # time steps of one example (classification)


# The built-in corpora's sizes, known without reading anything: the synthetic corpus's validation
# and test splits are a tenth of its training tokens each (1,000 at least); scikit-learn's bundled
# digits are 1,797 sequences of 8 rows, a tenth of them for validation and a tenth for test.
SYNTHETIC_HELD_MIN = 1_000
DIGITS_EXAMPLES = 1_797
DIGITS_STEPS = 8
DIGITS_FEATURES = 8


def synthetic_sizes(tokens: int) -> SplitSizes:
    held = max(tokens // 10, SYNTHETIC_HELD_MIN)
    return SplitSizes(tokens, held, held)


def digits_sizes(examples: int = DIGITS_EXAMPLES) -> SplitSizes:
    held = examples // 10
    return SplitSizes(examples - 2 * held, held, held, "examples", DIGITS_STEPS)


def built_in_sizes(data: DataConfig) -> SplitSizes | None:
    """The split sizes of a built-in corpus; None for a corpus read from files."""
    if data.corpus == "synthetic":
        return synthetic_sizes(data.synthetic_tokens)
    if data.corpus == "digits":
        return digits_sizes()
    return None


def input_size(model: ModelConfig, data: DataConfig) -> int:
    """Features per time step the recurrent core reads: the embedding of a language model, the
    pixel row of a digit."""
    return DIGITS_FEATURES if data.task == "classification" else model.embedding_size or model.hidden_size


def steps_per_epoch(sizes: SplitSizes, batch_size: int, bptt: int, max_batches: int | None) -> int:
    """Optimiser steps in one training epoch: language models read ``batch_size`` contiguous
    columns of ``train // batch_size`` rows in windows of ``bptt`` rows; a classifier reads
    minibatches of ``batch_size`` examples; ``max_batches`` caps either."""
    if sizes.unit == "examples":
        n = math.ceil(sizes.train / batch_size)
    else:
        rows = sizes.train // batch_size
        n = math.ceil((rows - 1) / bptt) if rows > 1 else 0
    return min(n, max_batches) if max_batches else n


def split_issues(sizes: SplitSizes) -> list[Issue]:
    """A split with fewer than 2 tokens (a language model predicts the next one) or no example."""
    unit = sizes.unit
    least = 2 if unit == "tokens" else 1
    learner = "a language model" if unit == "tokens" else "a classifier"
    return [
        ("data.path", f"the {split} split has {n} {unit}; {learner} needs at least {least}")
        for split, n in (("train", sizes.train), ("valid", sizes.valid), ("test", sizes.test))
        if n < least
    ]


def recipe_issues(sizes: SplitSizes, batch_size: int, probe: int) -> list[Issue]:
    """A corpus too small for the recipe: a split too small to use at all, a training split that
    does not fill two rows of ``batch_size`` sequences, a validation split shorter than the
    Lyapunov probe (``probe`` = warmup + probeLength time steps). Paths are a trial config's."""
    issues = split_issues(sizes)
    if issues:
        return issues
    unit = sizes.unit
    if unit == "tokens" and sizes.train // batch_size < 2:
        issues.append(("training.batchSize", f"the training split has {sizes.train} tokens, too few for batches "
                                             f"of {batch_size} sequences (at least {2 * batch_size})"))
    needed = probe if unit == "tokens" else math.ceil(probe / sizes.steps_per_example)
    if sizes.valid < needed:
        issues.append(("lyapunov.probeLength", f"the validation split has {sizes.valid} {unit}; the probe of {probe} "
                                               f"time steps (warmup + probeLength) needs {needed}"))
    return issues


def vocabulary_issues(kept: int, min_count: int) -> list[Issue]:
    """A vocabulary of nothing but ``<eos>`` and ``<unk>``: every word would be the same token."""
    if kept > 0:
        return []
    if min_count > 1:
        return [("data.minCount", f"no token of the training split occurs {min_count} times or more: the vocabulary "
                                  "would hold only <eos> and <unk>; lower data.minCount")]
    return [("data.path", "the training split holds no token but line ends: the vocabulary would hold only <eos> and <unk>")]
