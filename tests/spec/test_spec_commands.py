"""`hyperprune validate` and `hyperprune crd`."""

from __future__ import annotations

from pathlib import Path

import yaml

from hyperprune.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_validate_prints_ok_and_a_summary(capsys):
    assert main(["validate", str(REPO / "examples" / "quickstart.yaml")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"OK: {REPO / 'examples' / 'quickstart.yaml'}\n")
    assert "HyperpruneSearch quickstart: strategy lsh" in out
    assert "rungs at epochs 2, 4 of 8; keep 0.5 of each rung" in out
    assert "candidates: 10 drawn by tpe from magnitude, set, selfish, random" in out


def test_validate_names_every_invalid_field_and_exits_non_zero(tmp_path, capsys):
    document = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    document["spec"]["space"]["methods"][2]["params"]["deathRate"] = {"low": 0.3, "high": 1.7}
    document["spec"]["strategy"]["rungs"]["first"] = 8
    document["spec"]["budget"]["parallelism"] = 0
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(document))
    assert main(["validate", str(path)]) == 2  # as `hyperprune run` exits for a spec it refuses
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"error: {path} is not a valid HyperpruneSearch — fix these fields:",
        "  spec.space.methods[2].params.deathRate.high: Input should be less than 1",
        "  spec.budget.parallelism: Input should be greater than 0",
        "  spec.strategy.rungs.first: the first rung (epoch 8) must come before the end of training (spec.training.epochs = 8)",
    ]


def test_validate_warns_about_a_data_directory_missing_here(capsys):
    assert main(["validate", str(REPO / "examples" / "ptb-lsh-sync.yaml")]) == 0
    assert "warning: spec.data.path: /var/lib/hyperprune/data/ptb: no such directory on this machine" in capsys.readouterr().out


def test_validate_quiet(capsys):
    assert main(["validate", "-q", str(REPO / "examples" / "quickstart.yaml")]) == 0
    assert capsys.readouterr().out == ""


def test_crd_prints_the_definitions(capsys):
    assert main(["crd"]) == 0
    documents = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["kind"] for d in documents] == ["CustomResourceDefinition"] * 2
    assert [d["spec"]["names"]["kind"] for d in documents] == ["HyperpruneSearch", "HyperpruneTrial"]


def test_crd_writes_one_file_per_definition(tmp_path, capsys):
    assert main(["crd", "--output", str(tmp_path / "crds")]) == 0
    written = tmp_path / "crds" / "hyperprunesearches.hyperprune.io.yaml"
    trials = tmp_path / "crds" / "hyperprunetrials.hyperprune.io.yaml"  # the operator's HyperpruneTrial
    assert capsys.readouterr().out.strip().splitlines() == [str(written), str(trials)]
    assert yaml.safe_load(written.read_text())["metadata"]["name"] == "hyperprunesearches.hyperprune.io"


def test_validate_a_missing_file_says_what_to_pass(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err
    assert f"error: cannot read {tmp_path / 'missing.yaml'}: No such file or directory" in err
    assert "pass the path of a HyperpruneSearch YAML file" in err


def test_crd_into_an_unwritable_place_is_an_error_not_a_traceback(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["crd", "--output", str(blocker / "crds")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write into {blocker / 'crds'}") and "pass a writable directory" in err
