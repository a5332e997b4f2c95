"""On a real node: a search whose task is an entry point (the user's own model and data).

A user builds an image FROM the trial image with their package installed (README, docs/operator.md):
here that is examples/Dockerfile.co2-forecaster, built with podman by scripts/images (the
``co2-forecaster`` image, on the trial image as built) and imported into the node; the search names it
in spec.trialTemplate.image. The chart's operator hands the task to every trial pod in its config; the
pods, containers of that image on a claim, prune and measure the user's GRU and report its own metric
(mean absolute error, lower is better), which the search ranks and promotes by.

Node: tests/kube/real_node.py (a real kubelet + containerd); the claim is a ``local`` PersistentVolume
as in test_operator_e2e.py (trial pods run as the image's uid 1000, fsGroup 1000).
"""

from __future__ import annotations

import pytest
import torch
from kubernetes import client

import hyperprune

from .cluster import REPO, create_namespace
from .operator_support import by_id, create_search, get_search, phase, tiny_search, wait_for_search
from .real_node import local_claim

pytestmark = pytest.mark.node
NAME = "co2"
EPOCHS = 3


def task_search(image: str) -> dict:
    body = tiny_search(NAME, candidates=2, epochs=EPOCHS)
    spec = body["spec"]
    del spec["data"], spec["model"]
    spec["task"] = {"entryPoint": "co2_forecaster:make_task", "params": {"hidden": 16}, "metric": "mae", "mode": "min"}
    spec["training"] = {"epochs": EPOCHS, "optimizer": "adam", "lr": 0.01, "clip": 1.0}
    spec["lyapunov"] = {"warmup": 4, "probeLength": 20, "batch": 2, "k": 16}  # on a cluster a task sets k
    spec["space"] = {"methods": [{"method": "random"}], "sparsity": [0.5, 0.7]}
    spec["trialTemplate"]["image"] = image  # the task's package is installed there, nothing else differs
    return body


def test_a_search_whose_task_is_an_entry_point_runs_through_trial_pods(
    node_api, chart_operator, real_node, co2_trial_image, tmp_path, monkeypatch
):
    core = client.CoreV1Api(node_api)
    namespace = create_namespace(node_api, "task")
    try:
        folder = tmp_path / "claim"
        local_claim(node_api, namespace, "data", folder, real_node.name)
        create_search(node_api, namespace, task_search(co2_trial_image))
        wait_for_search(node_api, namespace, NAME, lambda s: phase(s) in ("Succeeded", "Failed", "Invalid"), 600,
                        "the task search to finish", chart_operator)
        status = get_search(node_api, namespace, NAME)["status"]
        assert status["phase"] == "Succeeded", status.get("message")
        assert (status["metric"], status["mode"]) == ("mae", "min")
        trials = by_id(node_api, namespace)
        for trial in trials.values():
            assert trial["spec"]["config"]["task"]["entryPoint"] == "co2_forecaster:make_task"
            for report in trial["status"]["reports"].values():
                assert (report["metric"], report["mode"]) == ("mae", "min")
        completed = {tid: t["status"]["reports"][str(EPOCHS)]["valMetric"] for tid, t in trials.items()
                     if tid != "dense" and t["status"]["phase"] == "completed"}
        best = min(completed, key=lambda tid: (completed[tid], tid))  # lower error is better
        assert status["best"]["trialId"] == best and status["promotion"]["phase"] == "Succeeded"
        assert 0 < status["best"]["metric"] < 2.0  # ppm
        spectrum = trials[best]["status"]["reports"][str(EPOCHS)]["lyapunov"]
        assert len(spectrum) == 16  # the GRU's 16 units
        # The promoted model on the claim loads where the user's package imports: their own GRU, pruned.
        monkeypatch.syspath_prepend(str(REPO / "examples"))
        model, config = hyperprune.load_model(folder / NAME / "best")
        assert config.trial_id == best and isinstance(model.gru, torch.nn.GRU)
        assert any(int((p == 0).sum()) > 0 for p in model.gru.parameters() if p.dim() == 2)
    finally:
        core.delete_namespace(namespace)
        core.delete_persistent_volume(f"pv-{namespace}-data")
