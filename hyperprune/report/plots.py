"""The report's figures, as PNG data URIs (the page works offline and as one file).

- spectra of the candidates against the dense reference's, one panel per rung epoch (and the final);
- LS distance at the first rung against the final validation metric, with Spearman's rho;
- the timeline: every trial process as a bar from launch to exit, ending where the trial paused,
  was stopped, completed or failed;
- the winner's sparsity per weight matrix;
- (objectives that weigh cost) the completed candidates' final metric against their cost, the front
  joined and the dense model marked.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display, no GUI toolkit: the report is written by a command

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from hyperprune.policy.objectives import completed_points, front  # noqa: E402
from hyperprune.policy.summary import measured_efficiency  # noqa: E402
from hyperprune.report.data import SearchRecord  # noqa: E402

STATUS_COLORS = {
    "completed": "#1f77b4",
    "paused": "#6baed6",
    "running": "#9ecae1",
    "stopped": "#9e9e9e",
    "diverged": "#d95f02",
    "failed": "#d62728",
    "errored": "#e377c2",
    "interrupted": "#ff9f1c",
    "pending": "#c7c7c7",
}
PROMOTED_COLOR = "#2ca02c"
DENSE_COLOR = "#000000"


def to_data_uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _color(record: SearchRecord, trial_id: str, status: str) -> str:
    return PROMOTED_COLOR if record.state.promoted == trial_id else STATUS_COLORS.get(status, "#7f7f7f")


def _uri(fig: Figure | None) -> str | None:
    return None if fig is None else to_data_uri(fig)


def spectra_figure(record: SearchRecord) -> str | None:
    return _uri(spectra_plot(record))


def spectra_plot(record: SearchRecord) -> Figure | None:
    dense = record.state.dense
    epochs = [
        e for e in record.spec.lyapunov_epochs()
        if any(e in t.observations and t.observations[e].spectrum is not None for t in record.state.trials)
    ]
    if not epochs:
        return None
    columns = min(2, len(epochs))
    rows = math.ceil(len(epochs) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6.2 * columns, 3.6 * rows), squeeze=False)
    for ax, epoch in zip(axes.flat, epochs):
        for trial in record.state.candidates:
            obs = trial.observations.get(epoch)
            if obs is None or obs.spectrum is None:
                continue
            promoted = record.state.promoted == trial.id
            ax.plot(
                range(1, obs.spectrum.size + 1), obs.spectrum, color=_color(record, trial.id, trial.status),
                lw=2.0 if promoted else 0.9, alpha=1.0 if promoted else 0.6, zorder=3 if promoted else 2,
            )
        reference = dense.observations.get(epoch) if dense is not None else None
        if reference is not None and reference.spectrum is not None:
            ax.plot(range(1, reference.spectrum.size + 1), reference.spectrum, color=DENSE_COLOR, lw=2.2,
                    ls="--", zorder=4)
        ax.axhline(0.0, color="#bbbbbb", lw=0.6, zorder=1)
        ax.set_title(f"epoch {epoch}" + (" (first rung)" if epoch == record.first_rung() else ""))
        ax.set_xlabel("exponent index")
        ax.set_ylabel("Lyapunov exponent (nats / step)")
    for ax in list(axes.flat)[len(epochs):]:
        ax.axis("off")
    drawn = [t for t in record.state.candidates if any(
        e in t.observations and t.observations[e].spectrum is not None for e in epochs)]
    handles = [plt.Line2D([], [], color=DENSE_COLOR, lw=2.2, ls="--", label="dense reference")]
    if any(t.id == record.state.promoted for t in drawn):  # no "promoted" entry before anything is
        handles.append(plt.Line2D([], [], color=PROMOTED_COLOR, lw=2.0, label="promoted"))
    handles += [plt.Line2D([], [], color=STATUS_COLORS[s], lw=1.2, label=s)
                for s in ("completed", "stopped", "running", "paused", "failed", "diverged")
                if any(t.status == s and t.id != record.state.promoted for t in drawn)]
    fig.legend(handles=handles, loc="upper center", ncol=len(handles), frameon=False, bbox_to_anchor=(0.5, 1.03))
    fig.tight_layout()
    return fig


@dataclass
class Correlation:
    """Spearman's rho between the LS distance at the first rung and a validation metric."""

    epoch: int | None  # the rung epoch of the distance
    against: str  # what the distances are correlated with
    n: int
    rho: float | None
    p_value: float | None

    def describe(self) -> str:
        if self.rho is None:
            return f"Spearman ρ (LS distance at epoch {self.epoch} vs {self.against}): n/a — needs 3 or more candidates with both values (n = {self.n})"
        return f"Spearman ρ (LS distance at epoch {self.epoch} vs {self.against}) = {self.rho:+.3f} (p = {self.p_value:.3g}, n = {self.n})"


def _spearman(xs: list[float], ys: list[float], epoch: int | None, against: str) -> Correlation:
    from scipy.stats import spearmanr

    n = len(xs)
    if n < 3 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return Correlation(epoch, against, n, None, None)
    result = spearmanr(xs, ys)
    rho, p = float(result.statistic), float(result.pvalue)
    if not math.isfinite(rho):
        return Correlation(epoch, against, n, None, None)
    return Correlation(epoch, against, n, rho, p)


@dataclass(frozen=True)
class Point:
    trial: Any
    distance: float  # LS distance at the first rung
    at_rung: float | None  # validation metric at the first rung
    final: float | None  # final validation metric (completed candidates)


def rung_points(record: SearchRecord) -> list[Point]:
    """Every candidate with an LS distance at the first rung."""
    epoch = record.first_rung()
    points: list[Point] = []
    if epoch is None:
        return points
    for trial in record.state.candidates:
        distance = record.distances(trial).get(epoch)
        if distance is not None:
            points.append(Point(trial, distance, trial.observations[epoch].metric, record.final_metric(trial)))
    return points


def correlations(record: SearchRecord, points: list[Point]) -> tuple[Correlation, Correlation]:
    """(rho with the final metric over completed candidates, rho with the metric at the same rung
    over every candidate that reached it)."""
    epoch, name = record.first_rung(), record.metric
    final = [(p.distance, p.final) for p in points if p.final is not None]
    at_rung = [(p.distance, p.at_rung) for p in points if p.at_rung is not None]
    return (
        _spearman([d for d, _ in final], [m for _, m in final], epoch, f"final validation {name}, completed candidates"),
        _spearman([d for d, _ in at_rung], [m for _, m in at_rung], epoch,
                  f"validation {name} at the same epoch, every candidate"),
    )


def _rho(c: Correlation) -> str:
    return "n/a" if c.rho is None else f"{c.rho:+.3f}"


def distance_figure(record: SearchRecord, points: list[Point], final: Correlation, at_rung: Correlation) -> str | None:
    return _uri(distance_plot(record, points, final, at_rung))


def label_points(ax: Any, xs: list[float], ys: list[float], names: list[str]) -> list[Any]:
    """One small label per point, none overlapping another: each goes to the first free place
    beside its point (right, left, then further up and down), measured on the axes as drawn, so
    call it once the figure's layout is final. A label moved away from its point gets a thin line."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    placed: list[Any] = []
    texts = []
    for x, y, name in sorted(zip(xs, ys, names), key=lambda p: (p[0], p[1], p[2])):
        text = ax.annotate(name, (x, y), xytext=(4, 3), textcoords="offset points", fontsize=7, color="#555555")
        box = text.get_window_extent(renderer)
        step = box.height * 72.0 / fig.dpi + 1.0  # one label's height, in points
        width = box.width * 72.0 / fig.dpi
        tries = [(4.0, 3.0), (4.0, 3.0 - step), (-width - 4.0, 3.0), (-width - 4.0, 3.0 - step)]
        tries += [(4.0, 3.0 + sign * k * step) for k in range(1, 2 * len(names) + 3) for sign in (1, -1)]
        for dx, dy in tries:
            text.set_position((dx, dy))
            box = text.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed):
                break
        if (dx, dy) not in tries[:4]:
            text.remove()
            text = ax.annotate(name, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=7,
                               color="#555555", arrowprops={"arrowstyle": "-", "color": "#aaaaaa", "lw": 0.5})
            box = Text.get_window_extent(text, renderer)  # the label itself, not its line
        placed.append(box)
        texts.append(text)
    return texts


def distance_plot(record: SearchRecord, points: list[Point], final: Correlation, at_rung: Correlation) -> Figure | None:
    if not points:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11.0, 4.0))
    panels = [
        (axes[0], [(p, p.final) for p in points if p.final is not None], final,
         f"final validation {record.metric}", "completed candidates"),
        (axes[1], [(p, p.at_rung) for p in points if p.at_rung is not None], at_rung,
         f"validation {record.metric} at epoch {final.epoch}", "every candidate"),
    ]
    dense = record.state.dense
    for ax, pairs, corr, ylabel, who in panels:
        for point, value in pairs:
            ax.scatter([point.distance], [value], s=42, color=_color(record, point.trial.id, point.trial.status), zorder=3)
        reference = None
        if dense is not None:
            reference = record.final_metric(dense) if ax is axes[0] else (
                dense.observations[final.epoch].metric if final.epoch in dense.observations else None)
        if reference is not None:
            ax.axhline(reference, color=DENSE_COLOR, ls="--", lw=1.0, label=f"dense ({reference:.4g})")
            ax.legend(loc="best", frameon=False, fontsize=8)
        ax.set_xlabel(f"LS distance to the dense spectrum at epoch {final.epoch}")
        ax.set_ylabel(ylabel)
        # An empty panel says so in its title, where nothing else is drawn.
        ax.set_title(f"{who}: Spearman ρ = {_rho(corr)} (n = {corr.n})" if pairs else f"{who}: none yet", fontsize=10)
    fig.tight_layout()
    fig.canvas.draw()  # labels are placed on the final layout: nothing may move the axes after them
    for ax, pairs, *_ in panels:
        label_points(ax, [p.distance for p, _ in pairs], [v for _, v in pairs], [p.trial.id for p, _ in pairs])
    return fig


def timeline_figure(record: SearchRecord) -> str | None:
    return _uri(timeline_plot(record))


def timeline_plot(record: SearchRecord) -> Figure | None:
    segments = record.segments()
    if not segments:
        return None
    order = [t.id for t in record.state.trials]
    rows = {tid: i for i, tid in enumerate(order)}
    span = max(s.end for s in segments) or 1.0
    minutes = span > 180
    scale = 60.0 if minutes else 1.0
    last_run = {seg.trial_id: seg for seg in segments}
    fig, ax = plt.subplots(figsize=(9.0, 1.2 + 0.32 * len(order)))
    for seg in segments:
        row = rows.get(seg.trial_id)
        if row is None:
            continue
        status = record.state.trial(seg.trial_id).status
        if last_run[seg.trial_id] is seg and seg.outcome == "paused" and status in ("stopped", "failed"):
            seg.outcome = status  # stopped (or failed) while it waited at its rung
        color = STATUS_COLORS.get(seg.outcome, "#7f7f7f")
        if seg.outcome == "completed" and record.state.promoted == seg.trial_id:
            color = PROMOTED_COLOR
        width = max((seg.end - seg.start) / scale, span / scale * 0.002)
        ax.barh(row, width, left=seg.start / scale, height=0.62, color=color, edgecolor="white", linewidth=0.5)
        if last_run[seg.trial_id] is seg:  # where the trial got to, and how it ended
            mark = {"stopped": " ✕", "failed": " !", "errored": " !", "diverged": " ~", "completed": " ✓"}.get(seg.outcome, "")
            ax.text(seg.end / scale, row, f" e{seg.reached}{mark}", va="center", fontsize=7)
        else:  # an intermediate run: the epoch it paused at, inside its bar
            ax.text(seg.end / scale, row, f"e{seg.reached} ", va="center", ha="right", fontsize=6, color="white")
    ax.set_yticks(range(len(order)), order, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("minutes since the search started" if minutes else "seconds since the search started")
    outcomes = sorted({s.outcome for s in segments}, key=list(STATUS_COLORS).index)
    # "resumed later" only once a later run of an interrupted trial shows it
    resumed = any(s.outcome == "interrupted" and any(t.trial_id == s.trial_id and t.start >= s.end for t in segments)
                  for s in segments)
    names = {"paused": "reached its rung", "interrupted": "interrupted (resumed later)" if resumed else "interrupted"}
    handles = [plt.Rectangle((0, 0), 1, 1, color=STATUS_COLORS[o]) for o in outcomes]
    labels = [names.get(o, o) for o in outcomes]
    if record.state.promoted:
        handles.append(plt.Rectangle((0, 0), 1, 1, color=PROMOTED_COLOR))
        labels.append("promoted")
    ax.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=7, frameon=False, ncol=len(labels))
    ax.grid(axis="x", color="#eeeeee")
    fig.tight_layout()
    return fig


def sparsity_figure(record: SearchRecord, trial_id: str) -> str | None:
    report = record.last_report(trial_id)
    if report is None or not report.sparsity_per_layer:
        return None
    names = list(report.sparsity_per_layer)
    values = [report.sparsity_per_layer[n] for n in names]
    fig, ax = plt.subplots(figsize=(6.4, 0.8 + 0.35 * len(names)))
    ax.barh(range(len(names)), values, color=PROMOTED_COLOR if record.state.promoted == trial_id else STATUS_COLORS["running"])
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:.1%}", va="center", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.08)
    ax.set_xlabel("fraction of weights pruned")
    ax.set_title(f"{trial_id}: {report.sparsity:.1%} overall at epoch {report.epoch}", fontsize=10)
    fig.tight_layout()
    return to_data_uri(fig)


def front_figure(record: SearchRecord) -> str | None:
    return _uri(front_plot(record))


def front_plot(record: SearchRecord) -> Figure | None:
    """Final metric against cost for every completed candidate; the non-dominated front joined, the
    promoted models green, the dense model a black star (at its measured cost, or density 1)."""
    spec, state = record.spec, record.state
    points = completed_points(spec, state)
    if not spec.objective.by_cost or not points:
        return None
    on_front = front(spec, state)
    measured = points[0].measured
    cost_label = {"nonzero-params": "nonzero parameters", "bytes": "bytes of the exported weights",
                  "latency": "latency per step (ms)"}[spec.objective.cost] if measured else "planned density (1 - sparsity)"
    fig, ax = plt.subplots(figsize=(7.0, 4.2))
    promoted = {state.promoted} | ({p.trial.id for p in on_front} if spec.objective.name == "pareto" else set())
    for p in points:
        ax.scatter([p.cost], [p.metric], s=42, zorder=3,
                   color=PROMOTED_COLOR if p.trial.id in promoted else STATUS_COLORS["completed"])
    ax.plot([p.cost for p in on_front], [p.metric for p in on_front], color=PROMOTED_COLOR, lw=1.0, ls="-",
            drawstyle="steps-post", label="non-dominated front")
    dense = state.dense
    dense_metric = record.final_metric(dense) if dense is not None else None
    if dense_metric is not None:
        efficiency = measured_efficiency(dense)
        dense_cost = efficiency.cost(spec.objective.cost) if measured and efficiency is not None else (
            None if measured else 1.0)
        if dense_cost is not None:
            ax.scatter([dense_cost], [dense_metric], marker="*", s=140, color=DENSE_COLOR, zorder=4,
                       label=f"dense ({dense_metric:.4g})")
        else:
            ax.axhline(dense_metric, color=DENSE_COLOR, ls="--", lw=1.0, label=f"dense ({dense_metric:.4g})")
        tolerance = spec.objective.tolerance
        if spec.objective.name == "sparsest-within" and tolerance is not None:
            bound = dense_metric * (1 + tolerance / 100 if spec.metric_mode == "min" else 1 - tolerance / 100)
            ax.axhline(bound, color="#888888", ls=":", lw=1.0, label=f"within {tolerance:g}% of dense")
    ax.set_xlabel(cost_label)
    ax.set_ylabel(f"final validation {record.metric}")
    ax.set_title(f"{spec.objective.name}: {len(on_front)} of {len(points)} completed candidates on the front",
                 fontsize=10)
    ax.legend(loc="best", frameon=False, fontsize=8)
    fig.tight_layout()
    fig.canvas.draw()
    label_points(ax, [p.cost for p in points], [p.metric for p in points], [p.trial.id for p in points])
    return fig

