"""The real node (scripts/node: a kubelet + containerd + runc) does what the operator relies on: the
scheduler binds pods to it and fits them to its advertised GPUs, containers of the trial image run,
share a claim and end with the kubelet's exit codes and reasons, a deleted pod's process gets SIGTERM
then SIGKILL after its grace period, and a pod talks to the API server as its own ServiceAccount
through the ``kubernetes`` Service address (scripts/node forwards it: there is no kube-proxy).

Node: tests/kube/real_node.py, for every test here.
"""

from __future__ import annotations

import json
import os
import time

import pytest
from kubernetes import client

from .cluster import service_account_token, wait_until
from .real_node import local_claim, python_pod

pytestmark = pytest.mark.node


def wait_for_phase(core, namespace: str, name: str, phases: tuple[str, ...], timeout: float = 120):
    def phase_reached():
        pod = core.read_namespaced_pod(name, namespace)
        return pod if pod.status.phase in phases else None

    try:
        return wait_until(phase_reached, timeout, f"pod {namespace}/{name} to reach {phases}")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; status: {core.read_namespaced_pod(name, namespace).status}") from None


def log_of(core, namespace: str, name: str) -> str:
    return core.read_namespaced_pod_log(name, namespace)  # through the API server and the kubelet


def gone(core, namespace: str, name: str) -> bool:
    return not [p for p in core.list_namespaced_pod(namespace).items if p.metadata.name == name]


WRITER = """
    import os, pathlib, sys
    target = pathlib.Path(sys.argv[1])
    assert pathlib.Path(os.environ["CKPT_DIR"]).is_dir(), os.environ["CKPT_DIR"]
    target.write_text(os.environ["POD_NAME"])
    print("wrote", target, os.getuid())
"""
READER = """
    import pathlib, sys
    text = pathlib.Path(sys.argv[1]).read_text()
    print("read", repr(text))
    sys.exit(0 if text == "writer" else 1)
"""


def test_pods_are_scheduled_run_and_share_their_claim(node_api, real_node, node_namespace, tmp_path):
    core, ns = client.CoreV1Api(node_api), node_namespace
    claim = local_claim(node_api, ns, "ckpt", tmp_path / "claim", real_node.name)
    try:
        core.create_namespaced_pod(ns, python_pod("writer", WRITER, args=("/ckpt/hello.txt",), claim=claim, gpus=1,
                                                  env={"CKPT_DIR": "/ckpt"}))
        pod = wait_for_phase(core, ns, "writer", ("Succeeded", "Failed"))
        assert pod.status.phase == "Succeeded", log_of(core, ns, "writer")
        assert pod.spec.node_name == real_node.name  # bound by the real scheduler, not by the test
        assert any(c.type == "PodScheduled" and c.status == "True" for c in pod.status.conditions)
        terminated = pod.status.container_statuses[0].state.terminated
        assert (terminated.exit_code, terminated.reason) == (0, "Completed")
        assert terminated.started_at is not None and terminated.finished_at is not None
        assert (tmp_path / "claim" / "hello.txt").read_text() == "writer"  # on the node's disk
        assert "wrote /ckpt/hello.txt 1000" in log_of(core, ns, "writer")  # the image's user

        # A second pod on the same claim sees the file; $(VAR) in args is expanded by the kubelet.
        core.create_namespaced_pod(ns, python_pod("reader", READER, args=("$(CKPT_DIR)/hello.txt",), claim=claim,
                                                  env={"CKPT_DIR": "/ckpt"}))
        pod = wait_for_phase(core, ns, "reader", ("Succeeded", "Failed"))
        assert pod.status.phase == "Succeeded", log_of(core, ns, "reader")
        assert "read 'writer'" in log_of(core, ns, "reader")
    finally:
        core.delete_persistent_volume(f"pv-{ns}-ckpt")  # removed once its claim goes with the namespace


def test_failing_and_unstartable_pods_end_failed(node_api, real_node, node_namespace):
    core, ns = client.CoreV1Api(node_api), node_namespace
    core.create_namespaced_pod(ns, python_pod("fails", "import sys; print('bye'); sys.exit(3)"))
    unstartable = python_pod("unstartable", "")
    unstartable["spec"]["containers"][0]["command"] = ["hyperprune-no-such-command"]
    core.create_namespaced_pod(ns, unstartable)

    pod = wait_for_phase(core, ns, "fails", ("Succeeded", "Failed"))
    terminated = pod.status.container_statuses[0].state.terminated
    assert (pod.status.phase, terminated.exit_code, terminated.reason) == ("Failed", 3, "Error")
    assert "bye" in log_of(core, ns, "fails")

    pod = wait_for_phase(core, ns, "unstartable", ("Succeeded", "Failed"))
    terminated = pod.status.container_statuses[0].state.terminated
    assert pod.status.phase == "Failed" and terminated.reason == "StartError"
    assert "hyperprune-no-such-command" in terminated.message


@pytest.mark.parametrize("ignores_sigterm", [False, True], ids=["sigterm", "sigkill-after-grace"])
def test_deleting_a_running_pod_kills_its_process(node_api, real_node, node_namespace, ignores_sigterm):
    core, ns = client.CoreV1Api(node_api), node_namespace
    code = """
        import signal, sys, time
        if sys.argv[1] == "ignore":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("up", flush=True)
        time.sleep(600)
    """
    pod = python_pod("sleeper", code, args=("ignore" if ignores_sigterm else "obey",))
    pod["spec"]["terminationGracePeriodSeconds"] = 2
    core.create_namespaced_pod(ns, pod)
    pod = wait_for_phase(core, ns, "sleeper", ("Running", "Succeeded", "Failed"))
    assert pod.status.phase == "Running"
    assert pod.status.container_statuses[0].state.running.started_at is not None
    wait_until(lambda: "up" in log_of(core, ns, "sleeper").splitlines(), 30, "the process to start")
    pid = real_node.container_pid(core.api_client.sanitize_for_serialization(pod))
    os.kill(pid, 0)  # the process is really there, on this machine

    started = time.monotonic()
    core.delete_namespaced_pod("sleeper", ns)  # a graceful delete: the kubelet sends SIGTERM first
    wait_until(lambda: gone(core, ns, "sleeper"), 60, "the deleted pod to disappear")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    if ignores_sigterm:  # SIGKILL came only once the pod's 2 s grace period was over
        assert time.monotonic() - started >= 1.9


WHOAMI = """
    import json, os
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    config.load_config()                              # in-cluster: the mounted token, KUBERNETES_SERVICE_*
    ns = os.environ["POD_NAMESPACE"]
    review = client.AuthorizationV1Api().create_self_subject_access_review(
        {"spec": {"resourceAttributes": {"namespace": ns, "verb": "list", "resource": "pods"}}})
    result = {"can_list_pods": review.status.allowed,
              "service_host": os.environ["KUBERNETES_SERVICE_HOST"],
              "config": client.CoreV1Api().read_namespaced_config_map("allowed", ns).data}
    try:
        client.CoreV1Api().list_namespaced_pod(ns)
        result["list_pods"] = "allowed"
    except ApiException as exc:
        result["list_pods"] = exc.status
        result["message"] = json.loads(exc.body)["message"]
    print("RESULT " + json.dumps(result))
"""


def test_a_pod_talks_to_the_api_server_as_its_service_account(node_api, real_node, node_namespace):
    core, rbac, ns = client.CoreV1Api(node_api), client.RbacAuthorizationV1Api(node_api), node_namespace
    core.create_namespaced_service_account(ns, {"metadata": {"name": "trial-runner"}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "allowed"}, "data": {"k": "v"}})
    rbac.create_namespaced_role(ns, {"metadata": {"name": "read-config"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]})
    rbac.create_namespaced_role_binding(ns, {
        "metadata": {"name": "read-config"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-config"},
        "subjects": [{"kind": "ServiceAccount", "name": "trial-runner", "namespace": ns}]})
    service_account_token(core, ns, "trial-runner")  # pods are rejected until the account has its token
    pod = python_pod("whoami", WHOAMI, service_account="trial-runner")
    pod["spec"]["containers"][0]["env"].append(
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}})
    core.create_namespaced_pod(ns, pod)

    pod = wait_for_phase(core, ns, "whoami", ("Succeeded", "Failed"))
    log_text = log_of(core, ns, "whoami")
    assert pod.status.phase == "Succeeded", log_text
    result = json.loads(next(line for line in log_text.splitlines() if line.startswith("RESULT "))[7:])
    assert result["service_host"] == "10.0.0.1"  # the kubernetes Service, TLS verified with the pod's CA
    assert result["config"] == {"k": "v"}  # what its Role allows works ...
    assert result["can_list_pods"] is False  # ... and `kubectl auth can-i list pods` says no
    assert result["list_pods"] == 403
    assert f'User "system:serviceaccount:{ns}:trial-runner" cannot list resource "pods"' in result["message"]


def test_the_scheduler_fits_pods_to_the_nodes_gpus(node_api, real_node, node_namespace):
    core, ns = client.CoreV1Api(node_api), node_namespace
    core.create_namespaced_pod(ns, python_pod("greedy", "pass", gpus=3))  # the node advertises 2

    def unschedulable():
        conditions = core.read_namespaced_pod("greedy", ns).status.conditions or []
        return next((c for c in conditions if c.type == "PodScheduled" and c.reason == "Unschedulable"), None)

    condition = wait_until(unschedulable, 30, "the scheduler to report the pod Unschedulable")
    assert "Insufficient nvidia.com/gpu" in condition.message
    assert core.read_namespaced_pod("greedy", ns).spec.node_name is None
