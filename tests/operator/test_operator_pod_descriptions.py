"""How a trial pod's end or its failure to start is told to users (trial messages and Events): the
kubelet's and the scheduler's reasons, in words, with their own detail kept."""

from __future__ import annotations

from hyperprune_operator.pods import describe_pod_end, describe_pod_wait


def pod(phase: str, *, waiting: dict | None = None, terminated: dict | None = None,
        scheduled: dict | None = None) -> dict:
    status: dict = {"phase": phase}
    if waiting or terminated:
        status["containerStatuses"] = [{"state": {"waiting": waiting} if waiting else {"terminated": terminated}}]
    if scheduled:
        status["conditions"] = [{"type": "PodScheduled", "status": "False", **scheduled}]
    return {"metadata": {"name": "s-t000-1"}, "status": status}


def test_an_oom_killed_container_is_said_to_have_exceeded_its_memory_limit():
    text = describe_pod_end(pod("Failed", terminated={"exitCode": 137, "reason": "OOMKilled",
                                                      "message": "epoch 1/4: training\n"}))
    assert text.startswith("pod s-t000-1 failed with exit code 137 (OOMKilled: the container used more memory than "
                           "its limit (trialTemplate.resources.limits.memory) and was killed)")
    assert text.endswith(": epoch 1/4: training")


def test_other_ends_keep_the_kubelets_reason_and_the_last_log_line():
    text = describe_pod_end(pod("Failed", terminated={"exitCode": 1, "reason": "Error",
                                                      "message": "Traceback ...\nValueError: boom"}))
    assert text == "pod s-t000-1 failed with exit code 1 (Error): ValueError: boom"


def test_a_pod_that_cannot_start_says_why_in_words_and_keeps_the_detail():
    never = pod("Pending", waiting={"reason": "ErrImageNeverPull",
                                    "message": 'Container image "hyperprune-trial:nope" is not present with pull '
                                               'policy of Never'})
    assert describe_pod_wait(never) == (
        "pod s-t000-1 cannot start: its image is not on the node and imagePullPolicy is Never (ErrImageNeverPull: "
        'Container image "hyperprune-trial:nope" is not present with pull policy of Never)')
    backoff = pod("Pending", waiting={"reason": "ImagePullBackOff", "message": 'Back-off pulling image "x:1"'})
    assert "its image cannot be pulled (ImagePullBackOff: Back-off pulling image" in describe_pod_wait(backoff)
    unschedulable = pod("Pending", scheduled={"reason": "Unschedulable",
                                              "message": "0/1 nodes are available: 1 Insufficient cpu."})
    assert describe_pod_wait(unschedulable) == (
        "pod s-t000-1 cannot start: no node can take it (not enough free CPU, memory or GPUs, or no node matches "
        "its nodeSelector, affinity or tolerations) (Unschedulable: 0/1 nodes are available: 1 Insufficient cpu.)")
    odd = pod("Pending", waiting={"reason": "SomethingNew"})
    assert describe_pod_wait(odd) == "pod s-t000-1 cannot start: it is stuck (SomethingNew)"


def test_a_pod_on_its_way_or_running_has_nothing_to_explain():
    assert describe_pod_wait(pod("Pending")) is None
    assert describe_pod_wait(pod("Pending", waiting={"reason": "ContainerCreating"})) is None
    assert describe_pod_wait(pod("Running")) is None
    assert describe_pod_wait(pod("Failed", terminated={"exitCode": 1, "reason": "Error"})) is None
