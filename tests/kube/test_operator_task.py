"""On the real control plane: a search whose task is an entry point (the user's own model and data).

A user builds an image FROM the trial image with their package installed (README, docs/operator.md);
here the node agent runs trial pods as local processes, and PYTHONPATH in the trial template plays
the installed package (examples/, where co2_forecaster lives). The operator hands the task to every
trial pod in its config; the pods prune and measure the user's GRU and report its own metric (mean
absolute error, lower is better), which the search ranks and promotes by.
"""

from __future__ import annotations

import uuid

import pytest
from kubernetes import client

from .cluster import REPO
from .conftest import require_component
from .operator_support import (
    by_id,
    create_claim,
    create_search,
    get_search,
    phase,
    running_operator,
    tiny_search,
    trial_commands_on_path,
    wait_for_search,
)

pytestmark = pytest.mark.kube
NAME = "co2"


def task_search() -> dict:
    body = tiny_search(NAME, candidates=2, epochs=3)
    spec = body["spec"]
    del spec["data"], spec["model"]
    spec["task"] = {"entryPoint": "co2_forecaster:make_task", "params": {"hidden": 16}, "metric": "mae", "mode": "min"}
    spec["training"] = {"epochs": 3, "optimizer": "adam", "lr": 0.01, "clip": 1.0}
    spec["lyapunov"] = {"warmup": 4, "probeLength": 20, "batch": 2, "k": 16}  # on a cluster a task sets k
    spec["space"] = {"methods": [{"method": "random"}], "sparsity": [0.5, 0.7]}
    spec["trialTemplate"]["env"].append({"name": "PYTHONPATH", "value": str(REPO / "examples")})
    return body


def test_a_search_whose_task_is_an_entry_point_runs_through_trial_pods(
    kube_cluster, kube_api, kube_node, hyperprune_crds, tmp_path, trial_commands_on_path
):
    require_component(kube_cluster, "kube-controller-manager")
    core = client.CoreV1Api(kube_api)
    namespace = f"task-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": namespace, "labels": {"hyperprune.dev/test": "true"}}})
    try:
        create_claim(kube_api, namespace, agent=kube_node)
        with running_operator(kube_cluster, kube_api, namespace, tmp_path) as operator:
            create_search(kube_api, namespace, task_search())
            wait_for_search(kube_api, namespace, NAME, lambda s: phase(s) in ("Succeeded", "Failed", "Invalid"), 300,
                            "the task search to finish", operator)
        status = get_search(kube_api, namespace, NAME)["status"]
        assert status["phase"] == "Succeeded", status.get("message")
        assert (status["metric"], status["mode"]) == ("mae", "min")
        trials = by_id(kube_api, namespace)
        for trial in trials.values():
            assert trial["spec"]["config"]["task"]["entryPoint"] == "co2_forecaster:make_task"
            for report in trial["status"]["reports"].values():
                assert (report["metric"], report["mode"]) == ("mae", "min")
        completed = {tid: t["status"]["reports"]["3"]["valMetric"] for tid, t in trials.items()
                     if tid != "dense" and t["status"]["phase"] == "completed"}
        best = min(completed, key=lambda tid: (completed[tid], tid))  # lower error is better
        assert status["best"]["trialId"] == best and status["promotion"]["phase"] == "Succeeded"
        assert 0 < status["best"]["metric"] < 2.0  # ppm
        spectrum = trials[best]["status"]["reports"]["3"]["lyapunov"]
        assert len(spectrum) == 16  # the GRU's 16 units
    finally:
        core.delete_namespace(namespace)
        core.delete_persistent_volume(f"pv-{namespace}-data")
