"""Bad input and faults on a real node, with the operator the chart installed: an image that cannot
start, a trial container killed by its memory limit, a pod no node has room for, a config the trial
refuses, trial pods deleted by hand or killed while they train, and the operator's own container
killed mid-search (the kubelet restarts it).

Node: tests/kube/real_node.py (a real kubelet + containerd) for every test here; the process kill
goes through the container's host PID, as an OOM killer or a crash would. What each failure did is
said in the trial's status and in an Event, in words; budget.retries and budget.maxFailedTrials
apply; the search, its trials and their messages stay for the user to read.
"""

from __future__ import annotations

import os
import re
import signal

import pytest
from kubernetes import client

from .cluster import create_namespace, wait_until
from .chart_operator import PodHistory, wait_terminated
from .operator_support import (
    by_id,
    create_search,
    get_search,
    get_trial,
    list_pods,
    list_trials,
    phase,
    tiny_search,
    wait_events,
    wait_for_search,
)
from .real_node import TRIAL_IMAGE

pytestmark = pytest.mark.node

ONE_THREAD = [{"name": "OMP_NUM_THREADS", "value": "1"}]


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
    namespace = create_namespace(node_api, "node")
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
        wait_terminated(node_api, namespace, history)
    yield namespace, history
    client.CoreV1Api(node_api).delete_namespace(namespace)


def _warnings(api, namespace: str, trial: str, reason: str, count: int = 1) -> list[str]:
    """The messages of a trial's Warnings of ``reason``, once there are ``count``."""
    return [e["message"] for e in wait_events(api, namespace, reason, count, involved=trial, type_="Warning")]


def test_an_image_that_cannot_start_fails_its_attempts_at_the_start_timeout(node_api, bad_searches):
    namespace, history = bad_searches
    waiting = sorted(_warnings(node_api, namespace, "no-image-t000", "PodNotStarting", 2))
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
    (retried,) = [e["message"] for e in wait_events(node_api, namespace, "Continued", involved="oom-t000")]
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
    namespace = create_namespace(node_api, "node")
    epochs = 8
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

        # A trial reports an epoch, then checkpoints it: once epoch 3 is reported, epoch 2's
        # checkpoint is on disk, so a resume starts at epoch 2 or later.
        trials = wait_until(lambda: training_at_least(3), 300, "both trials to report epoch 3")
        deleted, killed = trials["t000"]["status"]["pod"]["name"], trials["t001"]["status"]["pod"]["name"]
        core.delete_namespaced_pod(deleted, namespace)  # by hand, as a user would
        pod = core.api_client.sanitize_for_serialization(core.read_namespaced_pod(killed, namespace))
        os.kill(real_node.container_pid(pod), signal.SIGKILL)  # the trial's process dies: exit 137
        search = wait_for_search(node_api, namespace, "resume", lambda s: phase(s) in ("Succeeded", "Failed"), 300,
                                 "the search to finish", chart_operator)
        wait_terminated(node_api, namespace, history)
    assert search["status"]["phase"] == "Succeeded", search["status"]["message"]
    # SIGTERM, caught: a clean stop, said in the trial's log on the volume (and with 143 when the
    # kubelet reported the end of a deleted pod's container at all); SIGKILL: 137.
    log = (tmp_path / "resume" / "t000" / "trial.log").read_text()
    assert re.search(r"received SIGTERM (during|while evaluating) epoch \d+; the checkpoint of epoch \d+ is kept", log)
    assert history.exit_code(deleted) in (143, None)
    assert history.exit_code(killed) == 137
    final = by_id(node_api, namespace)
    for tid, how in (("t000", "was deleted while the trial was running"), ("t001", "failed with exit code 137")):
        s = final[tid]["status"]
        assert s["phase"] == "completed" and s["failures"] == 1 and s["attempt"] == 2, s
        assert how in s["message"]
        assert s["epochsSpent"] == epochs
        log = core.read_namespaced_pod_log(f"resume-{tid}-2", namespace)
        resumed = re.search(rf"resumed {tid} from epoch (\d+)", log)
        assert resumed and int(resumed.group(1)) >= 2, log[-3000:]
        # Nothing up to the checkpoint is trained again; an epoch reported but not yet checkpointed
        # when the process died is (the kill can land between the two).
        checkpointed = int(resumed.group(1))
        assert [e for e in range(1, checkpointed + 1) if f"epoch {e}/{epochs}:" in log] == [], (tid, log[-3000:])
        assert all(f"epoch {e}/{epochs}:" in log for e in range(checkpointed + 1, epochs + 1)), (tid, log[-3000:])
    retried = [e for e in wait_events(node_api, namespace, "Continued", 2) if "retry 1 of 1" in e["message"]]
    assert {e["involvedObject"]["name"] for e in retried} == {"resume-t000", "resume-t001"}
    core.delete_namespace(namespace)


def test_the_operator_killed_mid_search_is_restarted_and_loses_or_duplicates_no_trial(node_api, chart_operator,
                                                                                    real_node, tmp_path):
    namespace = create_namespace(node_api, "node")
    candidates = 6
    body = tiny_search("restart", candidates=candidates)
    body["spec"]["trialTemplate"] = {"image": TRIAL_IMAGE, "env": ONE_THREAD, "resources": {"limits": {"nvidia.com/gpu": 1}},
                                     "volume": {"hostPath": {"path": str(tmp_path)}}}
    create_search(node_api, namespace, body)
    # Mid-search: the dense reference and two candidates exist, four candidates are still to come.
    wait_until(lambda: len(list_trials(node_api, namespace)) >= 3, 300, "three trials")
    pod = chart_operator.pod()
    restarts = pod["status"]["containerStatuses"][0]["restartCount"]
    os.kill(real_node.container_pid(pod), signal.SIGKILL)  # a crash: no clean-up, no last status write
    before = {t["metadata"]["name"]: t["metadata"]["uid"] for t in list_trials(node_api, namespace)}
    wait_until(lambda: chart_operator.pod()["status"]["containerStatuses"][0]["restartCount"] > restarts, 120,
               "the kubelet to restart the operator's container")
    search = wait_for_search(node_api, namespace, "restart", lambda s: phase(s) in ("Succeeded", "Failed"), 300,
                             "the restarted operator to finish the search", chart_operator)
    log = client.CoreV1Api(node_api).read_namespaced_pod_log(pod["metadata"]["name"], "hyperprune-system")
    status = search["status"]
    assert status["phase"] == "Succeeded", status["message"]
    trials = list_trials(node_api, namespace)
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
    # The restarted container (its log is the new one's) rebuilt the state from the resources and went on.
    assert re.search(rf"{namespace}/restart: loaded \d+ trials", log), log[-3000:]
    assert "stop t" in log or "promote t" in log
    client.CoreV1Api(node_api).delete_namespace(namespace)


def test_a_trial_that_refuses_its_config_fails_without_retries_and_counts_toward_max_failed_trials(
        node_api, chart_operator, tmp_path):
    namespace = create_namespace(node_api, "node")
    body = tiny_search("crash", candidates=2, strategy="full", dense={"enabled": False})
    # A data directory that does not exist in the pods: the trial exits 2 before training, which no
    # retry can change (budget.retries is not spent on it).
    body["spec"]["data"] = {"corpus": "text", "path": "/nonexistent/hyperprune-data"}
    body["spec"]["budget"].update(retries=1, maxFailedTrials=1)
    body["spec"]["trialTemplate"] = {"image": TRIAL_IMAGE, "env": ONE_THREAD, "volume": {"hostPath": {"path": str(tmp_path)}}}
    create_search(node_api, namespace, body)
    search = wait_for_search(node_api, namespace, "crash", lambda s: phase(s) in ("Succeeded", "Failed"), 300,
                             "the search to fail", chart_operator)
    status = search["status"]
    assert status["phase"] == "Failed" and status["outcome"] == "failed"
    assert "more than budget.maxFailedTrials = 1" in status["message"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Failed"]["status"] == "True" and conditions["Failed"]["reason"] == "SearchFailed"
    assert status["trials"]["failed"] == 2
    for trial in list_trials(node_api, namespace):
        s = trial["status"]
        assert s["phase"] == "failed" and s["failures"] == 1 and s["attempt"] == 1
        assert "not retried, the same error would recur" in s["stopReason"]
        assert s["pod"]["exitCode"] == 2 and s["pod"]["phase"] == "Failed"
        assert "data.path" in s["pod"]["message"]  # the trial's own words, the container's last log lines
    assert len(wait_events(node_api, namespace, "Failed", 2)) == 2
    client.CoreV1Api(node_api).delete_namespace(namespace)
