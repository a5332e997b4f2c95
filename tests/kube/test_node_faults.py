"""Bad input and faults on a real node, with the operator the chart installed: an image that cannot
start, a trial container killed by its memory limit, a pod no node has room for, and trial pods
deleted by hand or killed while they train.

Node: tests/kube/real_node.py (a real kubelet + containerd) for every test here; the process kill
goes through the container's host PID, as an OOM killer or a crash would. What each failure did is
said in the trial's status and in an Event, in words; budget.retries and budget.maxFailedTrials
apply; the search, its trials and their messages stay for the user to read.
"""

from __future__ import annotations

import os
import re
import signal
import uuid

import pytest
from kubernetes import client

from .cluster import wait_until
from .chart_operator import PodHistory, wait_terminated
from .operator_support import (
    by_id,
    create_search,
    events,
    get_search,
    get_trial,
    list_pods,
    phase,
    tiny_search,
    wait_for_search,
)
from .real_node import TRIAL_IMAGE

pytestmark = pytest.mark.node

ONE_THREAD = [{"name": "OMP_NUM_THREADS", "value": "1"}]


def _namespace(api) -> str:
    name = f"node-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name, "labels": {"hyperprune.dev/test": "true"}}})
    return name


def one_trial(name: str, volume: str, *, retries: int, **template) -> dict:
    """A search of one candidate, no dense reference, nothing tolerated: its trial's failure fails it."""
    body = tiny_search(name, candidates=1, epochs=2, strategy="full", dense={"enabled": False})
    body["spec"]["budget"] = {"maxTrials": 1, "parallelism": 1, "retries": retries, "maxFailedTrials": 0}
    body["spec"]["trialTemplate"] = {"image": TRIAL_IMAGE, "env": ONE_THREAD,
                                     "volume": {"hostPath": {"path": volume}}, **template}
    return body


@pytest.fixture(scope="module")
def bad_searches(node_api, chart_operator, tmp_path_factory):
    """Three searches that cannot succeed, run at once to their end: (namespace, history)."""
    namespace = _namespace(node_api)
    volume = str(tmp_path_factory.mktemp("bad-input-volume"))
    searches = [
        one_trial("no-image", volume, retries=1, image="hyperprune-trial:not-built", imagePullPolicy="Never",
                  startTimeoutSeconds=15),
        one_trial("oom", volume, retries=1, resources={"limits": {"memory": "64Mi"}}),
        one_trial("no-room", volume, retries=0, resources={"requests": {"cpu": "64"}}, startTimeoutSeconds=10),
    ]
    with PodHistory(node_api, namespace) as history:
        for body in searches:
            create_search(node_api, namespace, body)
        for body in searches:
            wait_for_search(node_api, namespace, body["metadata"]["name"], lambda s: phase(s) in ("Succeeded", "Failed"),
                            300, f"search {body['metadata']['name']} to end", chart_operator)
        wait_terminated(node_api, namespace)
    yield namespace, history
    client.CoreV1Api(node_api).delete_namespace(namespace)


def _warnings(api, namespace: str, trial: str, reason: str) -> list[str]:
    return [e["message"] for e in events(api, namespace, reason)
            if e["involvedObject"]["name"] == trial and e["type"] == "Warning"]


def test_an_image_that_cannot_start_fails_its_attempts_at_the_start_timeout(node_api, bad_searches):
    namespace, history = bad_searches
    waiting = sorted(_warnings(node_api, namespace, "no-image-t000", "PodNotStarting"))
    assert len(waiting) == 2  # one per pod: each attempt's pod could not start
    for attempt, message in enumerate(waiting, 1):
        assert message.startswith(f"pod no-image-t000-{attempt} cannot start: its image is not on the node and "
                                  'imagePullPolicy is Never (ErrImageNeverPull: Container image '
                                  '"hyperprune-trial:not-built" is not present')
        assert "counts as a failed attempt 15 s after it was created (trialTemplate.startTimeoutSeconds)" in message
    s = get_trial(node_api, namespace, "no-image-t000")["status"]
    assert s["phase"] == "failed" and s["attempt"] == 2 and s["failures"] == 2  # budget.retries = 1
    assert "crashed 2 times (budget.retries = 1)" in s["stopReason"]
    assert "pod no-image-t000-2 did not start within 15 s (trialTemplate.startTimeoutSeconds): its image is not on " \
           "the node" in s["stopReason"]
    assert s["pod"]["reason"] == "ErrImageNeverPull"
    search = get_search(node_api, namespace, "no-image")["status"]
    assert search["phase"] == "Failed" and "more than budget.maxFailedTrials = 0" in search["message"]
    assert {"no-image-t000-1", "no-image-t000-2"} <= history.deleted  # the operator removed both pods
    (failed,) = _warnings(node_api, namespace, "no-image-t000", "Failed")
    assert "did not start within 15 s" in failed


def test_a_container_killed_by_its_memory_limit_is_said_to_be_oom_killed(node_api, bad_searches):
    namespace, history = bad_searches
    s = get_search(node_api, namespace, "oom")["status"]
    assert s["phase"] == "Failed"
    trial = get_trial(node_api, namespace, "oom-t000")["status"]
    assert trial["phase"] == "failed" and trial["failures"] == 2
    assert trial["pod"]["exitCode"] == 137 and trial["pod"]["reason"] == "OOMKilled"
    assert "pod oom-t000-2 failed with exit code 137 (OOMKilled: the container used more memory than its limit " \
           "(trialTemplate.resources.limits.memory) and was killed)" in trial["stopReason"]
    for pod in ("oom-t000-1", "oom-t000-2"):
        ended = history.terminated(pod)
        assert (ended.get("exitCode"), ended.get("reason")) == (137, "OOMKilled"), pod
    (retried,) = [e["message"] for e in events(node_api, namespace, "Continued")
                  if e["involvedObject"]["name"] == "oom-t000"]
    assert "retry 1 of 1" in retried and "OOMKilled" in retried
    assert "used more memory than its limit" in _warnings(node_api, namespace, "oom-t000", "Failed")[0]


def test_a_pod_no_node_has_room_for_fails_its_attempt_at_the_start_timeout(node_api, bad_searches):
    namespace, _ = bad_searches
    (waiting,) = _warnings(node_api, namespace, "no-room-t000", "PodNotStarting")
    assert waiting.startswith("pod no-room-t000-1 cannot start: no node can take it (not enough free CPU, memory or "
                              "GPUs, or no node matches its nodeSelector, affinity or tolerations) (Unschedulable: "
                              "0/1 nodes are available: 1 Insufficient cpu.)")
    trial = get_trial(node_api, namespace, "no-room-t000")["status"]
    assert trial["phase"] == "failed" and trial["failures"] == 1 and trial["attempt"] == 1
    assert "not retried" not in trial["stopReason"] and "budget.retries = 0" in trial["stopReason"]
    assert "did not start within 10 s" in trial["stopReason"] and "Insufficient cpu" in trial["stopReason"]
    assert get_search(node_api, namespace, "no-room")["status"]["phase"] == "Failed"
    assert not [p for p in list_pods(node_api, namespace) if p["metadata"]["name"].startswith("no-room-")]


def test_pods_deleted_by_hand_or_killed_resume_their_trials_from_checkpoints(node_api, chart_operator, real_node,
                                                                             tmp_path):
    namespace = _namespace(node_api)
    epochs = 6
    body = tiny_search("resume", candidates=2, epochs=epochs, strategy="full", dense={"enabled": False})
    body["spec"]["data"] = {"corpus": "synthetic", "syntheticTokens": 60000, "syntheticVocab": 40}
    body["spec"]["model"] = {"arch": "lstm", "hiddenSize": 128}
    body["spec"]["training"].update(maxBatches=100, batchSize=10, bptt=20)  # about a second per epoch
    body["spec"]["trialTemplate"] = {"image": TRIAL_IMAGE, "env": ONE_THREAD,
                                     "volume": {"hostPath": {"path": str(tmp_path)}}}
    core = client.CoreV1Api(node_api)
    with PodHistory(node_api, namespace) as history:
        create_search(node_api, namespace, body)

        def training_at_least(epoch):
            trials = by_id(node_api, namespace)
            ready = {tid: t for tid, t in trials.items()
                     if len((t.get("status") or {}).get("reports") or {}) >= epoch
                     and t["status"].get("epoch", 0) < epochs and t["status"].get("pod", {}).get("phase") == "Running"}
            return ready if len(ready) == 2 else None

        trials = wait_until(lambda: training_at_least(2), 300, "both trials to report epoch 2")
        deleted, killed = trials["t000"]["status"]["pod"]["name"], trials["t001"]["status"]["pod"]["name"]
        core.delete_namespaced_pod(deleted, namespace)  # by hand, as a user would
        pod = core.api_client.sanitize_for_serialization(core.read_namespaced_pod(killed, namespace))
        os.kill(real_node.container_pid(pod), signal.SIGKILL)  # the trial's process dies: exit 137
        search = wait_for_search(node_api, namespace, "resume", lambda s: phase(s) in ("Succeeded", "Failed"), 300,
                                 "the search to finish", chart_operator)
        wait_terminated(node_api, namespace)
    assert search["status"]["phase"] == "Succeeded", search["status"]["message"]
    assert history.terminated(deleted).get("exitCode") == 143  # SIGTERM, caught: a clean stop
    assert history.terminated(killed).get("exitCode") == 137
    final = by_id(node_api, namespace)
    for tid, how in (("t000", "was deleted while the trial was running"), ("t001", "failed with exit code 137")):
        s = final[tid]["status"]
        assert s["phase"] == "completed" and s["failures"] == 1 and s["attempt"] == 2, s
        assert how in s["message"]
        assert s["epochsSpent"] == epochs  # resumed: no epoch trained twice
        log = core.read_namespaced_pod_log(f"resume-{tid}-2", namespace)
        resumed = re.search(rf"resumed {tid} from epoch (\d+)", log)
        assert resumed and int(resumed.group(1)) >= 2, log[-3000:]
        assert f"epoch 1/{epochs}:" not in log and f"epoch {epochs}/{epochs}:" in log
    retried = [e for e in events(node_api, namespace, "Continued") if "retry 1 of 1" in e["message"]]
    assert {e["involvedObject"]["name"] for e in retried} == {"resume-t000", "resume-t001"}
    core.delete_namespace(namespace)
