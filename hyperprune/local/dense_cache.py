"""A dense reference trained once on this machine, reused by later searches with the same model, data,
recipe and seed.

Every lsh search trains the dense model with its own recipe; a user who searches the same model again
(another space, another strategy setting) would train the same dense model again, epoch for epoch
identical (trials are deterministic). The cache keeps its reports and last checkpoint under

    $HYPERPRUNE_CACHE_DIR/dense/<key>/    (default ~/.cache/hyperprune; HYPERPRUNE_CACHE_DIR=off disables it)

keyed by the dense trial's config without what does not change its training (the trial id, the epochs
at which spectra are computed) and with the data files' SHA-256 instead of their path. A search takes
the cached reports up to the epoch it trains the dense reference to, when they hold a spectrum at
every epoch it asks one for; when the cache stops short of that, the trial resumes from the cached
checkpoint. The epochs read from the cache count as trained (``trial-epochs`` says what a search
costs, wherever the work was done). ``spec.dense.cache: false`` turns it off for one search.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperprune.contract.files import CHECKPOINT_FILE, REPORTS_FILE
from hyperprune.contract.report import TrialReport
from hyperprune.contract.trial import TrialConfig
from hyperprune.local.follow import read_report_lines

CACHE_ENV = "HYPERPRUNE_CACHE_DIR"


def cache_root() -> Path | None:
    """Where dense references are kept; None when the cache is switched off."""
    value = os.environ.get(CACHE_ENV)
    if value is not None and value.strip().lower() in ("", "off", "0", "none"):
        return None
    base = Path(value) if value else Path.home() / ".cache" / "hyperprune"
    return base / "dense"


def cache_key(config: TrialConfig, data_files: list[dict[str, Any]]) -> str:
    """The dense trial's training as a key: its config without the trial id and the spectrum epochs,
    the data by content (size and SHA-256 of each file) rather than by path."""
    body = config.model_dump(mode="json", by_alias=True)
    body.pop("trialId", None)
    body.get("lyapunov", {}).pop("epochs", None)
    data = dict(body.get("data", {}))
    data.pop("path", None)
    body["data"] = data
    body["dataFiles"] = sorted((f["bytes"], f["sha256"]) for f in data_files)
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Served:
    epochs: int  # epochs whose reports were taken from the cache
    checkpoint: bool  # whether the cached checkpoint came too (the trial can continue from it)


@dataclass(frozen=True)
class DenseCache:
    root: Path

    def entry(self, key: str) -> Path:
        return self.root / key

    def serve(self, key: str, config: TrialConfig, trial_dir: Path, until_epoch: int) -> Served | None:
        """Put the cached reports (up to ``until_epoch``) into a fresh trial dir; None when the cache
        holds nothing usable: no entry, or a spectrum missing at an epoch the config asks one for."""
        entry = self.entry(key)
        reports = [r for r in read_report_lines(entry / REPORTS_FILE) if r.status != "diverged"]
        if not reports:
            return None
        wanted = [r for r in reports if r.epoch <= until_epoch]
        if [r.epoch for r in wanted] != list(range(1, len(wanted) + 1)):
            return None
        asked = set(config.lyapunov.epochs or range(1, until_epoch + 1))
        if any(r.lyapunov is None for r in wanted if r.epoch in asked):
            return None
        last = wanted[-1].epoch
        checkpoint = last == reports[-1].epoch and (entry / CHECKPOINT_FILE).exists()
        if last < until_epoch and not checkpoint:
            return None  # it would train from scratch anyway
        trial_dir.mkdir(parents=True, exist_ok=True)
        if checkpoint:
            shutil.copyfile(entry / CHECKPOINT_FILE, trial_dir / CHECKPOINT_FILE)
        lines = [r.model_copy(update={"trial_id": config.trial_id}) for r in wanted]
        _write_atomic(trial_dir / REPORTS_FILE, "".join(_line(r) for r in lines))
        return Served(epochs=last, checkpoint=checkpoint)

    def store(self, key: str, trial_dir: Path) -> bool:
        """Keep the trial's reports and checkpoint, unless the cache already reaches as far."""
        reports = read_report_lines(trial_dir / REPORTS_FILE)
        if not reports or reports[-1].status == "diverged" or not (trial_dir / CHECKPOINT_FILE).exists():
            return False
        cached = read_report_lines(self.entry(key) / REPORTS_FILE)
        if cached and cached[-1].epoch >= reports[-1].epoch:
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=self.root))
        try:
            shutil.copyfile(trial_dir / CHECKPOINT_FILE, staging / CHECKPOINT_FILE)
            shutil.copyfile(trial_dir / REPORTS_FILE, staging / REPORTS_FILE)
            old = self.entry(key)
            if old.exists():
                shutil.rmtree(old)  # ours: only what this module wrote lives under the cache root
            staging.rename(old)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return True


def _line(report: TrialReport) -> str:
    return report.model_dump_json(by_alias=True) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def open_cache() -> DenseCache | None:
    root = cache_root()
    return None if root is None else DenseCache(root)
