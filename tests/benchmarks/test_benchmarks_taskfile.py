"""Benchmark tasks as files (benchmarks/tasks/*.yaml): the repository's five validate and cover the
architectures, levels and metrics the default rule is judged on; a broken file is named field by field
(exit 2, no traceback), as a search spec is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

from search_lib import tasks as T  # noqa: E402
from search_lib.taskfile import TaskFileError, load_task  # noqa: E402


def test_the_repositorys_tasks_validate_and_cover_every_kind_the_rule_is_judged_on():
    files = T.task_files()
    loaded = [load_task(p) for p in files]
    assert len(loaded) >= 5
    archs = {t.model["arch"] for t in loaded}
    assert {"lstm", "gru", "rnn_tanh", "rhn"} <= archs
    assert {t.data.get("level", "word") for t in loaded if t.data["corpus"] != "digits"} == {"word", "char"}
    assert any(t.model.get("numLayers", 1) >= 2 for t in loaded)
    made = [T.make_task(t, "cpu", Path("/data"), "cpu") for t in loaded]
    assert {m.metric for m in made} == {"perplexity", "accuracy"}
    for task in made:  # every scale's search document is a valid search
        for scale in ("quick", "cpu"):
            T.make_task(load_task(T.task_path(task.name)), scale, Path("/data"), "cpu").search("lsh")


def test_a_broken_task_file_names_every_bad_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\ntitle: x\ndata: {corpus: ptb, level: word}\n"
        "model: {arch: lstmx, hiddenSize: -1}\ntraining: {epochs: 6, lr: .nan}\n"
        "pool: {families: [nope], sparsities: [1.5]}\nscales:\n  quick: {training: {epochs: 0}}\n"
    )
    with pytest.raises(TaskFileError) as err:
        load_task(path)
    text = "\n".join(err.value.errors)
    for field in ("data:", "model.arch:", "model.hiddenSize:", "training.lr:", "pool.families:",
                  "pool.sparsities:", "scales.quick.training.epochs:"):
        assert field in text, text
    assert "nope" in text


def test_rules_across_sections_are_named_by_the_task_files_own_paths(tmp_path):
    text = (T.TASKS_DIR / "ptb.yaml").read_text().replace("name: ptb", "name: late")
    path = tmp_path / "late.yaml"
    path.write_text(text + "rungs: {first: 90}\n")
    with pytest.raises(TaskFileError) as err:
        load_task(path)
    assert any(line.startswith("rungs.first") for line in err.value.errors), err.value.errors


def test_a_name_that_is_not_the_files_stem_is_refused(tmp_path):
    path = tmp_path / "other.yaml"
    path.write_text((T.TASKS_DIR / "ptb.yaml").read_text())
    with pytest.raises(TaskFileError, match="stem"):
        load_task(path)


@pytest.mark.parametrize("content, expected", [
    (None, "cannot read the file"),
    ("a: [1,\n", "not valid YAML"),
    ("- 1\n", "expected a task"),
])
def test_unreadable_task_files_are_named(tmp_path, content, expected):
    path = tmp_path / "t.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(TaskFileError, match=expected):
        load_task(path)


def test_the_benchmark_refuses_a_bad_task_file_with_exit_2_and_no_traceback(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ntitle: x\n")
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "search.py"), "--task", str(path), "ptb", "ptb"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"task file {path}" in proc.stderr and "model" in proc.stderr
