"""Reading text files into token streams, at word or character level.

Every line ends with ``<eos>`` (as in PyTorch's word_language_model), so sentence and paragraph
boundaries are tokens. Word level splits on whitespace. Character level takes every character of the
line, spaces included; PTB's character files are already one symbol per whitespace-separated item
(``_`` marks word boundaries), so they are read like words.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from hyperprune.contract.data_layout import DataError
from hyperprune.data.vocab import EOS

Level = Literal["word", "char"]


def line_tokens(line: str, level: Level, *, spaced_symbols: bool = False) -> list[str]:
    line = line.rstrip("\r\n")
    if level == "word" or spaced_symbols:
        return line.split() + [EOS]
    return list(line) + [EOS]


def iter_file_tokens(path: Path, level: Level, *, spaced_symbols: bool = False) -> Iterator[str]:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                yield from line_tokens(line, level, spaced_symbols=spaced_symbols)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc


def read_tokens(paths: list[Path], level: Level, *, spaced_symbols: bool = False) -> list[str]:
    """All tokens of the files, concatenated in the order given."""
    out: list[str] = []
    for path in paths:
        out.extend(iter_file_tokens(path, level, spaced_symbols=spaced_symbols))
    return out
