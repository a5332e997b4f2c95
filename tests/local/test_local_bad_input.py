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


# ---- what a trial would refuse, found before any trial starts --------------------------------------


def corpus(tmp_path, text: bytes | str, name: str = "train.txt"):
    folder = tmp_path / "corpus"
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    return folder


WORDS = "".join(f"the cat number {i} sat on mat {i % 7} today\n" for i in range(400))  # 4,000 tokens


@pytest.mark.parametrize("content, problem", [
    (b"", "is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50, "is not UTF-8 text"),
    (b"plain words\n" * 40 + b"\x00\x01\x02", "is binary (a NUL byte on line 41)"),
    ("caf\xe9 au lait\n".encode("latin-1") * 100, "is not UTF-8 text"),
])
def test_a_data_file_that_is_not_a_text_corpus_is_named_before_training(tmp_path, capsys, content, problem):
    folder = corpus(tmp_path, content)
    search = write_search(tmp_path / "search.yaml", data={"corpus": "text", "path": str(folder)})
    code, err = run(capsys, search, tmp_path / "run")
    assert code == 2 and f"spec.data.path: {folder / 'train.txt'} {problem}" in err, err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("text, holdout, expected", [
    ("one two\n", 0.05, "spec.data.path: the test split has 0 tokens; a language model needs at least 2"),
    ("a b c d e\n" * 9, 0.4, "spec.training.batchSize: the training split has 12 tokens, too few for batches of 8 "
                             "sequences (at least 16)"),
])
def test_a_corpus_too_small_to_split_or_batch_is_named_before_training(tmp_path, capsys, text, holdout, expected):
    folder = corpus(tmp_path, text)
    search = write_search(tmp_path / "search.yaml", data={"corpus": "text", "path": str(folder), "holdout": holdout})
    code, err = run(capsys, search, tmp_path / "run")
    assert code == 2 and expected in err, err
    assert not (tmp_path / "run").exists()


def test_a_validation_split_shorter_than_the_probe_is_named(tmp_path, capsys):
    search = write_search(tmp_path / "search.yaml", data={"corpus": "text", "path": str(corpus(tmp_path, WORDS))},
                          lyapunov={"probeLength": 300, "warmup": 10, "batch": 1})
    code, err = run(capsys, search, tmp_path / "run")
    assert code == 2 and "spec.lyapunov.probeLength: the validation split has 200 tokens; the probe of 310" in err, err


def test_a_min_count_that_leaves_no_word_is_named(tmp_path, capsys):
    search = write_search(tmp_path / "search.yaml", data={"corpus": "text", "path": str(corpus(tmp_path, WORDS)),
                                                          "minCount": 100_000})
    code, err = run(capsys, search, tmp_path / "run")
    assert code == 2 and "spec.data.minCount: no token of the training split occurs 100000 times or more" in err


def test_rigl_whose_first_update_comes_after_its_end_is_named_with_the_datas_steps(tmp_path, capsys):
    folder = corpus(tmp_path, WORDS)
    search = write_search(tmp_path / "search.yaml", data={"corpus": "text", "path": str(folder)},
                          space={"methods": [{"method": "rigl"}], "sparsity": [0.5]})
    code, err = run(capsys, search, tmp_path / "run")
    assert code == 2, err
    assert ("spec.space.methods[0].params.updateFrequency: every 100 steps, but no topology update happens before "
            "step 14 (endFraction x 18 steps: 6 per epoch x 3 epochs)") in err
    assert not (tmp_path / "run").exists()
    assert main(["validate", str(search)]) == 0  # the spec alone is fine; the warning names the data's problem
    assert "warning: spec.space.methods[0].params.updateFrequency:" in capsys.readouterr().out


# ---- a relative data path is the one the search started with ---------------------------------------


def first_session(search_file, workdir, cwd):
    """What a first `hyperprune run` started in ``cwd`` leaves before training."""
    from hyperprune.local.datafiles import record_data, with_absolute_data_path
    from hyperprune.local.layout import Workdir

    search = with_absolute_data_path(load_search(search_file), cwd)
    workdir.mkdir()
    (workdir / "search.json").write_text(json.dumps(search.dump()))
    record_data(Workdir(workdir), search.spec.data, cwd)
    return search


def test_a_relative_data_path_is_stored_absolute_and_a_resume_elsewhere_is_refused(tmp_path, capsys, monkeypatch):
    for place in ("here", "elsewhere"):
        (tmp_path / place).mkdir()
        corpus(tmp_path / place, WORDS)
    search = write_search(tmp_path / "search.yaml", data={"corpus": "text", "path": "corpus"})
    workdir = tmp_path / "run"
    started = first_session(search, workdir, tmp_path / "here")
    assert started.spec.data.path == str(tmp_path / "here" / "corpus")

    monkeypatch.chdir(tmp_path / "elsewhere")
    code, err = run(capsys, search, workdir)
    assert code == 2, err
    assert (f"spec.data.path: is {tmp_path / 'elsewhere' / 'corpus'} here, but the search in {workdir} was started "
            f"on {tmp_path / 'here' / 'corpus'}; run from the directory it was started in") in err

    from hyperprune.local.datafiles import with_absolute_data_path
    from hyperprune.local.layout import Workdir
    from hyperprune.local.preflight import preflight

    monkeypatch.chdir(tmp_path / "here")  # from where it started: nothing to fix
    assert preflight(with_absolute_data_path(load_search(search), tmp_path / "here"), Workdir(workdir), tmp_path / "here") == []


def test_a_resume_whose_data_changed_is_refused(tmp_path, capsys):
    folder = corpus(tmp_path, WORDS)
    search = write_search(tmp_path / "search.yaml", data={"corpus": "text", "path": str(folder)})
    workdir = tmp_path / "run"
    first_session(search, workdir, tmp_path)
    (folder / "train.txt").write_text(WORDS.replace("cat", "dog"))
    (folder / "extra.txt").write_text(WORDS)
    code, err = run(capsys, search, workdir)
    assert code == 2
    assert f"spec.data.path: {folder / 'train.txt'} changed since the search started (15090 -> 15090 bytes)" in err
    assert f"spec.data.path: {folder / 'extra.txt'} is new since the search started" in err
    assert "start the search again in a new --workdir" in err
