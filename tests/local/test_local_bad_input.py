"""Bad input is refused before any training, every problem named by its field path (exit code 2)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess

import pytest
import yaml

from hyperprune.cli import main
from hyperprune.spec import load_search
from local_support import TINY_SEARCH, merge, write_search


def run(capsys, search, workdir) -> tuple[int, str]:
    code = main(["run", str(search), "--workdir", str(workdir)])
    captured = capsys.readouterr()
    return code, captured.err


def assert_nothing_trained(workdir) -> None:
    assert not (workdir / "trials").exists() and not (workdir / "state.json").exists()


def test_an_invalid_spec_names_every_bad_field(tmp_path, capsys):
    document = merge(TINY_SEARCH, {"spec": {"strategy": {"rungs": {"keepFraction": 1.5}}}})
    document["spec"]["space"]["methods"][0]["params"]["speed"] = [1, 2]
    search = tmp_path / "search.yaml"
    search.write_text(yaml.safe_dump(document))
    code, err = run(capsys, search, tmp_path / "run")
    assert code == 2
    assert "spec.strategy.rungs.keepFraction" in err
    assert "spec.space.methods[0].params.speed: unknown parameter of method 'magnitude'" in err
    assert "nothing was trained" in err
    assert not (tmp_path / "run").exists()


def test_a_missing_data_directory_is_named(tmp_path, capsys):
    search = write_search(tmp_path / "search.yaml", data={"corpus": "text", "path": str(tmp_path / "nowhere")})
    code, err = run(capsys, search, tmp_path / "run")
    assert code == 2
    assert f"spec.data.path: {tmp_path / 'nowhere'}: no such directory on this machine" in err
    assert not (tmp_path / "run").exists()


def test_a_data_directory_without_corpus_files_is_named(tmp_path, capsys):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "notes.md").write_text("not a corpus")
    search = write_search(tmp_path / "search.yaml", data={"corpus": "text", "path": str(tmp_path / "corpus")})
    code, err = run(capsys, search, tmp_path / "run")
    assert code == 2
    assert f"spec.data.path: no *.txt files in {tmp_path / 'corpus'}; expected one or more *.txt files" in err
    assert not (tmp_path / "run").exists()


def test_a_missing_split_file_is_named(tmp_path, capsys):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "train.txt").write_text("a b c\n")
    search = write_search(
        tmp_path / "search.yaml",
        data={"corpus": "text", "path": str(tmp_path / "corpus"), "files": {"train": "train.txt", "valid": "valid.txt"}},
    )
    code, err = run(capsys, search, tmp_path / "run")
    assert code == 2 and "spec.data.files.valid:" in err and "valid.txt: no such file" in err


def test_an_empty_search_space_is_named(tmp_path, capsys):
    search = write_search(tmp_path / "search.yaml", space={"methods": []})
    code, err = run(capsys, search, tmp_path / "run")
    assert code == 2
    assert "spec.space.methods: the search space is empty" in err
    assert not (tmp_path / "run").exists()


def test_a_workdir_of_another_search_is_refused_naming_what_differs(tmp_path, capsys):
    search = write_search(tmp_path / "search.yaml")
    workdir = tmp_path / "run"
    workdir.mkdir()
    started = merge(TINY_SEARCH, {"spec": {"training": {"lr": 1.0}}})
    from hyperprune.spec import parse_search

    (workdir / "search.json").write_text(json.dumps(parse_search(started).dump()))
    code, err = run(capsys, search, workdir)
    assert code == 2
    assert "spec.training.lr: differs from the search" in err
    assert_nothing_trained(workdir)


def test_a_directory_that_is_not_a_search_is_refused(tmp_path, capsys):
    search = write_search(tmp_path / "search.yaml")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.tex").write_text("...")
    code, err = run(capsys, search, tmp_path / "home")
    assert code == 2 and "is not empty and holds no search" in err
    assert_nothing_trained(tmp_path / "home")


@pytest.mark.parametrize("workers", ["0", "-2"])
def test_workers_must_be_positive(tmp_path, capsys, workers):
    search = write_search(tmp_path / "search.yaml")
    code = main(["run", str(search), "--workdir", str(tmp_path / "run"), "--workers", workers])
    assert code == 2 and "--workers" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_ptb_directory_missing_a_split_is_named_before_training(tmp_path, capsys):
    (tmp_path / "ptb").mkdir()
    for split in ("train", "valid"):
        (tmp_path / "ptb" / f"ptb.{split}.txt").write_text("the cat sat\n")
    search = write_search(tmp_path / "search.yaml", data={"corpus": "ptb", "path": str(tmp_path / "ptb")})
    code, err = run(capsys, search, tmp_path / "run")
    assert code == 2
    assert "spec.data.path:" in err and "lacks ptb.test.txt" in err
    assert not (tmp_path / "run").exists()


def test_an_output_folder_hyperprune_did_not_write_is_refused_and_kept(tmp_path, capsys):
    search = write_search(tmp_path / "search.yaml", output={"path": "models/best"})
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "search.json").write_text(json.dumps(load_search(search).dump()))  # a search being resumed
    (workdir / "models" / "best").mkdir(parents=True)
    (workdir / "models" / "best" / "weights.npz").write_bytes(b"not ours")
    code, err = run(capsys, search, workdir)
    assert code == 2
    assert f"spec.output.path: {workdir / 'models' / 'best'} exists and is a folder Hyperprune did not write" in err
    assert (workdir / "models" / "best" / "weights.npz").read_bytes() == b"not ours"
    assert_nothing_trained(workdir)


@pytest.mark.parametrize("path", [".", "trials", "/tmp/elsewhere", "../sibling"])
def test_an_output_path_that_would_land_on_the_searchs_or_someone_elses_files_is_refused(tmp_path, capsys, path):
    search = write_search(tmp_path / "search.yaml", output={"path": path})
    code, err = run(capsys, search, tmp_path / "run")
    assert code == 2 and f"spec.output.path: {path!r}" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("content, problem", [(b"\xff\xfeb\x00a\x00d\x00", "is not UTF-8 text"), (b"spec:\x00", "is binary")])
def test_a_spec_file_that_is_not_text_is_named(tmp_path, capsys, content, problem):
    search = tmp_path / "search.yaml"
    search.write_bytes(content)
    code, err = run(capsys, search, tmp_path / "run")
    assert code == 2 and err.startswith(f"error: {search} {problem}") and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def started(tmp_path, **spec):
    """A search file and a work dir that search was started in (as a first session leaves it)."""
    search = write_search(tmp_path / "search.yaml", **spec)
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "search.json").write_text(json.dumps(load_search(search).dump()))
    return search, workdir


@pytest.mark.parametrize("content", ["{not json", '{"trials": "all of them"}', '[]'])
def test_a_damaged_state_file_is_named(tmp_path, capsys, content):
    search, workdir = started(tmp_path)
    (workdir / "state.json").write_text(content)
    code, err = run(capsys, search, workdir)
    assert code == 2 and f"--workdir: {workdir / 'state.json'}" in err and "new --workdir" in err
    assert "Traceback" not in err and (workdir / "state.json").read_text() == content


def test_a_workdir_whose_parent_cannot_be_created_is_named(tmp_path, capsys):
    search = write_search(tmp_path / "search.yaml")
    (tmp_path / "afile").write_text("")
    code, err = run(capsys, search, tmp_path / "afile" / "deeper" / "run")
    assert code == 2 and f"--workdir: cannot create {tmp_path / 'afile' / 'deeper' / 'run'}: {tmp_path / 'afile'} is not a directory" in err


@contextlib.contextmanager
def read_only(folder):
    """A folder nobody may write into: mode 0555, or for root (who ignores modes) the immutable flag."""
    if os.geteuid() != 0:
        os.chmod(folder, 0o555)
        try:
            yield
        finally:
            os.chmod(folder, 0o755)
        return
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("root ignores folder modes, and chattr +i is not permitted here")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


@pytest.mark.parametrize("existing", [True, False])
def test_a_read_only_workdir_is_named(tmp_path, capsys, existing):
    search = write_search(tmp_path / "search.yaml")
    (tmp_path / "ro").mkdir()
    workdir = tmp_path / "ro" / "run"
    if existing:
        workdir.mkdir()
    with read_only(workdir if existing else tmp_path / "ro"):
        code, err = run(capsys, search, workdir)
    assert code == 2 and "--workdir:" in err and "not writable" in err and "Traceback" not in err


def test_a_changed_parallelism_points_to_workers(tmp_path, capsys):
    search, workdir = started(tmp_path)
    write_search(search, budget={"maxTrials": 4, "parallelism": 1, "maxFailedTrials": 2, "retries": 1})
    code, err = run(capsys, search, workdir)
    assert code == 2 and "spec.budget.parallelism: differs from the search" in err and "pass --workers N" in err
