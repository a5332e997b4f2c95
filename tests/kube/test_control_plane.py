"""The real control plane does what the operator relies on: CRD schemas, the status subresource, RBAC,
garbage collection. (Pods running on a real node: test_real_node.py.)

One cluster per session (``kube_cluster``); each test works in its own namespace.
"""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .cluster import service_account_token, wait_until
from .conftest import require_component
from .real_node import python_pod

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
