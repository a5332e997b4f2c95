"""``hyperprune.run``: a local search from a notebook or a script, returning its result as an object.

    import hyperprune

    result = hyperprune.run("examples/quickstart.yaml", workdir="runs/quickstart", workers=2)
    result.best.description, result.best.val_metric, result.model_path
    print(result.table())          # one row per trial; in a notebook the result renders as a table
    model, config = hyperprune.load_model(result.model_path)   # needs torch

The spec is a path, a dict (the YAML document as Python) or a ``HyperpruneSearch``. Progress shows
while it runs: a live table in a terminal (and in Jupyter with ipywidgets), plain lines otherwise.
It is the same session as ``hyperprune run`` (hyperprune.session.search): same checks, same work
dir, resumable the same way. Bad input raises ``SearchInputError`` (nothing was trained); a cause
outside the search that stopped it (a full disk) raises ``SearchCannotGoOn`` (call again once it is
fixed); an interrupted search raises ``KeyboardInterrupt`` after the trials stopped at their checkpoints.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from hyperprune.session.search import SearchCannotGoOn, SearchInputError, SpecSource, read_search, run_search


@dataclass(frozen=True)
class TrialResult:
    """One trial of the search, as result.json records it."""

    id: str
    role: str  # dense | candidate
    description: str  # the candidate: method, sparsity, settings
    status: str  # completed | stopped | diverged | failed | ...
    epochs_trained: int
    val_metric: float | None
    test_metric: float | None
    sparsity: float | None
    stop_reason: str | None
    trial_dir: Path

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> TrialResult:
        return cls(
            id=entry["id"],
            role=entry["role"],
            description=entry["description"],
            status=entry["status"],
            epochs_trained=entry["epochsTrained"],
            val_metric=entry["valMetric"],
            test_metric=entry["testMetric"],
            sparsity=entry["sparsity"],
            stop_reason=entry["stopReason"],
            trial_dir=Path(entry["trialDir"]),
        )


@dataclass(frozen=True)
class SearchResult:
    """A finished search: its outcome, the promoted trial, every trial, where things are."""

    name: str
    status: str  # succeeded | failed
    message: str | None
    metric: str  # what val_metric measures (perplexity, accuracy, the task's own)
    mode: str  # min: lower is better; max: higher is better
    best: TrialResult | None
    dense: TrialResult | None
    trials: list[TrialResult]
    model_path: Path | None  # the promoted model folder (hyperprune.load_model reads it)
    workdir: Path
    report: Path | None  # report.html
    trial_epochs: int  # what the search spent
    full_trial_epochs: int  # what training every candidate to the end would have spent
    wall_seconds: float
    raw: dict[str, Any] = field(repr=False)  # result.json as written

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    def rows(self) -> list[dict[str, Any]]:
        """The trial table as dicts (e.g. for ``pandas.DataFrame(result.rows())``)."""
        return [
            {
                "trial": t.id,
                "candidate": t.description,
                "status": t.status,
                "epochs": t.epochs_trained,
                f"val {self.metric}": t.val_metric,
                f"test {self.metric}": t.test_metric,
                "sparsity": t.sparsity,
                "best": self.best is not None and t.id == self.best.id,
            }
            for t in self.trials
        ]

    def table(self) -> str:
        """The trial table as text."""
        rows = self.rows()
        if not rows:
            return "(no trials)"
        columns = list(rows[0])
        cells = [[_cell(r[c]) for c in columns] for r in rows]
        widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
        return "\n".join(lines)

    def _repr_html_(self) -> str:  # Jupyter renders the result as a table
        rows = self.rows()
        head = "".join(f"<th>{html.escape(c)}</th>" for c in (rows[0] if rows else {}))
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row.values()) + "</tr>" for row in rows
        )
        best = f"best: {html.escape(self.best.description)}" if self.best else html.escape(self.message or "")
        return f"<p><b>{html.escape(self.name)}</b> {self.status} — {best}</p><table><tr>{head}</tr>{body}</table>"

    @classmethod
    def from_result(cls, result: dict[str, Any], workdir: Path, report: str | None) -> SearchResult:
        trials = [TrialResult.from_entry(t) for t in result["trials"]]
        by_id = {t.id: t for t in trials}
        best = result.get("best")
        dense = result.get("dense")
        return cls(
            name=result["name"],
            status=result["status"],
            message=result.get("message"),
            metric=result["metric"],
            mode=result["mode"],
            best=by_id.get(best["id"]) if best else None,
            dense=by_id.get(dense["id"]) if dense else None,
            trials=trials,
            model_path=Path(best["model"]) if best else None,
            workdir=workdir,
            report=Path(report) if report else None,
            trial_epochs=result["trialEpochs"],
            full_trial_epochs=result["fullTrialEpochs"],
            wall_seconds=result["wallSeconds"],
            raw=result,
        )


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def run(
    spec: SpecSource,
    *,
    workdir: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    quiet: bool = False,
    retry_failed: bool = False,
    stream: TextIO | None = None,
) -> SearchResult:
    """Run (or resume) a local search and return its result. See the module docstring.
    ``retry_failed``: reopen a search that failed once its cause is fixed (``--retry-failed``)."""
    search = read_search(spec)
    outcome = run_search(search, workdir, workers=workers, quiet=quiet, retry_failed=retry_failed, stream=stream)
    if outcome.result is None:
        raise KeyboardInterrupt(f"search {search.metadata.name} interrupted; run again to resume in {outcome.workdir}")
    return SearchResult.from_result(outcome.result, outcome.workdir, outcome.report)


__all__ = ["SearchCannotGoOn", "SearchInputError", "SearchResult", "TrialResult", "run"]
