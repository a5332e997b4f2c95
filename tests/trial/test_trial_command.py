"""`hyperprune trial` in-process: exit codes and messages for bad configs, nothing trained."""

from __future__ import annotations

import json

import pytest

from hyperprune.cli import main
from trial_support import read_lines, tiny_dict


def run_cli(capsys, config_path, workdir, *extra):
    code = main(["trial", "--config", str(config_path), "--workdir", str(workdir), *extra])
    return code, capsys.readouterr().err


def test_a_good_config_trains_to_the_end_and_exits_0(capsys, write_config, tmp_path):
    code, err = run_cli(capsys, write_config(tiny_dict(training={"epochs": 2})), tmp_path / "w")
    assert code == 0 and "completed" in err
    assert [r.status for r in read_lines(tmp_path / "w")] == ["running", "completed"]


def test_until_epoch_stops_with_a_checkpoint_and_exits_0(capsys, write_config, tmp_path):
    code, _ = run_cli(capsys, write_config(tiny_dict()), tmp_path / "w", "--until-epoch", "1")
    assert code == 0 and [r.status for r in read_lines(tmp_path / "w")] == ["running"]
    assert (tmp_path / "w" / "checkpoint.pt").exists() and not (tmp_path / "w" / "model").exists()


BAD_CONFIGS = {
    "unknown pruning method": ({"pruning": {"method": "prune-it-all", "sparsity": 0.5}}, "pruning"),
    "sparsity of one": ({"pruning": {"method": "random", "sparsity": 1.0}}, "pruning.random.sparsity"),
    "negative sparsity": ({"pruning": {"method": "magnitude", "sparsity": -0.1}}, "pruning.magnitude.sparsity"),
    "unknown architecture": ({"model": {"arch": "transformer"}}, "model.arch"),
    "corpus without a path": ({"data": {"corpus": "ptb"}}, "data"),
    "unknown field": ({"training": {"epochz": 3}}, "training.epochz"),
    "spectrum after the end": ({"lyapunov": {"epochs": [9]}}, "lyapunov.epochs"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_config_exits_2_naming_the_field_before_training(capsys, write_config, tmp_path, case):
    over, field = BAD_CONFIGS[case]
    code, err = run_cli(capsys, write_config(tiny_dict(**over)), tmp_path / "w")
    assert code == 2
    assert err.startswith("error: ") and field in err
    assert not (tmp_path / "w").exists()


def test_missing_corpus_directory_exits_2_naming_data_path_and_the_expected_files(capsys, write_config, tmp_path):
    config = tiny_dict(data={"corpus": "wikitext", "path": str(tmp_path / "absent")})
    code, err = run_cli(capsys, write_config(config), tmp_path / "w")
    assert code == 2
    assert "data.path:" in err and str(tmp_path / "absent") in err and "train.txt, valid.txt, test.txt" in err
    assert not (tmp_path / "w" / "checkpoint.pt").exists() and not (tmp_path / "w" / "reports.jsonl").exists()


def test_pruning_settings_the_schedule_cannot_honour_exit_2(capsys, write_config, tmp_path):
    config = tiny_dict(pruning={"method": "magnitude", "sparsity": 0.5, "params": {"pruneEpoch": 7}})
    code, err = run_cli(capsys, write_config(config), tmp_path / "w")
    assert code == 2 and "pruning.params.pruneEpoch" in err
    assert not (tmp_path / "w" / "checkpoint.pt").exists()


def test_malformed_json_exits_2_with_its_position(capsys, write_config, tmp_path):
    code, err = run_cli(capsys, write_config('{"trialId": "x",\n "seed": }'), tmp_path / "w")
    assert code == 2 and "not valid JSON" in err and "line 2" in err


def test_until_epoch_beyond_the_last_epoch_exits_2(capsys, write_config, tmp_path):
    code, err = run_cli(capsys, write_config(tiny_dict()), tmp_path / "w", "--until-epoch", "4")
    assert code == 2 and "--until-epoch: 4 is outside 1..3" in err


def test_unknown_reporter_exits_2_listing_the_known_ones(capsys, write_config, tmp_path):
    code, err = run_cli(capsys, write_config(tiny_dict()), tmp_path / "w", "--reporter", "carrier-pigeon")
    assert code == 2 and "--reporter" in err and "carrier-pigeon" in err and "file" in err
    assert not (tmp_path / "w" / "checkpoint.pt").exists()


def test_a_workdir_started_with_another_config_is_refused_naming_the_fields(capsys, write_config, tmp_path):
    run_cli(capsys, write_config(tiny_dict(), "a.json"), tmp_path / "w", "--until-epoch", "1")
    changed = tiny_dict(seed=4, training={"lr": 1.0})
    code, err = run_cli(capsys, write_config(changed, "b.json"), tmp_path / "w")
    assert code == 2 and "seed:" in err and "training.lr:" in err
    assert [r.epoch for r in read_lines(tmp_path / "w")] == [1]


def test_the_quick_example_is_a_valid_trial_config(repo_root):
    from hyperprune.contract.trial import TrialConfig

    config = TrialConfig.model_validate(json.loads((repo_root / "examples" / "trial-quick.json").read_text()))
    assert config.data.corpus == "synthetic" and config.pruning.sparsity > 0 and config.training.epochs == 3
    assert config.lyapunov.epochs is None  # a report with a spectrum every epoch
