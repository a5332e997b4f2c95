"""Which files make up each split of a corpus directory. Part of the contract: the trial reads
exactly the files this resolves, and the local engine checks them before any trial starts.

Layouts (``data.corpus``):

- ``ptb``: ``ptb.train.txt``, ``ptb.valid.txt``, ``ptb.test.txt``; at character level
  ``ptb.char.train.txt`` and so on.
- ``wikitext``: ``train.txt``, ``valid.txt``, ``test.txt`` (the original ``wiki.train.tokens`` names
  are accepted too).
- ``text``: any directory of text files. Every ``*.txt`` file directly inside it, in name order, is
  concatenated into the training text; validation and test are cut from its end (see below).

``data.files`` overrides the layout with one file per split. Any split that has no file of its own is
cut, by position, from the end of the training text: the last ``holdout`` fraction becomes the test
split and the ``holdout`` fraction before it the validation split. With the default 0.05 a single file
(Tiny Shakespeare's ``input.txt``) is split 90/5/5.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class DataError(Exception):
    """A corpus cannot be loaded. The message names the path and what was expected there."""


SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class SplitSources:
    """Files per split; ``None`` for a split cut from the end of the training text."""

    train: list[Path]
    valid: Path | None
    test: Path | None


def _layout_names(corpus: str, level: str) -> list[tuple[str, ...]]:
    """Per split, the accepted file names (first existing wins)."""
    if corpus == "ptb":
        stem = "ptb.char" if level == "char" else "ptb"
        return [(f"{stem}.{split}.txt",) for split in SPLITS]
    if corpus == "wikitext":
        return [(f"{split}.txt", f"wiki.{split}.tokens", f"wiki.{split}.raw") for split in SPLITS]
    raise ValueError(f"corpus {corpus!r} has no fixed layout")


def resolve_sources(corpus: str, level: str, path: str | Path, files: dict[str, str | None] | None) -> SplitSources:
    root = Path(path)
    if not root.is_dir():
        what = "exists but is not a directory" if root.exists() else "does not exist"
        raise DataError(f"data directory {root} {what}; {_expected(corpus, level, files)}")

    if files is not None:
        named = {split: (root / name if name else None) for split, name in files.items()}
        absent = [str(p) for p in named.values() if p is not None and not p.is_file()]
        if absent:
            raise DataError(f"missing {', '.join(absent)} (named in data.files)")
        train = named.get("train")
        if train is None:
            raise DataError(f"data.files names no training file; {_expected(corpus, level, files)}")
        return SplitSources(train=[train], valid=named.get("valid"), test=named.get("test"))

    if corpus == "text":
        texts = sorted(p for p in root.glob("*.txt") if p.is_file())
        if not texts:
            raise DataError(f"no *.txt files in {root}; {_expected(corpus, level, None)}")
        return SplitSources(train=texts, valid=None, test=None)

    found: list[Path] = []
    missing: list[str] = []
    for names in _layout_names(corpus, level):
        hit = next((root / n for n in names if (root / n).is_file()), None)
        if hit is None:
            missing.append(" or ".join(names))
        else:
            found.append(hit)
    if missing:
        raise DataError(f"{root} lacks {', '.join(missing)}; {_expected(corpus, level, None)}")
    return SplitSources(train=[found[0]], valid=found[1], test=found[2])


def _expected(corpus: str, level: str, files: dict[str, str | None] | None) -> str:
    if files is not None:
        return "expected the files named in data.files: " + ", ".join(f for f in files.values() if f)
    if corpus == "text":
        return "expected one or more *.txt files"
    names = [n[0] for n in _layout_names(corpus, level)]
    return f"corpus '{corpus}' ({level} level) expects {', '.join(names)}"
