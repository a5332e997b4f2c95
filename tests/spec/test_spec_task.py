"""spec.task: the user's own model and data, named by an entry point. The spec checks how it is
written (never importing the user's code), refuses the settings that cannot apply to it, naming the
field, and hands it to every trial with the metric and direction the search ranks by."""

from __future__ import annotations

import copy

import pytest

from hyperprune.contract.trial import TrialConfig
from hyperprune.spec import parse_search

from spec_support import spec_errors

TASK_SEARCH = {
    "apiVersion": "hyperprune.io/v1alpha1",
    "kind": "HyperpruneSearch",
    "metadata": {"name": "mine"},
    "spec": {
        "task": {"entryPoint": "forecast.task:make_task", "params": {"window": 24, "layers": [1, 2]},
                 "metric": "mae", "mode": "min", "recurrentLayers": ["encoder.gru"]},
        "training": {"epochs": 6, "optimizer": "adam", "lr": 0.01},
        "space": {"methods": [{"method": "random"}], "sparsity": [0.5]},
        "strategy": {"name": "full"},
    },
}


def errors(**spec) -> list[str]:
    return spec_errors(TASK_SEARCH, **spec)


def test_the_task_reaches_every_trial_with_the_metric_the_search_ranks_by():
    search = parse_search(copy.deepcopy(TASK_SEARCH))
    assert (search.spec.metric, search.spec.metric_mode) == ("mae", "min")
    config = search.spec.trial_config("t000")
    assert config.task == search.spec.task and config.task.params == {"window": 24, "layers": [1, 2]}
    assert (config.metric, config.mode) == ("mae", "min")
    again = TrialConfig.model_validate_json(config.model_dump_json(by_alias=True))  # what a trial reads
    assert again == config


def test_how_the_entry_point_and_layers_are_written_is_checked_without_importing_them():
    assert errors(task={"entryPoint": "forecast task", "metric": "mae", "mode": "min"}) == [
        "spec.task.entryPoint: 'forecast task' is not an entry point: write package.module:function "
        "(e.g. forecast.task:make_task)"]
    bad = errors(task={"entryPoint": "a:b", "metric": "mean abs", "mode": "lower", "recurrentLayers": ["rnn", "rnn"]})
    assert [line.split(":")[0] for line in bad] == ["spec.task.metric", "spec.task.mode", "spec.task.recurrentLayers"]
    assert "'rnn' is listed twice" in bad[2]


def test_settings_that_cannot_apply_to_a_task_are_refused_naming_the_field():
    found = errors(
        data={"corpus": "digits"},
        model={"hiddenSize": 16},
        training={"epochs": 6, "batchSize": 64, "bptt": 20},
        space={"methods": [{"method": "random"}], "sparsity": [0.5], "model": {"dropout": [0.1, 0.2]}},
    )
    assert [line.split(":")[0] for line in found] == [
        "spec.data", "spec.model", "spec.training.batchSize", "spec.training.bptt", "spec.space.model"]
    pool = errors(space=None, candidates=[{"method": "random", "sparsity": 0.5, "model": {"dropout": 0.1}}])
    assert any(line.startswith("spec.candidates[0].model: the task's entry point builds the model") for line in pool)


def test_lyapunov_k_is_left_to_the_trial_which_knows_the_models_state():
    search = parse_search({**copy.deepcopy(TASK_SEARCH), "spec": {**TASK_SEARCH["spec"], "lyapunov": {"k": 10_000}}})
    assert search.spec.lyapunov.k == 10_000  # the trial refuses it, naming lyapunov.k, if the state is smaller


def test_a_trial_config_with_a_task_refuses_built_in_data():
    with pytest.raises(ValueError, match="data: the task's entry point supplies the data"):
        TrialConfig.model_validate({"task": TASK_SEARCH["spec"]["task"], "data": {"corpus": "digits"}})


def test_a_tasks_candidates_are_checked_only_by_what_the_epochs_decide():
    # ISS cannot reach 0.998 on the built-in default model; a task's model is its own, whose shapes
    # only its trials know (they refuse an unreachable sparsity before training, naming it).
    search = parse_search({**copy.deepcopy(TASK_SEARCH), "spec": {
        **TASK_SEARCH["spec"], "space": {"methods": [{"method": "iss", "params": {"pruneEpoch": [2]}}], "sparsity": [0.998]}}})
    assert search.spec.space.sparsity == [0.998]
    # A schedule the training length cannot hold is refused for a task as for any search.
    assert errors(space={"methods": [{"method": "magnitude", "params": {"pruneEpoch": [6]}}], "sparsity": [0.5]}) == [
        "spec.space.methods[0].params.pruneEpoch: prunes after epoch 6 but training has 6 epochs; it must be smaller "
        "so that the pruned model is trained"]
