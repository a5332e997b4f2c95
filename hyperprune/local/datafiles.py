"""A search's data files on this machine: where they are, whether its trials can train on them, and
whether they changed since the search started.

- A relative ``spec.data.path`` is resolved once, against the directory ``hyperprune run`` starts in,
  and the work dir's ``search.json`` keeps the absolute path: a resume from another directory reads
  the same corpus, or is refused when the path now names another one.
- The corpus is read as a trial reads it (hyperprune.contract.text): an empty, binary or non-UTF-8
  file, splits too small for the recipe, a vocabulary of nothing but ``<eos>`` and ``<unk>``, and
  pruning schedules that do not fit the epoch's optimiser steps are named before any trial starts.
- ``DIR/data.json`` records every file's size and SHA-256 when the search starts; a resume whose
  files differ is refused (the checkpoints were trained on the old ones).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from hyperprune.contract.data_layout import DataError, SplitSources, resolve_sources
from hyperprune.contract.document import Issue
from hyperprune.contract.text import SplitSizes, holdout_splits, kept_tokens, read_tokens, vocabulary_issues
from hyperprune.contract.trial import DataConfig
from hyperprune.local.layout import Workdir, WorkdirFileError, read_json, write_json
from hyperprune.spec.errors import prefixed
from hyperprune.spec.feasible import corpus_issues, pruning_issues, steps_for
from hyperprune.spec.models import HyperpruneSearch, SearchSpec


def with_absolute_data_path(search: HyperpruneSearch, base_dir: Path) -> HyperpruneSearch:
    """The search with ``spec.data.path`` made absolute against ``base_dir`` (the directory the
    command runs in), so that it names the same folder whichever directory a resume starts in."""
    data = search.spec.data
    if not data.path or os.path.isabs(data.path):
        return search
    absolute = os.path.normpath(os.path.join(os.path.abspath(base_dir), data.path))
    spec = search.spec.model_copy(update={"data": data.model_copy(update={"path": absolute})})
    return search.model_copy(update={"spec": spec})


def _field(data: DataConfig) -> str:
    return "spec.data.files" if data.files is not None else "spec.data.path"


def path_issues(data: DataConfig, base_dir: str | os.PathLike[str] = ".") -> list[Issue]:
    """The data directory (relative paths from base_dir) and its split files exist and are readable."""
    if not data.path:
        return []
    root = Path(base_dir) / data.path
    if not root.is_dir():
        return [("spec.data.path", f"{root}: no such directory on this machine")]
    if not os.access(root, os.R_OK | os.X_OK):
        return [("spec.data.path", f"{root}: not readable")]
    issues = []
    if data.files is not None:
        for split in ("train", "valid", "test"):
            name = getattr(data.files, split)
            if name and not (root / name).is_file():
                issues.append((f"spec.data.files.{split}", f"{root / name}: no such file"))
    return issues


def sources(data: DataConfig, base_dir: Path) -> SplitSources:
    """The files a trial reads (the trial runtime's own resolver); DataError when they are not there."""
    files = data.files.model_dump() if data.files is not None else None
    return resolve_sources(data.corpus, data.level, base_dir / str(data.path), files)


def _listed(found: SplitSources) -> list[Path]:
    return [*found.train, *(p for p in (found.valid, found.test) if p is not None)]


def read_corpus(data: DataConfig, found: SplitSources) -> tuple[SplitSizes, int]:
    """(tokens per split, tokens the vocabulary keeps besides <eos> and <unk>), read as a trial
    reads them; DataError naming a file that is empty, binary or not UTF-8."""
    spaced = data.corpus == "ptb" and data.level == "char"
    train = read_tokens(found.train, data.level, spaced_symbols=spaced)
    valid = read_tokens([found.valid], data.level, spaced_symbols=spaced) if found.valid else None
    test = read_tokens([found.test], data.level, spaced_symbols=spaced) if found.test else None
    train, valid, test = holdout_splits(train, valid, test, data.holdout)
    kept = len(kept_tokens(train, min_count=data.min_count, max_size=data.max_vocab))
    return SplitSizes(len(train), len(valid), len(test)), kept


def data_issues(spec: SearchSpec, base_dir: Path) -> list[Issue]:
    """The data directory holds the files the corpus layout names, each a readable text file, and
    the corpus they make is one every candidate of the search can train on."""
    data = spec.data
    issues = path_issues(data, base_dir)
    if issues or not data.path:
        return issues
    try:
        found = sources(data, base_dir)
        unreadable = [p for p in _listed(found) if not os.access(p, os.R_OK)]
        if unreadable:
            return [(_field(data), f"{p}: not readable") for p in unreadable]
        sizes, kept = read_corpus(data, found)
    except DataError as exc:
        return [(_field(data), str(exc))]
    issues = prefixed(corpus_issues(sizes, spec.training, spec.lyapunov, data), "spec")
    issues += prefixed(vocabulary_issues(kept, data.min_count), "spec")
    if not issues:
        pool = spec.candidates
        issues += prefixed(
            pruning_issues(None if pool is not None else spec.space, pool, spec.training, spec.model, data,
                           steps_for(sizes)),
            "spec",
        )
    return issues


# ---- has the data changed since the search started? ----------------------------------------------


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fingerprint(data: DataConfig, base_dir: Path) -> list[dict[str, Any]]:
    """Every file a trial reads, with its size and SHA-256 ([] for a built-in corpus)."""
    if not data.path:
        return []
    return [{"path": str(p), "bytes": p.stat().st_size, "sha256": _digest(p)} for p in _listed(sources(data, base_dir))]


def record_data(workdir: Workdir, data: DataConfig, base_dir: Path) -> None:
    """Write ``DIR/data.json`` when the search starts (or resumes in a DIR that has none yet)."""
    if not workdir.data.exists():
        write_json(workdir.data, {"files": fingerprint(data, base_dir)})


def changed_data_issues(workdir: Workdir, data: DataConfig, base_dir: Path) -> list[Issue]:
    """The files differ from those the search started with (``DIR/data.json``)."""
    if not workdir.data.exists() or not data.path:
        return []
    try:
        before = {f["path"]: f for f in read_json(workdir.data)["files"]}
    except (WorkdirFileError, KeyError, TypeError) as exc:
        return [("--workdir", f"{workdir.data} is not readable ({exc}); restore it, or delete it to trust the data as it is")]
    try:
        now = {f["path"]: f for f in fingerprint(data, base_dir)}
    except (DataError, OSError):
        return []  # named by data_issues
    todo = ("a search trains every trial on the same data: restore it, or start the search again in a new --workdir")
    issues = []
    for path in sorted(set(before) | set(now)):
        if path not in now:
            issues.append((_field(data), f"{path} was read when the search started and is no longer part of the corpus; {todo}"))
        elif path not in before:
            issues.append((_field(data), f"{path} is new since the search started; {todo}"))
        elif now[path]["sha256"] != before[path]["sha256"]:
            issues.append((_field(data), f"{path} changed since the search started ({before[path]['bytes']} -> "
                                         f"{now[path]['bytes']} bytes); {todo}"))
    return issues
