"""The real control plane does what the operator relies on, and the test node agent plays the kubelet.

One cluster per session (``kube_cluster``); each test works in its own namespace.
"""

from __future__ import annotations

import json
import os
import textwrap
import time

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .cluster import create_hostpath_pv, register_node, service_account_token, wait_until
from .conftest import require_component
from .node_agent import NodeAgent

pytestmark = pytest.mark.kube

GROUP, VERSION, PLURAL, KIND = "kubetest.hyperprune.dev", "v1", "probes", "Probe"
PROBE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": PLURAL, "singular": "probe", "kind": KIND, "listKind": f"{KIND}List"},
        "versions": [{
            "name": VERSION, "served": True, "storage": True,
            "subresources": {"status": {}},
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": {"type": "object", "required": ["strategy", "epochs"], "properties": {
                        "strategy": {"type": "string", "enum": ["lsh", "lsh-sync", "full"]},
                        "epochs": {"type": "integer", "minimum": 1, "maximum": 1000},
                    }},
                    "status": {"type": "object", "properties": {
                        "phase": {"type": "string"},
                        "rung": {"type": "integer"},
                    }},
                },
            }},
        }],
    },
}


# --------------------------------------------------------------------------------------------------
# helpers

@pytest.fixture(scope="module")
def probe_crd(kube_api):
    ext = client.ApiextensionsV1Api(kube_api)
    name = PROBE_CRD["metadata"]["name"]
    try:
        ext.create_custom_resource_definition(PROBE_CRD)
    except ApiException as exc:
        if exc.status != 409:  # left by an earlier module of this session: same definition
            raise

    def established():
        crd = ext.read_custom_resource_definition(name)
        return any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])

    wait_until(established, 30, f"CRD {name} to be Established")
    yield name
    ext.delete_custom_resource_definition(name)


def create_probe(api, namespace: str, name: str, spec: dict) -> dict:
    objects = client.CustomObjectsApi(api)
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": {"name": name}, "spec": spec}

    def attempt():
        try:
            return objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        except ApiException as exc:
            if exc.status == 404:  # the new resource's handler can lag Established by a moment
                return None
            raise

    return wait_until(attempt, 10, f"the {PLURAL} endpoint")


def forbidden(call) -> str:
    with pytest.raises(ApiException) as err:
        call()
    assert err.value.status == 403, err.value.body
    return err.value.body


def gone(read, namespace: str, name: str) -> bool:
    """Whether ``read(name, namespace)`` (a read_namespaced_* method) answers 404."""
    try:
        read(name, namespace)
    except ApiException as exc:
        return exc.status == 404
    return False


def wait_for_phase(core, agent, namespace: str, name: str, phases: tuple[str, ...], timeout: float = 60):
    def phase_reached():
        pod = core.read_namespaced_pod(name, namespace)
        return pod if pod.status.phase in phases else None

    try:
        return wait_until(phase_reached, timeout, f"pod {namespace}/{name} to reach {phases}")
    except TimeoutError as exc:
        pod = core.read_namespaced_pod(name, namespace)
        raise AssertionError(f"{exc}; status: {pod.status}\nlog:\n{agent.log_text(namespace, name)}") from None


def python_pod(name: str, code: str, *, args: tuple[str, ...] = (), claim: str | None = None, gpus: int = 0,
               service_account: str | None = None, env: dict[str, str] | None = None) -> dict:
    container = {
        "name": "trial", "image": "hyperprune-trial:test",  # never pulled: the node agent runs the command
        "command": ["python", "-c", textwrap.dedent(code)], "args": list(args),
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                *({"name": k, "value": v} for k, v in (env or {}).items())],
    }
    spec: dict = {"restartPolicy": "Never", "containers": [container], "terminationGracePeriodSeconds": 5}
    if claim:
        container["volumeMounts"] = [{"name": "ckpt", "mountPath": "/ckpt"}]
        spec["volumes"] = [{"name": "ckpt", "persistentVolumeClaim": {"claimName": claim}}]
    if gpus:
        container["resources"] = {"limits": {"nvidia.com/gpu": str(gpus)}}
    if service_account:
        spec["serviceAccountName"] = service_account
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


@pytest.fixture
def checkpoint_claim(kube_api, kube_namespace) -> str:
    """A bound PVC named ``ckpt`` (its PV pre-bound to it; the PV binder controller completes the bind)."""
    core = client.CoreV1Api(kube_api)
    create_hostpath_pv(kube_api, f"pv-{kube_namespace}", claim=(kube_namespace, "ckpt"))
    core.create_namespaced_persistent_volume_claim(kube_namespace, {
        "metadata": {"name": "ckpt"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "",
                 "resources": {"requests": {"storage": "1Gi"}}}})
    wait_until(lambda: core.read_namespaced_persistent_volume_claim("ckpt", kube_namespace).status.phase == "Bound",
               30, "PVC ckpt to be Bound")
    yield "ckpt"
    core.delete_persistent_volume(f"pv-{kube_namespace}")


# --------------------------------------------------------------------------------------------------
# (a) and (b): CRD v1 structural schema and the status subresource

def test_crd_schema_rejects_invalid_custom_resources(kube_api, kube_namespace, probe_crd):
    good = create_probe(kube_api, kube_namespace, "good", {"strategy": "lsh", "epochs": 3, "junk": 1})
    assert good["spec"] == {"strategy": "lsh", "epochs": 3}  # unknown fields are pruned

    with pytest.raises(ApiException) as err:
        create_probe(kube_api, kube_namespace, "bad", {"strategy": "magic", "epochs": 0})
    assert err.value.status == 422
    message = json.loads(err.value.body)["message"]
    assert "spec.strategy" in message and "Unsupported value" in message, message
    assert "spec.epochs" in message and "greater than or equal to 1" in message, message

    with pytest.raises(ApiException) as err:
        create_probe(kube_api, kube_namespace, "incomplete", {"strategy": "full"})
    assert err.value.status == 422 and "spec.epochs" in err.value.body


def test_status_subresource_patch_leaves_spec_alone(kube_api, kube_namespace, probe_crd):
    objects = client.CustomObjectsApi(kube_api)
    created = create_probe(kube_api, kube_namespace, "demo", {"strategy": "full", "epochs": 5})
    generation = created["metadata"]["generation"]

    patched = objects.patch_namespaced_custom_object_status(
        GROUP, VERSION, kube_namespace, PLURAL, "demo",
        {"status": {"phase": "Running", "rung": 2}, "spec": {"epochs": 99}})
    assert patched["status"] == {"phase": "Running", "rung": 2}
    assert patched["spec"] == {"strategy": "full", "epochs": 5}
    assert patched["metadata"]["generation"] == generation

    # ... and the main resource ignores status, while a spec change bumps the generation.
    patched = objects.patch_namespaced_custom_object(
        GROUP, VERSION, kube_namespace, PLURAL, "demo", {"spec": {"epochs": 6}, "status": {"phase": "Hacked"}})
    assert patched["spec"]["epochs"] == 6 and patched["status"]["phase"] == "Running"
    assert patched["metadata"]["generation"] == generation + 1


# --------------------------------------------------------------------------------------------------
# (c) RBAC: a ServiceAccount that may only patch <plural>/status

def test_rbac_status_only_service_account(kube_cluster, kube_api, kube_namespace, probe_crd):
    require_component(kube_cluster, "kube-controller-manager")  # it makes the account's token
    ns = kube_namespace
    core, rbac = client.CoreV1Api(kube_api), client.RbacAuthorizationV1Api(kube_api)
    core.create_namespaced_service_account(ns, {"metadata": {"name": "status-writer"}})
    rbac.create_namespaced_role(ns, {"metadata": {"name": "probe-status"}, "rules": [
        {"apiGroups": [GROUP], "resources": [f"{PLURAL}/status"], "verbs": ["patch"]}]})
    rbac.create_namespaced_role_binding(ns, {
        "metadata": {"name": "probe-status"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "probe-status"},
        "subjects": [{"kind": "ServiceAccount", "name": "status-writer", "namespace": ns}]})
    create_probe(kube_api, ns, "guarded", {"strategy": "lsh", "epochs": 4})
    token, _ = service_account_token(core, ns, "status-writer")
    as_sa = kube_cluster.api_client(token=token)
    sa_objects, sa_core = client.CustomObjectsApi(as_sa), client.CoreV1Api(as_sa)

    def patch_status():
        try:
            return sa_objects.patch_namespaced_custom_object_status(
                GROUP, VERSION, ns, PLURAL, "guarded", {"status": {"phase": "Reported", "rung": 1}})
        except ApiException as exc:
            if exc.status == 403:  # the RBAC authorizer's cache may lag the new RoleBinding briefly
                return None
            raise

    assert wait_until(patch_status, 10, "the status patch to be allowed")["status"]["phase"] == "Reported"

    message = forbidden(lambda: sa_objects.patch_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, "guarded", {"spec": {"epochs": 7}}))
    assert f"system:serviceaccount:{ns}:status-writer" in message
    current = client.CustomObjectsApi(kube_api).get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, "guarded")
    forbidden(lambda: sa_objects.replace_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, "guarded", {**current, "spec": {"strategy": "full", "epochs": 9}}))
    forbidden(lambda: sa_core.list_namespaced_pod(ns))
    forbidden(lambda: sa_core.create_namespaced_pod(ns, python_pod("sneaky", "pass")))
    assert client.CustomObjectsApi(kube_api).get_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, "guarded")["spec"]["epochs"] == 4
    as_sa.close()


# --------------------------------------------------------------------------------------------------
# (d) ownerReference garbage collection

def test_garbage_collector_deletes_dependents(kube_cluster, kube_api, kube_namespace):
    require_component(kube_cluster, "kube-controller-manager")
    core, ns = client.CoreV1Api(kube_api), kube_namespace
    owner = core.create_namespaced_config_map(ns, {"metadata": {"name": "owner"}, "data": {"role": "owner"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    core.create_namespaced_config_map(ns, {"metadata": {"name": "child", "ownerReferences": [ref]}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "bystander"}})

    core.delete_namespaced_config_map("owner", ns)

    wait_until(lambda: gone(core.read_namespaced_config_map, ns, "child"), 30,
               "the garbage collector to delete the dependent ConfigMap")
    assert core.read_namespaced_config_map("bystander", ns).metadata.name == "bystander"


# --------------------------------------------------------------------------------------------------
# (e) real scheduler + the test node agent running pods as local processes

WRITER = """
    import os, pathlib, sys
    target = pathlib.Path(sys.argv[1])             # an arg under the mount path, rewritten by the agent
    assert pathlib.Path(os.environ["CKPT_DIR"]).is_dir(), os.environ["CKPT_DIR"]
    target.write_text(os.environ["POD_NAME"])
    print("wrote", target)
"""
READER = """
    import pathlib, sys
    text = pathlib.Path(sys.argv[1]).read_text()
    print("read", repr(text))
    sys.exit(0 if text == "writer" else 1)
"""


def test_pods_are_scheduled_run_and_share_their_claim(kube_api, kube_node, kube_namespace, checkpoint_claim):
    core, ns = client.CoreV1Api(kube_api), kube_namespace
    core.create_namespaced_pod(ns, python_pod("writer", WRITER, args=("/ckpt/hello.txt",), claim=checkpoint_claim,
                                              gpus=1, env={"CKPT_DIR": "/ckpt"}))
    pod = wait_for_phase(core, kube_node, ns, "writer", ("Succeeded", "Failed"))
    assert pod.status.phase == "Succeeded", kube_node.log_text(ns, "writer")
    assert pod.spec.node_name == kube_node.node_name  # bound by the real scheduler, not by the test
    assert any(c.type == "PodScheduled" and c.status == "True" for c in pod.status.conditions)
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (0, "Completed")
    assert terminated.started_at is not None and terminated.finished_at is not None
    assert (kube_node.claim_dir(ns, checkpoint_claim) / "hello.txt").read_text() == "writer"

    # A second pod on the same claim sees the file; $(VAR) in args is expanded like the kubelet does.
    core.create_namespaced_pod(ns, python_pod("reader", READER, args=("$(CKPT_DIR)/hello.txt",),
                                              claim=checkpoint_claim, env={"CKPT_DIR": "/ckpt"}))
    pod = wait_for_phase(core, kube_node, ns, "reader", ("Succeeded", "Failed"))
    assert pod.status.phase == "Succeeded", kube_node.log_text(ns, "reader")
    assert "read 'writer'" in kube_node.log_text(ns, "reader")


def test_failing_and_unstartable_pods_end_failed(kube_api, kube_node, kube_namespace):
    core, ns = client.CoreV1Api(kube_api), kube_namespace
    core.create_namespaced_pod(ns, python_pod("fails", "import sys; print('bye'); sys.exit(3)"))
    unstartable = python_pod("unstartable", "")
    unstartable["spec"]["containers"][0]["command"] = ["hyperprune-no-such-command"]
    core.create_namespaced_pod(ns, unstartable)

    pod = wait_for_phase(core, kube_node, ns, "fails", ("Succeeded", "Failed"))
    terminated = pod.status.container_statuses[0].state.terminated
    assert (pod.status.phase, terminated.exit_code, terminated.reason) == ("Failed", 3, "Error")
    assert "bye" in kube_node.log_text(ns, "fails")

    pod = wait_for_phase(core, kube_node, ns, "unstartable", ("Succeeded", "Failed"))
    assert pod.status.phase == "Failed"
    assert "hyperprune-no-such-command" in pod.status.message
    assert pod.status.container_statuses[0].state.terminated.reason == "StartError"


@pytest.mark.parametrize("ignores_sigterm", [False, True], ids=["sigterm", "sigkill-after-grace"])
def test_deleting_a_running_pod_kills_its_process(kube_api, kube_node, kube_namespace, ignores_sigterm):
    core, ns = client.CoreV1Api(kube_api), kube_namespace
    code = """
        import signal, sys, time
        if sys.argv[1] == "ignore":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("up", flush=True)
        time.sleep(600)
    """
    pod = python_pod("sleeper", code, args=("ignore" if ignores_sigterm else "obey",))
    pod["spec"]["terminationGracePeriodSeconds"] = 1
    core.create_namespaced_pod(ns, pod)
    pod = wait_for_phase(core, kube_node, ns, "sleeper", ("Running", "Succeeded", "Failed"))
    assert pod.status.phase == "Running"
    assert pod.status.container_statuses[0].state.running.started_at is not None
    wait_until(lambda: "up" in kube_node.log_text(ns, "sleeper").splitlines(), 20, "the process to start")
    pid = kube_node.pid_of(ns, "sleeper")
    os.kill(pid, 0)  # the process is really there

    started = time.monotonic()
    core.delete_namespaced_pod("sleeper", ns)  # a graceful delete: the agent sends SIGTERM first
    wait_until(lambda: gone(core.read_namespaced_pod, ns, "sleeper"), 20, "the deleted pod to disappear")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    if ignores_sigterm:  # SIGKILL came only once the pod's 1 s grace period was over
        assert time.monotonic() - started >= 0.9


def test_agent_stop_kills_its_processes_and_a_new_agent_fails_their_pods(kube_cluster, kube_api, kube_node,
                                                                         kube_namespace, tmp_path):
    core, ns, node = client.CoreV1Api(kube_api), kube_namespace, "hyperprune-stop-test-node"
    register_node(kube_api, node)
    try:
        pod = python_pod("orphan", "import time; time.sleep(600)")
        pod["spec"]["nodeName"] = node  # bound directly: this node's own agent, not kube_node's, runs it
        with NodeAgent(kube_cluster.kubeconfig, node, tmp_path / "first") as agent:
            core.create_namespaced_pod(ns, pod)
            assert wait_for_phase(core, agent, ns, "orphan", ("Running", "Failed")).status.phase == "Running"
            pid = agent.pid_of(ns, "orphan")
        with pytest.raises(ProcessLookupError):  # stop() killed it ...
            os.kill(pid, 0)
        assert core.read_namespaced_pod("orphan", ns).status.phase == "Running"  # ... and reported nothing

        with NodeAgent(kube_cluster.kubeconfig, node, tmp_path / "second") as again:
            pod = wait_for_phase(core, again, ns, "orphan", ("Failed",))
            assert pod.status.reason == "NodeAgentRestarted"
    finally:
        core.delete_node(node)


WHOAMI = """
    import json, os
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    config.load_config()                              # KUBECONFIG, written by the node agent
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


def test_pod_process_runs_as_its_service_account(kube_api, kube_node, kube_namespace):
    core, rbac, ns = client.CoreV1Api(kube_api), client.RbacAuthorizationV1Api(kube_api), kube_namespace
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

    pod = wait_for_phase(core, kube_node, ns, "whoami", ("Succeeded", "Failed"))
    log_text = kube_node.log_text(ns, "whoami")
    assert pod.status.phase == "Succeeded", log_text
    result = json.loads(next(line for line in log_text.splitlines() if line.startswith("RESULT "))[7:])
    assert result["service_host"] == "127.0.0.1"
    assert result["config"] == {"k": "v"}  # what its Role allows works ...
    assert result["can_list_pods"] is False  # ... and `kubectl auth can-i list pods` says no
    assert result["list_pods"] == 403
    assert f'User "system:serviceaccount:{ns}:trial-runner" cannot list resource "pods"' in result["message"]


def test_scheduler_fits_pods_to_gpu_capacity(kube_api, kube_node, kube_namespace):
    core, ns = client.CoreV1Api(kube_api), kube_namespace
    core.create_namespaced_pod(ns, python_pod("greedy", "pass", gpus=3))  # the node has 2

    def unschedulable():
        conditions = core.read_namespaced_pod("greedy", ns).status.conditions or []
        return next((c for c in conditions if c.type == "PodScheduled" and c.reason == "Unschedulable"), None)

    condition = wait_until(unschedulable, 30, "the scheduler to report the pod Unschedulable")
    assert "Insufficient nvidia.com/gpu" in condition.message
    assert core.read_namespaced_pod("greedy", ns).spec.node_name is None
