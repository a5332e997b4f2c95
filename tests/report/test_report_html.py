"""`hyperprune report DIR`: one self-contained page with the spectra, the LS-distance/metric relation
(Spearman), the timeline, the winner's sparsity per layer and every trial — for finished and running
searches."""

from __future__ import annotations

import re

import pytest
from scipy.stats import spearmanr

from hyperprune.cli import main
from hyperprune.policy.scoring import distance_history
from hyperprune.report import write_report
from hyperprune.report.data import load_record
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
