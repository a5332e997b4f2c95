"""Faults on the real control plane: the operator killed and restarted mid-search, trial pods deleted by
hand or killed, trials that keep crashing, invalid searches.
"""

from __future__ import annotations

import os
import re
import signal

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .cluster import wait_until
from .conftest import require_component
from .operator_support import (
    GROUP,
    SEARCHES,
    VERSION,
    OperatorProcess,
    by_id,
    create_claim,
    create_search,
    custom,
    events,
    get_search,
    list_trials,
    operator_kubeconfig,
    phase,
    pod_logs,
    running_operator,
    tiny_search,
    trial_commands_on_path,
    wait_for_search,
)

pytestmark = pytest.mark.kube


@pytest.fixture
def namespace(kube_cluster, kube_api, kube_node, kube_namespace, hyperprune_crds, trial_commands_on_path):
    """A test namespace with a bound claim ``data``, a running node agent and the CRDs."""
    require_component(kube_cluster, "kube-controller-manager")
    create_claim(kube_api, kube_namespace, agent=kube_node)
    yield kube_namespace
    client.CoreV1Api(kube_api).delete_persistent_volume(f"pv-{kube_namespace}-data")


def slow_search(name: str, *, candidates: int, epochs: int, **spec) -> dict:
    """Trials that take a few seconds (about 0.3 s per epoch), so a pod can be hit while it trains."""
    body = tiny_search(name, candidates=candidates, epochs=epochs, strategy="full",
                       dense={"enabled": False}, **spec)
    body["spec"]["data"] = {"corpus": "synthetic", "syntheticTokens": 60000, "syntheticVocab": 40}
    body["spec"]["model"] = {"arch": "lstm", "hiddenSize": 128}
    body["spec"]["training"].update(maxBatches=100, batchSize=10, bptt=20)
    return body


def test_operator_killed_mid_search_restarts_without_losing_or_duplicating_trials(
        kube_cluster, kube_api, namespace, tmp_path):
    candidates = 6
    kubeconfig = operator_kubeconfig(kube_cluster, kube_api, namespace, tmp_path)
    first = OperatorProcess(kubeconfig, namespace, tmp_path / "first.log").start()
    try:
        create_search(kube_api, namespace, tiny_search("restart", candidates=candidates))
        # Mid-search: the dense reference and two candidates exist, four candidates are still to come.
        wait_until(lambda: len(list_trials(kube_api, namespace)) >= 3, 120, "three trials")
    finally:
        first.kill()  # SIGKILL: no clean-up, no last status write
    before = {t["metadata"]["name"]: t["metadata"]["uid"] for t in list_trials(kube_api, namespace)}
    second = OperatorProcess(kubeconfig, namespace, tmp_path / "second.log").start()
    try:
        search = wait_for_search(kube_api, namespace, "restart", lambda s: phase(s) in ("Succeeded", "Failed"), 300,
                                 "the restarted operator to finish the search", second)
        second_log = second.log_tail(400)
    finally:
        second.stop()
    status = search["status"]
    assert status["phase"] == "Succeeded", status["message"]
    trials = list_trials(kube_api, namespace)
    ids = sorted(t["spec"]["trialId"] for t in trials)
    assert ids == ["dense"] + [f"t{i:03d}" for i in range(candidates)]  # none lost, none twice
    assert sorted(status["trialSummaries"]) == ["dense"] + [f"t{i:03d}" for i in range(candidates)]
    points = [repr(sorted(t["spec"]["params"].items())) for t in trials if t["spec"]["role"] == "candidate"]
    assert len(set(points)) == candidates  # no candidate proposed twice either
    for trial in trials:  # the trials from before the kill were kept, not recreated
        if trial["metadata"]["name"] in before:
            assert trial["metadata"]["uid"] == before[trial["metadata"]["name"]]
        s = trial["status"]
        assert s["phase"] in ("completed", "stopped") and s["failures"] == 0, (trial["metadata"]["name"], s)
    # The restarted operator rebuilt the state from the resources and went on deciding.
    assert re.search(r"loaded \d+ trials", second_log)
    assert f"start t{candidates - 1:03d}" in second_log
    assert "stop t" in second_log or "promote t" in second_log


def test_pods_deleted_by_hand_or_killed_resume_their_trials_from_checkpoints(
        kube_cluster, kube_api, kube_node, namespace, tmp_path):
    epochs = 8
    with running_operator(kube_cluster, kube_api, namespace, tmp_path) as operator:
        create_search(kube_api, namespace, slow_search("resume", candidates=2, epochs=epochs))

        def training_at_least(epoch):
            trials = by_id(kube_api, namespace)
            ready = {tid: t for tid, t in trials.items()
                     if len((t.get("status") or {}).get("reports") or {}) >= epoch and t["status"].get("epoch", 0) < epochs}
            return ready if len(ready) == 2 else None

        # A trial reports an epoch, then checkpoints it: once epoch 3 is reported, epoch 2's
        # checkpoint is on disk, so a resume starts at epoch 2 or later.
        trials = wait_until(lambda: training_at_least(3), 120, "both trials to report epoch 3")
        deleted, killed = trials["t000"], trials["t001"]
        core = client.CoreV1Api(kube_api)
        core.delete_namespaced_pod(deleted["status"]["pod"]["name"], namespace)  # by hand, as a user would
        pid = kube_node.pid_of(namespace, killed["status"]["pod"]["name"])
        os.killpg(pid, signal.SIGKILL)  # the process dies: the pod fails (exit code 137)
        search = wait_for_search(kube_api, namespace, "resume", lambda s: phase(s) in ("Succeeded", "Failed"), 240,
                                 "the search to finish", operator)
    assert search["status"]["phase"] == "Succeeded", search["status"]["message"]
    final = by_id(kube_api, namespace)
    for tid, how in (("t000", "was deleted while the trial was running"), ("t001", "failed with exit code 137")):
        s = final[tid]["status"]
        assert s["phase"] == "completed" and s["failures"] == 1 and s["attempt"] == 2, s
        assert how in s["message"]
        log = pod_logs(kube_node, namespace, final[tid]["metadata"]["name"])
        resumed = re.search(rf"resumed {tid} from epoch (\d+)", log)
        assert resumed and int(resumed.group(1)) >= 2, log[-3000:]
        trained = [log.count(f"epoch {epoch}/{epochs}:") for epoch in range(1, epochs + 1)]
        # Nothing up to the checkpoint is trained again; an epoch reported but not yet checkpointed
        # when the process died is (the kill can land between the two).
        assert trained[:int(resumed.group(1))] == [1] * int(resumed.group(1)) and min(trained) >= 1, (tid, trained)
        assert s["epochsSpent"] == epochs
    failed_events = [e for e in events(kube_api, namespace, "Continued") if "retry 1 of 1" in e["message"]]
    assert {e["involvedObject"]["name"] for e in failed_events} == {"resume-t000", "resume-t001"}


def test_a_trial_that_refuses_its_config_fails_without_retries_and_counts_toward_max_failed_trials(
        kube_cluster, kube_api, namespace, tmp_path):
    body = tiny_search("crash", candidates=2, strategy="full", dense={"enabled": False})
    # A data directory that does not exist in the pods: the trial exits 2 before training, which no
    # retry can change (budget.retries is not spent on it).
    body["spec"]["data"] = {"corpus": "text", "path": "/nonexistent/hyperprune-data"}
    body["spec"]["budget"].update(retries=1, maxFailedTrials=1)
    with running_operator(kube_cluster, kube_api, namespace, tmp_path) as operator:
        create_search(kube_api, namespace, body)
        search = wait_for_search(kube_api, namespace, "crash", lambda s: phase(s) in ("Succeeded", "Failed"), 180,
                                 "the search to fail", operator)
    status = search["status"]
    assert status["phase"] == "Failed" and status["outcome"] == "failed"
    assert "more than budget.maxFailedTrials = 1" in status["message"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Failed"]["status"] == "True" and conditions["Failed"]["reason"] == "SearchFailed"
    assert status["trials"]["failed"] == 2
    for trial in list_trials(kube_api, namespace):
        s = trial["status"]
        assert s["phase"] == "failed" and s["failures"] == 1 and s["attempt"] == 1
        assert "not retried, the same error would recur" in s["stopReason"]
        assert s["pod"]["exitCode"] == 2 and s["pod"]["phase"] == "Failed"
    assert len(events(kube_api, namespace, "Failed")) == 2


def test_the_api_server_rejects_a_search_its_schema_forbids(kube_api, kube_namespace, hyperprune_crds):
    body = tiny_search("bad")
    body["spec"]["budget"]["parallelism"] = 0
    body["spec"]["strategy"]["name"] = "hyperband"
    body["spec"]["training"]["epochs"] = "many"
    with pytest.raises(ApiException) as err:
        create_search(kube_api, kube_namespace, body)
    assert err.value.status == 422
    for field in ("spec.budget.parallelism", "spec.strategy.name", "spec.training.epochs"):
        assert field in err.value.body, err.value.body


def test_a_semantically_invalid_search_gets_an_invalid_condition_until_fixed(kube_cluster, kube_api, namespace,
                                                                              tmp_path):
    body = tiny_search("semantic")
    body["spec"]["strategy"]["rungs"]["first"] = 9  # training ends at epoch 4
    body["spec"]["trialTemplate"]["volume"]["persistentVolumeClaim"]["readOnly"] = True  # a cluster-only rule
    with running_operator(kube_cluster, kube_api, namespace, tmp_path) as operator:
        create_search(kube_api, namespace, body)
        search = wait_for_search(kube_api, namespace, "semantic", lambda s: phase(s) == "Invalid", 60,
                                 "the Invalid phase", operator)
        status = search["status"]
        invalid = next(c for c in status["conditions"] if c["type"] == "Invalid")
        assert invalid["status"] == "True" and invalid["reason"] == "SpecInvalid" and invalid["observedGeneration"] == 1
        assert "spec.strategy.rungs.first: the first rung (epoch 9) must come before the end of training" in invalid["message"]
        assert not list_trials(kube_api, namespace)
        assert events(kube_api, namespace, "Invalid")
        assert operator.alive()  # no crashed handler: the operator still serves
        assert "hyperprune_handler_errors_total{handler=\"search-worker\"} 0.0" in operator.metrics()

        def patch(spec: dict) -> None:
            custom(kube_api).patch_namespaced_custom_object(GROUP, VERSION, namespace, SEARCHES, "semantic",
                                                            {"spec": spec}, _content_type="application/merge-patch+json")

        patch({"strategy": {"rungs": {"first": 1}}})  # a cluster-only rule remains broken
        read_only = "spec.trialTemplate.volume.persistentVolumeClaim.readOnly:"
        search = wait_for_search(kube_api, namespace, "semantic",
                                 lambda s: read_only in (s["status"].get("message") or ""), 60,
                                 "the read-only volume to be named", operator)
        invalid = next(c for c in search["status"]["conditions"] if c["type"] == "Invalid")
        assert invalid["status"] == "True" and invalid["observedGeneration"] == 2
        assert "mount it read-write" in invalid["message"] and not list_trials(kube_api, namespace)
        patch({"trialTemplate": {"volume": {"persistentVolumeClaim": {"readOnly": False}}}})
        search = wait_for_search(kube_api, namespace, "semantic",
                                 lambda s: phase(s) == "Running" and s["status"]["trials"]["total"] >= 2, 60,
                                 "the fixed search to start trials", operator)
        invalid = next(c for c in search["status"]["conditions"] if c["type"] == "Invalid")
        assert invalid["status"] == "False" and invalid["observedGeneration"] == 3
        assert search["status"]["observedGeneration"] == 3
        custom(kube_api).delete_namespaced_custom_object(GROUP, VERSION, namespace, SEARCHES, "semantic")
