"""End to end on a real node: the Helm chart installed with the operator as a container of its image
(built from the Dockerfile), HyperpruneSearches whose trial pods run the real trial image under
containerd and runc, and the promoted model loaded back from the volume with ``hyperprune.load_model``.

Node: tests/kube/real_node.py (a real kubelet + containerd; no node agent anywhere in this module).

Two searches, one per kind of trial volume, with the securityContext the operator sets by default:
- hostPath (the default volume kind; trial pods run as uid 0, as a root-owned hostPath needs), the
  lsh strategy: reports reach the trials' status, candidates far from the dense spectrum are stopped
  at the first rung and their pods deleted, the survivors continue in new pods from their
  checkpoints, the winner is promoted;
- a PersistentVolumeClaim bound to a ``local`` PersistentVolume (trial pods run as the image's
  uid 1000 with fsGroup 1000, which makes the volume theirs), the median strategy: a running trial is
  stopped early, its pod deleted, and its process exits 143 on SIGTERM (the trial contract's clean
  stop) within the grace period.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from kubernetes import client

import hyperprune

from .chart_operator import PodHistory, wait_terminated
from .operator_support import (
    by_id,
    create_search,
    events,
    get_search,
    list_pods,
    phase,
    tiny_search,
    wait_for_search,
)
from .real_node import TRIAL_IMAGE, local_volume

pytestmark = pytest.mark.node

CANDIDATES, EPOCHS = 4, 3
ONE_THREAD = [{"name": "OMP_NUM_THREADS", "value": "1"}]  # 2 shared cores: no oversubscribed OpenMP


def _namespace(api) -> str:
    name = f"node-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name, "labels": {"hyperprune.dev/test": "true"}}})
    return name


def _zeros(model) -> float:
    """The fraction of zero weights in the model's matrices."""
    matrices = [p for p in model.parameters() if p.dim() == 2]
    return float(sum((m == 0).sum() for m in matrices) / sum(m.numel() for m in matrices))


def _logs(api, namespace: str, pod: str) -> str:
    return client.CoreV1Api(api).read_namespaced_pod_log(pod, namespace)


@pytest.fixture(scope="module")
def hostpath_search(node_api, chart_operator, tmp_path_factory):
    """An lsh search on a hostPath volume, run to completion: (namespace, its folder on the node, pods)."""
    namespace = _namespace(node_api)
    volume = tmp_path_factory.mktemp("hostpath-volume")
    body = tiny_search("hp", candidates=CANDIDATES, epochs=EPOCHS)
    body["spec"]["trialTemplate"] = {"image": TRIAL_IMAGE, "env": ONE_THREAD,
                                     "volume": {"mountPath": "/var/lib/hyperprune", "hostPath": {"path": str(volume)}}}
    with PodHistory(node_api, namespace) as history:
        create_search(node_api, namespace, body)
        wait_for_search(node_api, namespace, "hp", lambda s: phase(s) in ("Succeeded", "Failed"), 600,
                        "the hostPath search to finish", chart_operator)
        wait_terminated(node_api, namespace)
    yield namespace, volume, history
    client.CoreV1Api(node_api).delete_namespace(namespace)


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


def test_the_search_succeeds_with_reports_in_every_trials_status(node_api, hostpath_search):
    namespace, _, _ = hostpath_search
    status = get_search(node_api, namespace, "hp")["status"]
    assert status["phase"] == "Succeeded", status.get("message")
    assert status["trials"]["total"] == CANDIDATES + 1
    for trial in by_id(node_api, namespace).values():
        s = trial["status"]
        assert sorted(map(int, s["reports"])) == list(range(1, s["epoch"] + 1))
        for report in s["reports"].values():
            assert report["pod"].startswith(trial["metadata"]["name"] + "-")  # sent from inside the trial's pod


def test_stopped_trials_pods_are_deleted_and_survivors_resume_from_their_checkpoints(node_api, hostpath_search):
    namespace, volume, history = hostpath_search
    trials = by_id(node_api, namespace)
    stopped = [t for t in trials.values() if t["status"]["phase"] == "stopped"]
    survivors = [t for t in trials.values() if t["spec"]["role"] == "candidate" and t["status"]["phase"] == "completed"]
    assert stopped and survivors
    live = {p["metadata"]["name"] for p in list_pods(node_api, namespace) if not p["metadata"].get("deletionTimestamp")}
    for trial in stopped:
        name = trial["metadata"]["name"]
        assert not [p for p in live if p.startswith(name + "-")]
        assert f"{name}-1" in history.deleted
        assert history.terminated(f"{name}-1").get("exitCode") == 0  # it had reached its rung and paused
    for trial in survivors:
        s, name = trial["status"], trial["metadata"]["name"]
        assert s["attempt"] == 2 and s["failures"] == 0 and s["epochsSpent"] == EPOCHS
        log = _logs(node_api, namespace, f"{name}-2")
        assert f"resumed {trial['spec']['trialId']} from epoch 1" in log and "epoch 1/" not in log
        # The checkpoint lives on the node's hostPath folder, written by the container as uid 0.
        workdir = volume / "hp" / trial["spec"]["trialId"]
        assert (workdir / "reports.jsonl").is_file() and workdir.stat().st_uid == 0


def test_the_winner_is_promoted_to_the_hostpath_volume_and_loads(node_api, hostpath_search):
    namespace, volume, _ = hostpath_search
    status = get_search(node_api, namespace, "hp")["status"]
    best = status["best"]["trialId"]
    assert status["promotion"]["phase"] == "Succeeded" and status["promotion"]["volume"] == f"hostPath:{volume}"
    folder = volume / "hp" / "best"
    assert json.loads((folder / "PROMOTED.json").read_text())["trial"] == best
    model, config = hyperprune.load_model(folder)
    assert config.trial_id == best and _zeros(model) > 0.05  # the pruned weights, as trained in the pod
    (event,) = events(node_api, namespace, "Promoted")
    assert "hp/best" in event["message"]


@pytest.fixture(scope="module")
def claim_search(node_api, chart_operator, real_node, tmp_path_factory):
    """A median-rule search on a PVC (a local PersistentVolume on the node), run to completion."""
    namespace = _namespace(node_api)
    folder = tmp_path_factory.mktemp("local-volume")
    core = client.CoreV1Api(node_api)
    local_volume(node_api, f"pv-{namespace}", folder, real_node.name, (namespace, "checkpoints"))
    core.create_namespaced_persistent_volume_claim(namespace, {
        "metadata": {"name": "checkpoints"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "", "resources": {"requests": {"storage": "1Gi"}}}})
    body = tiny_search("pvc", epochs=5, strategy="median", dense={"enabled": False})
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
                             "volume": {"mountPath": "/data", "persistentVolumeClaim": {"claimName": "checkpoints"}}}
    spec["output"] = {"path": "model"}
    with PodHistory(node_api, namespace) as history:
        create_search(node_api, namespace, body)
        wait_for_search(node_api, namespace, "pvc", lambda s: phase(s) in ("Succeeded", "Failed"), 600,
                        "the PVC search to finish", chart_operator)
        wait_terminated(node_api, namespace)
    yield namespace, folder, history
    core.delete_namespace(namespace)
    core.delete_persistent_volume(f"pv-{namespace}")


def test_a_running_trial_stopped_early_gets_sigterm_and_exits_cleanly(node_api, claim_search):
    namespace, _, history = claim_search
    trials = by_id(node_api, namespace)
    status = get_search(node_api, namespace, "pvc")["status"]
    assert status["phase"] == "Succeeded", status.get("message")
    (stopped,) = [t for t in trials.values() if t["status"]["phase"] == "stopped"]
    s, name = stopped["status"], stopped["metadata"]["name"]
    assert "worse than the median" in s["stopReason"] and s["epoch"] < 5
    pod = f"{name}-1"
    assert pod in history.deleted
    ended = history.terminated(pod)
    # 143 = 128 + SIGTERM: the trial caught the signal, kept its checkpoint and exited by itself,
    # within the pod's grace period (a kill at its end would read 137).
    assert ended.get("exitCode") == 143, history.last.get(pod, {}).get("status")
    assert {e["involvedObject"]["name"] for e in events(node_api, namespace, "Stopped")} == {name}


def test_trials_on_a_claim_run_as_the_images_user_and_the_winner_loads_from_it(node_api, claim_search):
    namespace, folder, history = claim_search
    pods = [p for p in history.last.values() if p["metadata"]["labels"].get("app.kubernetes.io/component") == "trial"]
    assert pods
    for pod in pods:
        context = pod["spec"]["securityContext"]
        assert (context["runAsUser"], context["fsGroup"], context["runAsNonRoot"]) == (1000, 1000, True)
    status = get_search(node_api, namespace, "pvc")["status"]
    best = status["best"]["trialId"]
    assert status["promotion"]["volume"] == "persistentVolumeClaim:checkpoints"
    workdir = folder / "pvc" / best
    assert workdir.stat().st_uid == 1000 and workdir.stat().st_gid == 1000  # written by the container's user
    model, config = hyperprune.load_model(folder / "pvc" / "model")
    assert config.trial_id == best and _zeros(model) > 0.05
    assert re.fullmatch(r"t00[01]", best)
