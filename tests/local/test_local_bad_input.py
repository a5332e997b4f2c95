"""Bad input is refused before any training, every problem named by its field path (exit code 2)."""

from __future__ import annotations

import json

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
