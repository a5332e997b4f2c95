"""What a careless user types is refused by name, before anything trains: numbers that are not
finite, booleans where numbers go, duplicated keys, files that are not text, degenerate data
settings, and output paths that would land on someone's files."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import yaml

from hyperprune.spec import SearchSpecError, load_search, parse_search
from hyperprune.spec.errors import SearchFileError

from spec_support import spec_errors

GOOD = {
    "apiVersion": "hyperprune.io/v1alpha1",
    "kind": "HyperpruneSearch",
    "metadata": {"name": "careless"},
    "spec": {
        "training": {"epochs": 8},
        "space": {"methods": [{"method": "magnitude", "params": {"scope": ["layer", "global"]}}], "sparsity": [0.5, 0.75]},
        "strategy": {"rungs": {"first": 2, "step": 2}},
    },
}


def errors_with(**sections) -> list[str]:
    return spec_errors(GOOD, **sections)


# ---- numbers that are not finite -----------------------------------------------------------------


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize("field", ["lr", "clip", "weightDecay", "momentum", "lrGamma"])
def test_a_training_number_must_be_finite(field, value):
    errors = errors_with(training={"epochs": 8, field: value})
    assert any(e.startswith(f"spec.training.{field}:") for e in errors), errors


@pytest.mark.parametrize("sections, path", [
    ({"space": {"methods": [{"method": "magnitude"}], "training": {"lr": [1.0, math.inf]}}}, "spec.space.training.lr[1]"),
    ({"space": {"methods": [{"method": "magnitude"}], "training": {"lr": {"low": 1.0, "high": math.inf}}}},
     "spec.space.training.lr.high"),
    ({"space": {"methods": [{"method": "selfish", "params": {"threshold": [math.nan]}}]}},
     "spec.space.methods[0].params.threshold[0]"),
    ({"space": {"methods": [{"method": "magnitude"}], "sparsity": [0.5, math.nan]}}, "spec.space.sparsity[1]"),
    ({"space": {"methods": [{"method": "iss", "params": {"groupLasso": math.inf}}]}}, "spec.space.methods[0].params.groupLasso"),
    ({"data": {"holdout": math.nan}}, "spec.data.holdout"),
    ({"model": {"dropout": math.nan}}, "spec.model.dropout"),
])
def test_a_searched_or_data_number_must_be_finite(sections, path):
    errors = errors_with(**sections)
    assert any(e.startswith(f"{path}:") for e in errors), errors


def test_a_candidate_number_must_be_finite():
    errors = errors_with(space={}, candidates=[{"method": "magnitude", "sparsity": 0.5, "training": {"lr": math.inf}}])
    assert any(e.startswith("spec.candidates[0].training.lr:") and "finite" in e for e in errors), errors


def test_yaml_infinity_is_refused_by_name(tmp_path):
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(GOOD).replace("epochs: 8", "epochs: 8\n    lr: .inf"))
    with pytest.raises(SearchSpecError) as info:
        load_search(path)
    assert info.value.errors == ["spec.training.lr: Input should be a finite number"]


# ---- booleans where numbers go ---------------------------------------------------------------------


@pytest.mark.parametrize("training", [{"epochs": True}, {"epochs": 8, "lr": True}, {"epochs": 8, "maxBatches": False}])
def test_a_boolean_is_not_a_number(training):
    (field,) = [k for k, v in training.items() if isinstance(v, bool)]
    errors = errors_with(training=training)
    assert any(e.startswith(f"spec.training.{field}:") for e in errors), errors


def test_a_boolean_is_not_a_number_in_a_searched_setting_either():
    errors = errors_with(space={"methods": [{"method": "magnitude", "params": {"pruneEpoch": [0, True]}}]})
    assert any(e.startswith("spec.space.methods[0].params.pruneEpoch[1]:") for e in errors), errors


# ---- the file itself ---------------------------------------------------------------------------------


def test_duplicated_yaml_keys_are_refused_naming_the_key_and_line(tmp_path):
    path = tmp_path / "search.yaml"
    text = yaml.safe_dump(GOOD, sort_keys=False).replace("  training:\n    epochs: 8\n", "  training:\n    epochs: 8\n    epochs: 3\n")
    path.write_text(text)
    line = text.splitlines().index("    epochs: 3") + 1
    with pytest.raises(SearchFileError) as info:
        load_search(path)
    assert info.value.errors == [f"{path}, line {line}: duplicate key 'epochs' (first at line {line - 1})"]


@pytest.mark.parametrize("content, problem", [
    (b"\xff\xfe\x00s\x00p\x00e\x00c", "is not UTF-8 text"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is not UTF-8 text"),
    (b"spec:\x00 {}", "is binary"),
])
def test_a_spec_that_is_not_text_is_named(tmp_path, content, problem):
    path = tmp_path / "search.yaml"
    path.write_bytes(content)
    with pytest.raises(SearchFileError) as info:
        load_search(path)
    assert info.value.errors[0].startswith(f"{path} {problem}")


# ---- degenerate data settings ------------------------------------------------------------------------


def test_a_vocabulary_of_only_eos_and_unk_is_refused():
    errors = errors_with(data={"corpus": "synthetic", "maxVocab": 2})
    assert errors == ["spec.data.maxVocab: Input should be greater than or equal to 3"]


@pytest.mark.parametrize("field, value", [("syntheticVocab", 10_000_000), ("syntheticTokens", 10**9)])
def test_a_synthetic_corpus_too_large_to_generate_quickly_is_refused(field, value):
    errors = errors_with(data={"corpus": "synthetic", field: value})
    assert len(errors) == 1 and errors[0].startswith(f"spec.data.{field}: Input should be less than or equal to")


def test_a_candidate_may_turn_clipping_off_with_null():
    doc = copy.deepcopy(GOOD)
    del doc["spec"]["space"]
    doc["spec"]["candidates"] = [
        {"method": "magnitude", "sparsity": 0.5, "training": {"clip": None}},
        {"method": "magnitude", "sparsity": 0.5},
    ]
    spec = parse_search(doc).spec
    first, second = spec.pool()
    assert spec.trial_config("t000", first).training.clip is None
    assert spec.trial_config("t001", second).training.clip == 0.25
    doc["spec"]["candidates"][1] = {"method": "magnitude", "sparsity": 0.5, "training": {"lr": None}}
    with pytest.raises(SearchSpecError) as info:
        parse_search(doc)
    assert info.value.errors[0].startswith("spec.candidates[1].training.lr:")


# ---- what a work dir stores reads back -----------------------------------------------------------

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_a_stored_search_reads_back_as_the_same_search(example):
    # DIR/search.json holds search.dump(); the report and a resume read it again.
    search = load_search(example)
    again = parse_search(search.dump())
    assert again.dump() == search.dump()


def test_a_pool_with_an_empty_space_beside_it_is_not_two_sources():
    doc = copy.deepcopy(GOOD)
    doc["spec"]["space"] = {}
    doc["spec"]["candidates"] = [{"method": "magnitude", "sparsity": 0.5}]
    assert parse_search(doc).spec.pool() is not None


# ---- where the promoted model goes ----------------------------------------------------------------


@pytest.mark.parametrize("path", [
    ".", "./", "..", "../best", "models/../..", "/", "/home/me/models", "~/models", "trials", "trials/t000",
    "search.json", "state.json", "events.jsonl", "result.json", "report.html", "data.json", ".lock", ".best.tmp",
    "dense", "t003", "t1234", "t000-r1", "dense/model", "a\\b",
])
def test_the_output_path_must_stay_inside_the_search_and_off_its_own_files(path):
    errors = errors_with(output={"path": path})
    assert len(errors) == 1 and errors[0].startswith(f"spec.output.path: {path!r} "), errors


@pytest.mark.parametrize("path, folder", [
    ("best", "best"), ("models/best", "models/best"), ("./best/", "best"), ("models//v2", "models/v2"),
    ("t", "t"), ("dense-model", "dense-model"), ("trial3", "trial3"), ("best/../winner", "winner"),
])
def test_an_output_path_inside_the_search_is_kept(path, folder):
    doc = copy.deepcopy(GOOD)
    doc["spec"]["output"] = {"path": path}
    assert parse_search(doc).spec.output.folder == folder


def test_every_file_of_a_local_work_dir_is_one_the_output_rule_keeps_clear_of():
    from hyperprune.contract.files import engine_owned
    from hyperprune.local.layout import Workdir

    workdir = Workdir(Path("/w"))
    files = [workdir.search, workdir.state, workdir.journal, workdir.result, workdir.report, workdir.trials,
             workdir.engine_lock]
    assert all(engine_owned(f.name) for f in files)


# ---- what a trial would refuse, refused by validation ---------------------------------------------

SYNTHETIC_RUN = {  # 3 epochs of 6 optimiser steps on the built-in corpus
    "data": {"corpus": "synthetic", "syntheticTokens": 3000, "syntheticVocab": 24},
    "model": {"arch": "lstm", "hiddenSize": 12},
    "training": {"epochs": 3, "batchSize": 8, "bptt": 10, "maxBatches": 6},
    "lyapunov": {"probeLength": 8, "warmup": 2, "batch": 1},
    "strategy": {"name": "full", "rungs": {"first": 1}, "generation": {"sampler": "random"}},
}


def run_errors(**sections) -> list[str]:
    return errors_with(**{**SYNTHETIC_RUN, **sections})


@pytest.mark.parametrize("method, expected", [
    ({"method": "rigl"}, "spec.space.methods[0].params.updateFrequency: every 100 steps, but no topology update "
                         "happens before step 14 (endFraction x 18 steps: 6 per epoch x 3 epochs)"),
    ({"method": "rigl", "params": {"updateFrequency": [2, 20]}}, "spec.space.methods[0].params.updateFrequency: every 20"),
    ({"method": "magnitude", "params": {"pruneEpoch": {"low": 0, "high": 3}}},
     "spec.space.methods[0].params.pruneEpoch: prunes after epoch 3 but training has 3 epochs"),
    ({"method": "lottery", "params": {"rounds": 3}}, "spec.space.methods[0].params.rounds: 3 rounds x 1 epochs leave no epoch"),
    ({"method": "lottery", "params": {"rounds": 1, "rewindEpoch": 1}}, "spec.space.methods[0].params.rewindEpoch: rewinds"),
    ({"method": "gmp", "params": {"startEpoch": 2, "endFraction": 0.5}},
     "spec.space.methods[0].params.endFraction: pruning must end (step 9 = endFraction x 18 steps) after it starts "
     "(startEpoch 2 = step 12)"),
    ({"method": "gmp", "params": {"initialSparsity": 0.6}}, "spec.space.methods[0].params.initialSparsity: 0.6 is above"),
    ({"method": "iss", "params": {"pruneEpoch": 3}}, "spec.space.methods[0].params.pruneEpoch: removes units after epoch 3"),
])
def test_a_pruning_schedule_that_cannot_run_is_refused_before_any_trial(method, expected):
    errors = run_errors(space={"methods": [method], "sparsity": [0.5]})
    assert any(e.startswith(expected) for e in errors), errors


def test_a_candidates_own_training_counts_for_its_schedule():
    pool = [{"method": "rigl", "sparsity": 0.5, "params": {"updateFrequency": 5}},
            {"method": "rigl", "sparsity": 0.75, "params": {"updateFrequency": 5}, "training": {"maxBatches": 2}}]
    errors = run_errors(space={}, candidates=pool)
    assert errors == ["spec.candidates[1].params.updateFrequency: every 5 steps, but no topology update happens before "
                      "step 4 (endFraction x 6 steps: 2 per epoch x 3 epochs); lower updateFrequency or raise endFraction"]


def test_iss_at_a_sparsity_whole_units_cannot_reach_is_refused():
    pool = [{"method": "iss", "sparsity": 0.5, "params": {"pruneEpoch": 1}},
            {"method": "iss", "sparsity": 0.34375, "params": {"pruneEpoch": 1}}]  # 4 of 12 units: exact
    errors = run_errors(space={}, candidates=pool)
    assert len(errors) == 1 and errors[0].startswith(
        "spec.candidates[0].sparsity: ISS removes whole hidden units; with hidden sizes [12] the nearest reachable "
        "sparsity is")
    ranged = run_errors(space={"methods": [{"method": "iss"}], "sparsity": {"low": 0.3, "high": 0.4}})
    assert len(ranged) == 1 and ranged[0].startswith("spec.space.sparsity: spec.space.methods[0] (iss) at sparsity 0.3:")
    assert parse_search({**GOOD, "spec": {**GOOD["spec"], **SYNTHETIC_RUN, "candidates": pool[1:], "space": {}}})


def test_a_built_in_corpus_too_small_for_the_recipe_is_refused():
    errors = run_errors(data={"corpus": "synthetic", "syntheticTokens": 10}, space=GOOD["spec"]["space"])
    assert errors == ["spec.training.batchSize: the training split has 10 tokens, too few for batches of 8 sequences "
                      "(at least 16)"]
    errors = run_errors(lyapunov={"probeLength": 2000, "warmup": 10, "batch": 1}, space=GOOD["spec"]["space"])
    assert errors == ["spec.lyapunov.probeLength: the validation split has 1000 tokens; the probe of 2010 time steps "
                      "(warmup + probeLength) needs 2010"]


def test_an_rhn_of_several_layers_is_refused_as_the_model_would_refuse_it():
    errors = run_errors(model={"arch": "rhn", "hiddenSize": 12, "numLayers": 2}, space=GOOD["spec"]["space"])
    assert errors == ["spec.model.numLayers: an RHN has one layer of depth model.rhnDepth (set numLayers to 1 and "
                      "deepen the transition with rhnDepth)"]
