"""How the best model is promoted: one copy, by both engines (the local engine in its own process,
the operator in a promotion pod on the trial volume). Part of the contract; standard library only.

The trial's ``model/`` folder is copied to a new hidden sibling of the destination, marked with
``PROMOTED.json`` (which search and trial it came from), then swapped in by renames, so the
destination is the previous model or the complete new one, never half a model. A destination that
exists without that marker was not written by a promotion: it is refused, never deleted, because it
may be anything of the user's. Nothing is removed that this function did not create.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

MARKER = "PROMOTED.json"
REQUIRED = ("model.pt", "config.json")  # what a finished trial's model/ folder holds at least


class PromotionRefused(Exception):
    """The destination exists and is not a promoted model: replacing it would destroy it."""


def promoted_by_hyperprune(path: Path) -> bool:
    """Whether ``path`` is a folder a promotion wrote (and may therefore replace)."""
    return path.is_dir() and (path / MARKER).is_file()


def refusal(dest: Path) -> str | None:
    """Why a promotion may not write to ``dest``; None when it may (absent, or promoted before)."""
    if not dest.exists() and not dest.is_symlink():
        return None
    if dest.is_symlink() or not promoted_by_hyperprune(dest):
        what = "a folder" if dest.is_dir() and not dest.is_symlink() else "a file"
        return (f"{dest} exists and is {what} Hyperprune did not write (no {MARKER} in it); move it away "
                "or choose another spec.output.path")
    return None


def promote_model(source: Path, dest: Path, *, search: str = "", trial: str = "") -> Path:
    """Copy a finished trial's ``model/`` folder ``source`` to ``dest`` (see the module docstring).
    Raises FileNotFoundError when ``source`` holds no finished model, PromotionRefused when ``dest``
    is not ours to replace, OSError when the copy fails (a full disk: ``dest`` is left as it was)."""
    missing = [name for name in REQUIRED if not (source / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{source}: no finished model ({', '.join(missing)} missing)")
    problem = refusal(dest)
    if problem:
        raise PromotionRefused(problem)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    old: Path | None = None
    try:
        shutil.copytree(source, partial, dirs_exist_ok=True)
        record = {"search": search, "trial": trial, "source": str(source),
                  "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (partial / MARKER).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
            os.replace(dest, old)  # onto the empty folder just made: a rename, nothing deleted yet
        os.replace(partial, dest)
    except BaseException:
        if old is not None and not dest.exists():
            os.replace(old, dest)  # the previous model goes back where it was
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)  # the previous promoted model, moved aside above
    return dest
