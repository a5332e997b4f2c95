"""The report page: one self-contained HTML file (inline PNG figures, inline CSS, no scripts)."""

from __future__ import annotations

import html
import time
from typing import Any

from hyperprune.local.result import wall_seconds
from hyperprune.contract.efficiency import savings_lines
from hyperprune.policy.summary import leader, measured_efficiency, rung_history, trial_epochs
from hyperprune.local.summary import load_line
from hyperprune.report.data import SearchRecord
from hyperprune.report.plots import (
    correlations,
    rung_points,
    distance_figure,
    front_figure,
    sparsity_figure,
    spectra_figure,
    timeline_figure,
)

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }
.facts td { padding: 1px 14px 1px 0; vertical-align: top; } .facts td:first-child { color: #666; }
table.trials { border-collapse: collapse; font-size: 12px; width: 100%; }
table.trials th, table.trials td { border-bottom: 1px solid #eee; padding: 3px 6px; text-align: left; vertical-align: top; }
table.trials th { background: #f6f6f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.promoted { background: #eaf6ea; } .muted { color: #777; } code { background: #f4f4f4; padding: 1px 4px; }
figure { margin: 1em 0; } figcaption { color: #555; font-size: 12px; } img { max-width: 100%; }
.status-succeeded { color: #2ca02c; } .status-failed { color: #d62728; } .status-running { color: #1f77b4; }
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.4g}"


def _figure(uri: str | None, alt: str, caption: str, missing: str) -> str:
    if uri is None:
        return f'<p class="muted">{_e(missing)}</p>'
    return f'<figure><img alt="{_e(alt)}" src="{uri}"><figcaption>{_e(caption)}</figcaption></figure>'


def _facts(record: SearchRecord) -> str:
    state, spec = record.state, record.spec
    status = state.outcome or ("running" if record.engine_running else "interrupted (run 'hyperprune run' again to resume)")
    rows = [
        ("status", f'<b class="status-{_e(state.outcome or "running")}">{_e(status)}</b>'
                   + (f" — {_e(state.message)}" if state.message else "")),
        ("strategy", _e(f"{spec.strategy.name}; rungs at epochs {', '.join(map(str, spec.rung_epochs())) or 'none'} "
                        f"of {spec.final_epoch}")),
    ]
    counts = ", ".join(f"{n} {s}" for s, n in state.counts().items() if n)
    rows.append(("candidates", _e(f"{len(state.candidates)} of {spec.max_candidates()} created: {counts or 'none yet'}")))
    full = trial_epochs(spec, state).full_training
    rows.append(("trial-epochs", _e(f"{state.trial_epochs} ({state.trial_epochs / full:.0%} of the {full} 'full' would spend)")))
    rows.append(("engine time", _e(f"{wall_seconds(record.events):.0f} s")))
    dense = state.dense
    if dense is not None:
        target = record.final_metric(dense)
        last = dense.observations.get(dense.last_epoch)
        text = (f"final validation {record.metric} {_num(target)}" if target is not None
                else f"{dense.status}, epoch {dense.epoch}: {record.metric} {_num(last.metric if last else None)}")
        report = record.last_report(dense.id)
        if target is not None and report is not None and report.test_metric is not None:
            text += f" (test {_num(report.test_metric)})"
        rows.append(("dense reference", _e(text)))
    best = leader(state, spec.metric_mode)
    if best is not None:
        trial, value, final = best
        label = "promoted" if state.promoted == trial.id else ("best completed" if final else f"leading at epoch {trial.last_epoch}")
        rows.append((label, _e(f"{trial.id}: {trial.params.sentence()} — validation {record.metric} {_num(value)}")))
    if state.promoted:
        model = record.workdir.output(spec.output.folder)
        rows.append(("model", f"<code>{_e(model)}</code>; load it: <code>{_e(load_line(str(model)))}</code>"))
        efficiency = measured_efficiency(state.find(state.promoted))
        if efficiency is not None:
            lines = savings_lines(efficiency, measured_efficiency(state.dense))
            rows.append(("what it saves", "<br>".join(_e(line) for line in lines)))
    body = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="facts">{body}</table>'


def _trials_table(record: SearchRecord) -> str:
    spec, state = record.spec, record.state
    epochs = sorted(set(spec.rung_epochs()) | {spec.final_epoch})
    head = ["trial", "candidate", "status", "epochs trained"]
    head += [f"{record.metric} @{e}" for e in epochs] + [f"LS dist @{e}" for e in epochs]
    head += ["test", "sparsity", "stop reason / message"]
    rows = []
    for trial in state.trials:
        by_epoch = {h.epoch: h for h in rung_history(state, trial, epochs)}
        report = record.last_report(trial.id)
        cells = [
            _e(trial.id),
            _e(trial.params.describe()),
            _e(trial.status),
            f'<span class="num">{trial.epochs_spent}</span>',
        ]
        cells += [_num(by_epoch[e].metric) if e in by_epoch else "" for e in epochs]
        cells += [_num(by_epoch[e].distance) if e in by_epoch else "" for e in epochs]
        test = report.test_metric if report is not None and trial.status == "completed" else None
        cells += [_num(test), _num(report.sparsity if report is not None else None),
                  _e(trial.stop_reason or trial.message or "")]
        numeric = set(range(3, 4 + 2 * len(epochs) + 2))
        tds = "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(cells))
        cls = ' class="promoted"' if state.promoted == trial.id else ""
        rows.append(f"<tr{cls}>{tds}</tr>")
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    return f'<table class="trials"><thead><tr>{header}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _front_section(record: SearchRecord) -> list[str]:
    objective = record.spec.objective
    if not objective.by_cost:
        return []
    return [
        f"<h2>Metric against cost ({_e(objective.name)})</h2>",
        _figure(front_figure(record), "Final metric against cost",
                "Each dot is a completed candidate; the line joins the non-dominated front (no other candidate is "
                "both cheaper and better); green: promoted; the black star is the dense model.",
                "No candidate has completed yet."),
    ]


def render(record: SearchRecord) -> str:
    points = rung_points(record)
    final, at_rung = correlations(record, points)
    state = record.state
    winner = state.promoted
    if winner is None:
        best = leader(state, record.spec.metric_mode)
        winner = best[0].id if best is not None else None
    name = record.search.metadata.name
    sections = [
        f"<h1>Hyperprune search {_e(name)}</h1>",
        f'<p class="muted">{_e(record.workdir.root)} · report written {_e(time.strftime("%Y-%m-%d %H:%M:%S"))}</p>',
        _facts(record),
        "<h2>Lyapunov spectra: candidates vs the dense reference</h2>",
        _figure(spectra_figure(record), "Lyapunov spectra",
                "Each panel is one epoch with spectra (the rungs and the final epoch); the dashed black line is the dense "
                "model trained with the same recipe. Colours: the trial's status; green: the promoted model.",
                "No spectra reported yet."),
        "<h2>Does the early LS distance predict the final metric?</h2>",
        f'<p id="spearman"><b>{_e(final.describe())}</b><br>{_e(at_rung.describe())}</p>',
        _figure(distance_figure(record, points, final, at_rung), "LS distance at the first rung vs validation metric",
                "Left: the LS distance at the first rung against the final metric of the candidates that completed "
                "(strategies that stop early leave few; 'full' completes every one). Right: against the metric at "
                "the same epoch, for every candidate that reached it. Dashed: the dense reference.",
                "No candidate has an LS distance at the first rung yet."),
        *_front_section(record),
        "<h2>Timeline</h2>",
        _figure(timeline_figure(record), "Search timeline",
                "Each bar is one trial process, from launch to exit; the label is the epoch it reached. A trial "
                "continued from its checkpoint has several bars.",
                "No trial has been launched yet."),
        f"<h2>Sparsity per layer{' of the promoted model' if state.promoted else ''}</h2>",
        _figure(sparsity_figure(record, winner) if winner else None, "Sparsity per layer",
                "Fraction of each weight matrix pruned (per parameter, gates of a matrix together).",
                "No candidate has reported yet."),
        "<h2>All trials</h2>",
        _trials_table(record),
    ]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>Hyperprune: {_e(name)}</title><style>{CSS}</style></head><body>\n"
        + "\n".join(sections)
        + "\n</body></html>\n"
    )
