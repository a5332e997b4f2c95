"""On a real node: the Helm chart installed with the operator as a container of its image (built from
the Dockerfile), and a search on a hostPath volume whose trial pods run the real trial image under
containerd and runc. (The lsh search on a claim, with everything the operator writes, is
test_operator_e2e.py; bad input and faults are test_node_faults.py.)

Node: tests/kube/real_node.py (a real kubelet + containerd).

The search uses the median stopping rule on a hostPath volume: a running trial is stopped early, its
pod deleted, and its process exits 143 on SIGTERM (the trial contract's clean stop) within the grace
period; trial pods run with the securityContext the operator sets for hostPath (uid 0, no
capabilities, as the root-owned folder the kubelet would create needs); the winner is promoted to
the folder and loads with ``hyperprune.load_model``.
"""

from __future__ import annotations

import re

import pytest
from kubernetes import client

import hyperprune

from .cluster import create_namespace, wait_until
from .chart_operator import PodHistory, wait_terminated
from .operator_support import by_id, create_search, get_search, phase, tiny_search, wait_events, wait_for_search
from .real_node import TRIAL_IMAGE

pytestmark = pytest.mark.node

ONE_THREAD = [{"name": "OMP_NUM_THREADS", "value": "1"}]  # 2 shared cores: no oversubscribed OpenMP


def _zeros(model) -> float:
    """The fraction of zero weights in the model's matrices."""
    matrices = [p for p in model.parameters() if p.dim() == 2]
    return float(sum((m == 0).sum() for m in matrices) / sum(m.numel() for m in matrices))


def test_the_chart_runs_the_operator_as_a_container_of_its_image(node_api, chart_operator, real_node):
    pod = chart_operator.pod()
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "hyperprune-operator:0.1.0"
    (status,) = pod["status"]["containerStatuses"]
    assert status["ready"] and status["imageID"].startswith("sha256:")  # imported, never pulled
    assert pod["spec"]["nodeName"] == real_node.name and not pod["spec"].get("hostNetwork")
    # The image's numeric non-root user and the chart's restricted securityContext.
    assert pod["spec"]["securityContext"]["runAsUser"] == 65532 and container["securityContext"]["readOnlyRootFilesystem"]
    assert "hyperprune_handler_errors_total" in chart_operator.metrics()  # served at the pod's address


@pytest.fixture(scope="module")
def median_search(node_api, chart_operator, tmp_path_factory):
    """A median-rule search on a hostPath volume (a folder on the node), run to completion."""
    namespace = create_namespace(node_api, "node")
    folder = tmp_path_factory.mktemp("hostpath-volume")
    body = tiny_search("median", epochs=5, strategy="median", dense={"enabled": False})
    spec = body["spec"]
    spec.pop("space")
    # One at a time: the second candidate starts when the first is done, so when it reports epoch 1 the
    # median rule compares it with a finished trial and stops it while it runs (random pruning of
    # 95% of the weights against 10% by magnitude: it is far worse from the first epoch on).
    spec["candidates"] = [{"method": "magnitude", "sparsity": 0.1, "params": {"pruneEpoch": 0}},
                          {"method": "random", "sparsity": 0.95}]
    spec["budget"] = {"maxTrials": 2, "parallelism": 1, "retries": 0, "maxFailedTrials": 0}
    spec["strategy"] = {"name": "median", "median": {"graceEpochs": 1, "minTrials": 1}, "generation": {"sampler": "random"}}
    spec["training"].update(maxBatches=40)  # epochs of a second or two: the stop lands while it trains
    spec["trialTemplate"] = {"image": TRIAL_IMAGE, "env": ONE_THREAD,
                             "volume": {"mountPath": "/data", "hostPath": {"path": str(folder)}}}
    spec["output"] = {"path": "model"}
    with PodHistory(node_api, namespace) as history:
        create_search(node_api, namespace, body)
        wait_for_search(node_api, namespace, "median", lambda s: phase(s) in ("Succeeded", "Failed"), 600,
                        "the median search to finish", chart_operator)
        wait_terminated(node_api, namespace, history)
    yield namespace, folder, history
    client.CoreV1Api(node_api).delete_namespace(namespace)


def test_a_running_trial_stopped_early_gets_sigterm_and_exits_cleanly(node_api, median_search):
    namespace, folder, history = median_search
    trials = by_id(node_api, namespace)
    status = get_search(node_api, namespace, "median")["status"]
    assert status["phase"] == "Succeeded", status.get("message")
    (stopped,) = [t for t in trials.values() if t["status"]["phase"] == "stopped"]
    s, name = stopped["status"], stopped["metadata"]["name"]
    assert "worse than the median" in s["stopReason"] and s["epoch"] < 5
    pod = f"{name}-1"
    # Deleted behind the operator's step; the pod object goes once the kubelet confirms its end.
    wait_until(lambda: pod in history.deleted, 120, f"pod {pod} to be deleted")
    # The trial caught SIGTERM mid-epoch and kept its checkpoint, in its own words on the volume ...
    log = (folder / "median" / stopped["spec"]["trialId"] / "trial.log").read_text()
    assert re.search(r"received SIGTERM (during|while evaluating) epoch \d+; the checkpoint of epoch \d+ is kept", log), log
    # ... and exited by itself with 143 = 128 + SIGTERM within the pod's grace period (a kill at its
    # end would read 137), when the kubelet reported the container's end at all.
    assert history.exit_code(pod) in (143, None), history.last.get(pod, {}).get("status")
    assert {e["involvedObject"]["name"] for e in wait_events(node_api, namespace, "Stopped")} == {name}


def test_trials_on_a_hostpath_volume_run_as_root_and_the_winner_loads_from_it(node_api, median_search):
    namespace, folder, history = median_search
    pods = [p for p in history.last.values() if p["metadata"]["labels"].get("app.kubernetes.io/component") == "trial"]
    assert pods
    for pod in pods:  # the kubelet would create a missing hostPath folder root-owned: the default runs as root
        assert pod["spec"]["securityContext"]["runAsUser"] == 0
        assert pod["spec"]["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    status = get_search(node_api, namespace, "median")["status"]
    best = status["best"]["trialId"]
    assert status["promotion"]["phase"] == "Succeeded" and status["promotion"]["volume"] == f"hostPath:{folder}"
    assert (folder / "median" / best / "reports.jsonl").is_file()
    (completed,) = [tid for tid, t in by_id(node_api, namespace).items() if t["status"]["phase"] == "completed"]
    assert best == completed
    model, config = hyperprune.load_model(folder / "median" / "model")
    assert config.trial_id == best and _zeros(model) > 0.05
