"""`hyperprune report DIR`: one self-contained page with the spectra, the LS-distance/metric relation
(Spearman), the timeline, the winner's sparsity per layer and every trial — for finished and running
searches."""

from __future__ import annotations

import json
import re

import pytest
from scipy.stats import spearmanr

from hyperprune.cli import main
from hyperprune.policy.scoring import distance_history
from hyperprune.report import write_report
from hyperprune.report.data import load_record
from hyperprune.report.plots import correlations, distance_plot, label_points, rung_points, spectra_plot, timeline_plot
from report_support import simulated_workdir


def images(html: str) -> dict[str, str]:
    return dict(re.findall(r'<img alt="([^"]+)" src="(data:image/png;base64,[A-Za-z0-9+/=]+)"', html))


def spearman_line(html: str) -> str:
    return re.search(r'<p id="spearman">(.*?)</p>', html, re.S).group(1)


def test_a_finished_search_gets_every_plot_inline_and_no_network_reference(tmp_path):
    workdir, sim = simulated_workdir(tmp_path / "run")
    path = write_report(workdir.root)
    assert path == workdir.root / "report.html"
    html = path.read_text()
    assert set(images(html)) == {
        "Lyapunov spectra",
        "LS distance at the first rung vs validation metric",
        "Search timeline",
        "Sparsity per layer",
    }
    assert not re.search(r'(src|href)="(https?:)?//', html)  # self-contained: nothing fetched
    assert "succeeded" in html and f"promoted" in html and sim.state.promoted in html
    for trial in sim.state.trials:  # the table lists every trial
        assert f"<td>{trial.id}</td>" in html
    assert "load_model(" in html


def test_spearman_between_the_first_rung_distance_and_the_final_metric(tmp_path):
    workdir, sim = simulated_workdir(tmp_path / "run", strategy={"name": "full", "rungs": {"first": 1}})
    html = write_report(workdir.root).read_text()
    dense = sim.state.dense
    pairs = [
        (distance_history(t, dense)[1], t.observations[t.last_epoch].metric)
        for t in sim.state.candidates if t.status == "completed"
    ]
    assert len(pairs) == 6  # 'full' completes every candidate
    expected = spearmanr([d for d, _ in pairs], [m for _, m in pairs]).statistic
    line = spearman_line(html)
    assert "LS distance at epoch 1 vs final validation perplexity, completed candidates" in line
    assert f"= {expected:+.3f}" in line and "n = 6" in line


def test_spearman_needs_three_completed_candidates(tmp_path):
    rungs = {"first": 1, "step": 1, "keepFraction": 0.5, "finalists": 1}
    workdir, sim = simulated_workdir(tmp_path / "run", strategy={"name": "lsh", "rungs": rungs})
    completed = [t for t in sim.state.candidates if t.status == "completed"]
    assert len(completed) == 1  # halving at two rungs leaves one finalist
    line = spearman_line(write_report(workdir.root).read_text())
    assert "n/a — needs 3 or more candidates with both values (n = 1)" in line
    # ... while the distance against the metric at the same rung covers every candidate
    assert re.search(r"at the same epoch, every candidate\) = [+-]\d\.\d{3} \(p = [^,]+, n = 6\)", line)


def test_a_running_search_gets_a_report_with_its_leader_so_far(tmp_path):
    workdir, sim = simulated_workdir(tmp_path / "run", max_decisions=6)
    assert sim.state.outcome is None
    with workdir.locked():  # as the engine holds it while it runs
        html = write_report(workdir.root).read_text()
    assert "<b class=\"status-running\">running</b>" in html
    assert "leading at epoch" in html or "best completed" in html
    assert "Search timeline" in images(html) and "Lyapunov spectra" in images(html)
    record = load_record(workdir.root)
    assert record.engine_running is False  # the lock is released again
    running = [s for s in record.segments() if s.outcome == "interrupted"]
    assert running  # with no engine holding the lock, open runs ended with their session


def test_the_timeline_has_one_bar_per_trial_process(tmp_path):
    workdir, sim = simulated_workdir(tmp_path / "run")
    record = load_record(workdir.root)
    segments = record.segments()
    launches = [e for e in record.events if e["event"] == "launch"]
    assert len(segments) == len(launches)
    for trial in sim.state.trials:
        mine = [s for s in segments if s.trial_id == trial.id]
        assert mine[-1].reached == trial.epoch
        assert all(a.end <= b.start + 1e-9 for a, b in zip(mine, mine[1:]))  # one process at a time
    promoted = [s for s in segments if s.trial_id == sim.state.promoted]
    assert promoted[-1].outcome == "completed"


def test_a_search_that_has_not_reported_yet_still_gets_a_page(tmp_path):
    workdir, sim = simulated_workdir(tmp_path / "run", max_decisions=0)
    assert sim.state.trials == []
    html = write_report(workdir.root).read_text()
    assert "No spectra reported yet." in html and "No trial has been launched yet." in html
    assert "No candidate has an LS distance at the first rung yet." in html


def test_the_command_prints_the_path_and_refuses_a_directory_without_a_search(tmp_path, capsys):
    workdir, _ = simulated_workdir(tmp_path / "run")
    assert main(["report", str(workdir.root)]) == 0
    assert capsys.readouterr().out.strip() == str(workdir.root / "report.html")
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "holds no search" in capsys.readouterr().err


@pytest.mark.parametrize("strategy", ["lsh", "lsh-sync", "asha-loss", "median", "random", "full"])
def test_every_strategy_gets_a_report(tmp_path, strategy):
    over = {"strategy": {"name": strategy, "rungs": {"first": 1, "step": 1, "keepFraction": 0.5, "finalists": 2}}}
    if strategy not in ("lsh", "lsh-sync"):
        over["strategy"]["generation"] = {"sampler": "random"}
    workdir, sim = simulated_workdir(tmp_path / "run", **over)
    html = write_report(workdir.root).read_text()
    assert sim.state.outcome == "succeeded" and len(images(html)) == 4


def test_a_search_with_an_explicit_pool_gets_a_report(tmp_path, capsys):
    pool = [{"method": "magnitude", "sparsity": s, "params": {"pruneEpoch": 0, "scope": scope}}
            for s in (0.25, 0.5, 0.75) for scope in ("layer", "global")]
    workdir, sim = simulated_workdir(tmp_path / "run", space=None, candidates=pool)
    assert main(["report", str(workdir.root)]) == 0, capsys.readouterr().err
    assert sim.state.outcome == "succeeded" and len(images((workdir.root / "report.html").read_text())) == 4


@pytest.mark.parametrize("name, damage", [
    ("search.json", b"{not json"), ("search.json", b'{"kind": "Deployment"}'), ("search.json", b"\xff\xfe"),
    ("state.json", b'{"trials": [{"id": 3}]}'), ("state.json", b"[1, 2"),
])
def test_a_damaged_search_file_is_named_not_a_traceback(tmp_path, capsys, name, damage):
    workdir, _ = simulated_workdir(tmp_path / "run")
    (workdir.root / name).write_bytes(damage)
    assert main(["report", str(workdir.root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {workdir.root / name}") and "Traceback" not in err


# ---- what the figures say ---------------------------------------------------------------------------


def legend_texts(fig) -> list[str]:
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    return [t.get_text() for legend in legends for t in legend.get_texts()]


def overlapping(texts) -> list[tuple[str, str]]:
    from matplotlib.text import Text

    renderer = texts[0].figure.canvas.get_renderer()
    boxes = [(t.get_text(), Text.get_window_extent(t, renderer)) for t in texts]  # the words, not a label's line
    return [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1:] if box_a.overlaps(box_b)]


def test_scatter_labels_never_overlap_even_for_points_on_top_of_each_other():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    xs = [1.0, 1.0, 1.001, 1.002, 3.0, 3.0, 2.0, 1.0005]
    ys = [50.0, 50.0, 50.1, 49.9, 60.0, 60.01, 55.0, 50.05]
    ax.scatter(xs, ys)
    naive = [ax.text(x, y, f"t{i:03d}", fontsize=7) for i, (x, y) in enumerate(zip(xs, ys))]
    fig.canvas.draw()
    assert overlapping(naive)  # the case this guards against
    for t in naive:
        t.remove()
    texts = label_points(ax, xs, ys, [f"t{i:03d}" for i in range(len(xs))])
    fig.canvas.draw()
    assert overlapping(texts) == []
    plt.close(fig)


def test_the_distance_figure_labels_every_candidate_without_overlap(tmp_path):
    workdir, _ = simulated_workdir(tmp_path / "run", strategy={"name": "full", "rungs": {"first": 1}})
    record = load_record(workdir.root)
    points = rung_points(record)
    fig = distance_plot(record, points, *correlations(record, points))
    fig.canvas.draw()
    for ax in fig.axes:
        assert sorted(t.get_text() for t in ax.texts) == sorted(p.trial.id for p in points)
        assert overlapping(ax.texts) == []


def test_a_search_without_a_completed_candidate_says_so_in_the_title_not_over_the_dense_line(tmp_path):
    workdir, sim = simulated_workdir(tmp_path / "run", max_decisions=8)
    record = load_record(workdir.root)
    points = rung_points(record)
    assert points and all(p.final is None for p in points)
    completed = distance_plot(record, points, *correlations(record, points)).axes[0]
    assert completed.get_title() == "completed candidates: none yet" and list(completed.texts) == []


def test_an_interrupted_search_leads_with_a_trial_still_in_the_race_and_no_promoted_or_resumed_entries(tmp_path):
    workdir, sim = simulated_workdir(tmp_path / "run", max_decisions=12)
    assert any(t.status == "stopped" for t in sim.state.candidates)
    html = write_report(workdir.root).read_text()
    leading = re.search(r"<td>leading at epoch \d+</td><td>(t\d+):", html)
    assert leading and sim.state.trial(leading.group(1)).status != "stopped"
    record = load_record(workdir.root)
    assert "promoted" not in legend_texts(spectra_plot(record))
    timeline = legend_texts(timeline_plot(record))
    assert "interrupted" in timeline and "interrupted (resumed later)" not in timeline and "promoted" not in timeline

    running = next(t for t in sim.state.trials if t.status == "running")
    last = record.events[-1]["time"]
    with open(workdir.journal, "a") as journal:  # a second session resumes one of the interrupted trials
        for event in ({"event": "session", "resumed": True}, {"event": "launch", "trial": running.id, "fromEpoch":
                      running.epoch, "untilEpoch": running.target_epoch, "pid": 0}):
            journal.write(json.dumps({**event, "time": last + 10}) + "\n")
    assert "interrupted (resumed later)" in legend_texts(timeline_plot(load_record(workdir.root)))


def test_a_finished_search_shows_its_promoted_model_in_every_legend(tmp_path):
    workdir, sim = simulated_workdir(tmp_path / "run")
    record = load_record(workdir.root)
    assert "promoted" in legend_texts(spectra_plot(record)) and "promoted" in legend_texts(timeline_plot(record))


def test_a_report_that_cannot_be_written_is_named_and_leaves_nothing_half_written(tmp_path, capsys):
    workdir, _ = simulated_workdir(tmp_path / "run")
    (workdir.root / "report.html").mkdir()  # something in the way the page cannot replace
    assert main(["report", str(workdir.root)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write") and "report.html" in err and "Traceback" not in err
    assert not (workdir.root / ".report.html.tmp").exists()
