"""Token corpora for language modelling: three id streams and the vocabulary that made them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from hyperprune.contract.data_layout import DataError
from hyperprune.contract.data_layout import resolve_sources
from hyperprune.contract.text import Level, SplitSizes, holdout_splits, read_tokens, split_issues
from hyperprune.data.vocab import Vocabulary


@dataclass(frozen=True)
class TokenCorpus:
    name: str
    level: str
    vocab: Vocabulary
    train: torch.Tensor  # 1-D int64 ids
    valid: torch.Tensor
    test: torch.Tensor

    def split(self, name: str) -> torch.Tensor:
        if name not in ("train", "valid", "test"):
            raise ValueError(f"unknown split {name!r}")
        return getattr(self, name)


def load_text_corpus(
    corpus: str,
    path: str | Path,
    *,
    level: Level = "word",
    files: dict[str, str | None] | None = None,
    holdout: float = 0.05,
    min_count: int = 1,
    max_vocab: int | None = None,
) -> TokenCorpus:
    """A word- or character-level corpus from a directory (see ``hyperprune.data.layout``)."""
    sources = resolve_sources(corpus, level, path, files)
    spaced = corpus == "ptb" and level == "char"  # PTB char files: one symbol per spaced item
    train = read_tokens(sources.train, level, spaced_symbols=spaced)
    valid = read_tokens([sources.valid], level, spaced_symbols=spaced) if sources.valid else None
    test = read_tokens([sources.test], level, spaced_symbols=spaced) if sources.test else None

    # Splits without a file come from the end of the training text: test last, validation before it.
    train, valid, test = holdout_splits(train, valid, test, holdout)
    for _, problem in split_issues(SplitSizes(len(train), len(valid), len(test))):
        raise DataError(f"{path}: {problem}")

    vocab = Vocabulary.build(train, min_count=min_count, max_size=max_vocab)

    def ids(tokens: list[str]) -> torch.Tensor:
        return torch.tensor(vocab.encode(tokens), dtype=torch.int64)

    return TokenCorpus(
        name=f"{corpus}:{Path(path).name} ({level})",
        level=level,
        vocab=vocab,
        train=ids(train),
        valid=ids(valid),
        test=ids(test),
    )
