"""Recorded observations of a search's trials, as ``hyperprune replay`` reads them. Torch-free.

Three sources give the same ``Records``:

- a records file (JSON or YAML, this module's ``RecordsFile``): per trial its point and, epoch by
  epoch, the validation metric and a spectrum or a precomputed LS distance; an epoch that was trained
  but not observed is listed with ``recorded: false`` (every epoch from 1 to the last is listed, so a
  gap is never silent);
- the benchmark's ``<task>-trajectories.json`` (``benchmarks/search.py``): every candidate and the
  dense reference trained to the end, with the search document they were trained under;
- a local search's work dir (``hyperprune run --workdir DIR``): what its trials reported, and its
  ``search.json``.

Every record is checked once when read: a problem is named by trial and epoch
(``trial c03, epoch 4: ...``), never found halfway through a replay. What a replayed strategy needs
and a record lacks (an epoch past its last, a spectrum at a rung) is named the same way when asked
for (``RecordGap``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, NonNegativeFloat, PositiveInt, ValidationError

from hyperprune.contract.document import Model
from hyperprune.spec.errors import render, validation_issues
from hyperprune.spec.point import Point

RecordStatus = Literal["completed", "diverged", "stopped", "failed"]


class RecordsError(ValueError):
    """Records that cannot be replayed; ``errors`` holds one line per problem, each naming where."""

    def __init__(self, source: str, errors: list[str]):
        self.source = source
        self.errors = errors
        super().__init__(f"{source}: " + "; ".join(errors))


class RecordGap(LookupError):
    """A replayed strategy asks for what a record does not hold (names trial, epoch and why)."""


# ---- the records file ---------------------------------------------------------------------------


class EpochEntry(Model):
    """One epoch of one trial. ``recorded: false`` states that the epoch was trained but not observed."""

    epoch: PositiveInt
    recorded: bool = True
    metric: float | None = Field(None, description="validation metric after the epoch; null: not finite")
    spectrum: list[float | None] | None = Field(None, description="Lyapunov exponents (null: not finite)")
    distance: NonNegativeFloat | None = Field(None, description="precomputed LS distance to the dense reference")
    seconds: NonNegativeFloat | None = Field(None, description="the epoch's wall seconds, its spectrum included")
    spectrum_seconds: NonNegativeFloat | None = Field(None, description="the seconds of its spectrum")


class TrialEntry(Model):
    id: str = Field(min_length=1)
    point: dict[str, Any] = Field(description="the candidate (Point JSON: method, sparsity, params, ...)")
    status: RecordStatus = "completed"
    epochs: list[EpochEntry] = Field(default_factory=list)
    test_metric: float | None = None
    description: str | None = None


class RecordsFile(Model):
    """A records file: the dense reference (for LS strategies) and the candidates."""

    dense: TrialEntry | None = None
    trials: list[TrialEntry] = Field(min_length=1)


# ---- what the replay works on -------------------------------------------------------------------


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    recorded: bool = True
    metric: float | None = None
    spectrum: tuple[float, ...] | None = None  # non-finite values as nan
    distance: float | None = None
    seconds: float | None = None
    spectrum_seconds: float = 0.0


@dataclass(frozen=True)
class TrialRecord:
    id: str
    point: Point
    status: RecordStatus
    epochs: tuple[EpochRecord, ...]
    test_metric: float | None = None
    description: str = ""

    @property
    def last_epoch(self) -> int:
        return self.epochs[-1].epoch if self.epochs else 0

    def at(self, epoch: int) -> EpochRecord | None:
        return self.epochs[epoch - 1] if 1 <= epoch <= len(self.epochs) else None

    @property
    def final_metric(self) -> float | None:
        """The validation metric of its last epoch, when it completed."""
        return self.epochs[-1].metric if self.status == "completed" and self.epochs else None


@dataclass
class Records:
    """The dense reference and the candidates, looked up by point."""

    source: str
    trials: list[TrialRecord]
    dense: TrialRecord | None = None
    document: dict[str, Any] | None = None  # the search they were recorded under, when the source holds one
    by_key: dict[str, TrialRecord] = field(init=False)

    def __post_init__(self) -> None:
        self.by_key = {t.point.key: t for t in self.trials}

    def record(self, point: Point) -> TrialRecord:
        if point.is_dense:
            if self.dense is None:
                raise RecordGap("the dense reference: not recorded, and the strategy trains it")
            return self.dense
        try:
            return self.by_key[point.key]
        except KeyError:
            raise RecordGap(f"candidate {point.describe()}: not recorded (the replayed search proposed it)") from None


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _trial_record(entry: TrialEntry, where: str, problems: list[str]) -> TrialRecord | None:
    try:
        point = Point.from_json(entry.point)
    except (KeyError, TypeError, ValueError) as exc:
        problems.append(f"{where} (trial {entry.id}): point: not a candidate ({exc})")
        return None
    epochs: list[EpochRecord] = []
    for i, e in enumerate(entry.epochs):
        at = f"trial {entry.id}, epoch {e.epoch}"
        if e.epoch != i + 1:
            problems.append(f"{at}: listed as entry {i + 1}; list every epoch from 1 in order "
                            "(an epoch not observed as {{epoch: N, recorded: false}})")
            return None
        if not e.recorded and (e.metric is not None or e.spectrum is not None or e.distance is not None):
            problems.append(f"{at}: recorded: false, yet it gives a metric, spectrum or distance")
        if e.spectrum is not None and e.distance is not None:
            problems.append(f"{at}: gives both a spectrum and a distance; give one")
        if point.is_dense and e.distance is not None:
            problems.append(f"{at}: the dense reference has no distance to itself; give its spectrum")
        spectrum = None if e.spectrum is None else tuple(math.nan if v is None else float(v) for v in e.spectrum)
        epochs.append(EpochRecord(e.epoch, e.recorded, _finite(e.metric), spectrum, e.distance,
                                  e.seconds, e.spectrum_seconds or 0.0))
    if entry.status == "completed" and not epochs:
        problems.append(f"trial {entry.id}: completed with no epoch listed")
    return TrialRecord(entry.id, point, entry.status, tuple(epochs), _finite(entry.test_metric),
                       entry.description or point.describe())


def check_consistent(records: Records) -> None:
    """Problems across trials: duplicate ids or points, spectra that cannot be compared with the
    dense reference's at the same epoch."""
    problems: list[str] = []
    seen_ids: set[str] = set()
    seen_points: dict[str, str] = {}
    for t in records.trials:
        if t.id in seen_ids:
            problems.append(f"trial {t.id}: the id is used twice")
        seen_ids.add(t.id)
        if t.point.is_dense:
            problems.append(f"trial {t.id}: a candidate with the dense point; give it as 'dense'")
        elif t.point.key in seen_points:
            problems.append(f"trial {t.id}: the same candidate as trial {seen_points[t.point.key]}")
        seen_points.setdefault(t.point.key, t.id)
    dense = records.dense
    for t in records.trials:
        for e in t.epochs:
            if e.spectrum is None:
                continue
            ref = dense.at(e.epoch) if dense is not None else None
            if ref is None or ref.spectrum is None:
                problems.append(f"trial {t.id}, epoch {e.epoch}: a spectrum, but the dense reference recorded none "
                                "at this epoch to compare it with (give a distance instead)")
            elif len(ref.spectrum) != len(e.spectrum):
                problems.append(f"trial {t.id}, epoch {e.epoch}: {len(e.spectrum)} exponents, the dense "
                                f"reference's spectrum has {len(ref.spectrum)}")
    if problems:
        raise RecordsError(records.source, problems)


def from_entries(source: str, trials: list[TrialEntry], dense: TrialEntry | None,
                 document: dict[str, Any] | None = None) -> Records:
    problems: list[str] = []
    made = [_trial_record(t, f"trials[{i}]", problems) for i, t in enumerate(trials)]
    dense_record = _trial_record(dense, "dense", problems) if dense is not None else None
    if dense_record is not None and not dense_record.point.is_dense:
        problems.append(f"dense (trial {dense_record.id}): point: expected the dense model (method none)")
    if problems:
        raise RecordsError(source, problems)
    records = Records(source, [t for t in made if t is not None], dense_record, document)
    check_consistent(records)
    return records


# ---- sources --------------------------------------------------------------------------------------


def _benchmark_entry(record: dict[str, Any]) -> dict[str, Any]:
    """A benchmark trajectory record (groundtruth.py) as a TrialEntry document."""
    status = record.get("status", "completed")
    epochs = [
        {"epoch": e["epoch"], "metric": e.get("valMetric"), "spectrum": e.get("spectrum"),
         "seconds": e.get("epochSeconds"), "spectrumSeconds": e.get("lyapunovSeconds")}
        for e in record.get("epochs", [])
    ]
    return {"id": record.get("id", "?"), "point": record.get("point", {}),
            "status": status if status in ("completed", "diverged") else "failed",
            "epochs": epochs, "testMetric": record.get("testMetric"), "description": record.get("description")}


def from_benchmark(data: dict[str, Any], source: str) -> Records:
    """``<task>-trajectories.json`` of benchmarks/search.py."""
    entries = {"dense": _benchmark_entry(data["dense"]), "trials": [_benchmark_entry(c) for c in data["candidates"]]}
    parsed = _validate(entries, source)
    return from_entries(source, parsed.trials, parsed.dense, data.get("document"))


def _named(path: str, document: Any) -> str:
    """A field path as the trial and epoch it is about: trials[1].epochs[0].metric -> trial c1, epoch 1: metric."""
    match = re.match(r"(trials\[(\d+)\]|dense)(?:\.epochs\[(\d+)\])?\.?(.*)", path)
    if not match or not isinstance(document, dict):
        return path
    trial = document.get("dense") if match.group(1) == "dense" else _item(document.get("trials"), match.group(2))
    if not isinstance(trial, dict) or trial.get("id") is None:
        return path
    name = trial["id"]
    where = f"trial {name}"
    if match.group(3) is not None:
        entry = _item(trial.get("epochs"), match.group(3))
        epoch = entry.get("epoch") if isinstance(entry, dict) else None
        where += f", epoch {epoch}" if epoch is not None else f", epochs[{match.group(3)}]"
    return f"{where}: {match.group(4) or '<entry>'}"


def _item(items: Any, index: str | None) -> Any:
    return items[int(index)] if isinstance(items, list) and index is not None and int(index) < len(items) else None


def _validate(document: Any, source: str) -> RecordsFile:
    try:
        return RecordsFile.model_validate(document)
    except ValidationError as exc:
        issues = [(_named(path, document), message) for path, message in validation_issues(exc)]
        raise RecordsError(source, render(issues)) from None


def from_workdir(root: Path) -> Records:
    """What the trials of a local search reported (``hyperprune run --workdir DIR``)."""
    from hyperprune.contract.files import REPORTS_FILE
    from hyperprune.local.follow import read_report_lines
    from hyperprune.local.layout import Workdir, WorkdirFileError, read_json
    from hyperprune.local.store import load_current_state

    workdir = Workdir(root)
    if not workdir.search.exists():
        raise RecordsError(str(root), ["holds no search (no search.json): give the --workdir of 'hyperprune run'"])
    try:
        document = read_json(workdir.search)
        state = load_current_state(workdir)
    except WorkdirFileError as exc:
        raise RecordsError(str(root), [str(exc)]) from None
    trials, dense = [], None
    for t in state.trials:
        reports = read_report_lines(workdir.trial(t.id) / REPORTS_FILE)
        test = next((r.test_metric for r in reversed(reports) if r.test_metric is not None), None)
        epochs: list[dict[str, Any]] = []
        for epoch in range(1, t.epoch + 1):
            obs = t.observations.get(epoch)
            if obs is None:
                epochs.append({"epoch": epoch, "recorded": False})
                continue
            epochs.append({"epoch": epoch, "metric": obs.metric,
                           "spectrum": None if obs.spectrum is None else
                           [None if not math.isfinite(v) else float(v) for v in obs.spectrum.tolist()]})
        status = {"completed": "completed", "diverged": "diverged", "failed": "failed"}.get(t.status, "stopped")
        entry = {"id": t.id, "point": t.params.to_json(), "status": status, "epochs": epochs, "testMetric": test}
        if t.is_dense:
            dense = entry
        else:
            trials.append(entry)
    if not trials:
        raise RecordsError(str(root), ["no candidate has reported yet"])
    parsed = _validate({"dense": dense, "trials": trials}, str(root))
    return from_entries(str(root), parsed.trials, parsed.dense, document)


def read_records(path: Path) -> Records:
    """Records from a work dir, a benchmark trajectories file or a records file (JSON or YAML)."""
    path = Path(path)
    if path.is_dir():
        return from_workdir(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise RecordsError(str(path), [f"cannot read it: {exc.strerror or exc}"]) from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise RecordsError(str(path), [f"not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}"]) from None
    if isinstance(data, dict) and "candidates" in data and "dense" in data:
        try:
            return from_benchmark(data, str(path))
        except (KeyError, TypeError) as exc:
            raise RecordsError(str(path), [f"not a benchmark trajectories file: {type(exc).__name__}: {exc}"]) from None
    if not isinstance(data, dict):
        raise RecordsError(str(path), [f"expected records (a mapping with 'trials'), got {type(data).__name__}"])
    parsed = _validate(data, str(path))
    return from_entries(str(path), parsed.trials, parsed.dense, None)
