"""Checks ``hyperprune run`` makes on this machine before any training: each problem is a
``(field path, message)``. The spec itself was validated when it was read (hyperprune.spec.parse);
these are the checks that need this machine's files: the data (hyperprune.local.datafiles), the
work dir, and the promoted model's folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hyperprune.contract.document import Issue
from hyperprune.contract.promotion import refusal
from hyperprune.local.datafiles import changed_data_issues, data_issues
from hyperprune.local.layout import Workdir, WorkdirFileError, read_json
from hyperprune.local.store import read_state
from hyperprune.spec.models import HyperpruneSearch, SearchSpec


def space_issues(spec: SearchSpec) -> list[Issue]:
    if spec.max_candidates() < 1:
        where = "spec.candidates" if spec.candidates is not None else "spec.space"
        return [(where, "the search space holds no candidate: add pruning methods or pool points")]
    return []


def _differences(a: Any, b: Any, prefix: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            out += _differences(a.get(key), b.get(key), f"{prefix}.{key}")
        return out
    return [] if a == b else [prefix]


def _writable_issues(root: Path) -> list[Issue]:
    """DIR can be created (its nearest existing parent is a writable folder) or written into."""
    if root.exists():
        if not root.is_dir():
            return [("--workdir", f"{root} exists and is not a directory")]
        if not os.access(root, os.W_OK | os.X_OK):
            return [("--workdir", f"{root} is not writable; pass a directory you can write into")]
        return []
    parent = root.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return [("--workdir", f"cannot create {root}: {parent} is not a directory")]
    if not os.access(parent, os.W_OK | os.X_OK):
        return [("--workdir", f"cannot create {root}: {parent} is not writable")]
    return []


def workdir_issues(search: HyperpruneSearch, workdir: Workdir) -> list[Issue]:
    """A DIR is writable, and either new (or empty), or was started with the same search (resuming
    it) and holds a readable state."""
    root = workdir.root
    issues = _writable_issues(root)
    if issues:
        return issues
    if not workdir.started():
        if root.is_dir() and any(p.name != ".lock" for p in root.iterdir()):
            return [("--workdir", f"{root} is not empty and holds no search (no search.json); use a new directory")]
        return []
    damaged = "restore it, or start the search again in a new --workdir"
    try:
        before = read_json(workdir.search)
        if workdir.state.exists():
            read_state(workdir)
    except WorkdirFileError as exc:
        return [("--workdir", f"{exc}; {damaged}")]
    if not isinstance(before, dict) or not isinstance(before.get("spec"), dict):
        return [("--workdir", f"{workdir.search} does not hold a search; {damaged}")]
    now = search.dump()
    fields = _differences(before.get("spec"), now.get("spec"), "spec")
    if before.get("metadata", {}).get("name") != now["metadata"]["name"]:
        fields.insert(0, "metadata.name")
    return [(f, _changed(f, root, before, now)) for f in fields]


def _changed(field: str, root: Path, before: dict[str, Any], now: dict[str, Any]) -> str:
    if field == "spec.data.path":
        then = before["spec"].get("data", {}).get("path")
        return (f"is {now['spec']['data'].get('path')} here, but the search in {root} was started on {then}; run from "
                "the directory it was started in, or give that path")
    if field == "spec.budget.parallelism":
        return (f"differs from the search {root} was started with; to resume with another number of trials at "
                "once, keep the file's value and pass --workers N")
    return f"differs from the search {root} was started with; resume with the same file or use a new --workdir"


def output_issues(search: HyperpruneSearch, workdir: Workdir) -> list[Issue]:
    """The promoted model's folder is free, or holds a model promoted before (which it replaces):
    a promotion never deletes what Hyperprune did not write."""
    problem = refusal(workdir.output(search.spec.output.folder))
    return [("spec.output.path", problem)] if problem else []


def preflight(search: HyperpruneSearch, workdir: Workdir, base_dir: Path) -> list[Issue]:
    """Everything to fix before the search may train, in one list (none: it may)."""
    issues = space_issues(search.spec) + data_issues(search.spec, base_dir)
    resume = workdir_issues(search, workdir)
    if not issues and not resume:
        resume = changed_data_issues(workdir, search.spec.data, base_dir)
    return issues + resume + output_issues(search, workdir)
