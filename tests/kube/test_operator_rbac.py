"""The trial pods' ServiceAccount may patch ``hyperprunetrials/status`` in its namespace and nothing else:
the push reporter works with it, every other request is forbidden (403) by the real RBAC authorizer.
"""

from __future__ import annotations

import uuid

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from hyperprune.trial.kube_reporter import KubeReporter
from hyperprune.contract.report import TrialReport
from hyperprune_operator import manifests
from hyperprune_operator.kube import Kube
from hyperprune_operator.validation import parse
from hyperprune.spec import Point

from .cluster import service_account_token
from .operator_support import GROUP, SEARCHES, TRIALS, VERSION, create_search, custom, get_trial, tiny_search

pytestmark = pytest.mark.kube


def _search_and_trial(api, namespace: str) -> str:
    body = create_search(api, namespace, tiny_search("rbac"))
    search, issues = parse(body)
    assert not issues
    trial = manifests.trial_resource(body, search, "t000", "candidate", Point.of("random", 0.5), 1)
    Kube(api).create_trial(trial)
    return trial["metadata"]["name"]


def _forbidden(call) -> None:
    with pytest.raises(ApiException) as err:
        call()
    assert err.value.status == 403, err.value.body


def test_the_trial_service_account_may_only_patch_trial_status(kube_cluster, kube_api, kube_namespace,
                                                                hyperprune_crds):
    core = client.CoreV1Api(kube_api)
    other = f"t-{uuid.uuid4().hex[:10]}"
    core.create_namespace({"metadata": {"name": other, "labels": {"hyperprune.dev/test": "true"}}})
    try:
        kube = Kube(kube_api)
        for body in manifests.trial_rbac(kube_namespace):  # what the operator creates per namespace
            kube.ensure(body)
        name = _search_and_trial(kube_api, kube_namespace)
        foreign = _search_and_trial(kube_api, other)
        token, _ = service_account_token(core, kube_namespace, "hyperprune-trial")
        as_trial = kube_cluster.api_client(token=token)
        objects, pods = client.CustomObjectsApi(as_trial), client.CoreV1Api(as_trial)

        # Allowed: exactly what the kube reporter does.
        reporter = KubeReporter(objects, kube_namespace, name, run=0, pod="p-1")
        reporter.report(TrialReport(trial_id="t000", epoch=1, metric="perplexity", mode="min", val_metric=41.5,
                                    lyapunov=[-0.1, -0.5]))
        stored = get_trial(kube_api, kube_namespace, name)["status"]["reports"]["1"]
        assert stored["valMetric"] == 41.5 and stored["lyapunov"] == [-0.1, -0.5] and stored["pod"] == "p-1"

        merge = {"_content_type": "application/merge-patch+json"}
        status_patch = {"status": {"reports": {}}}
        _forbidden(lambda: objects.get_namespaced_custom_object(GROUP, VERSION, kube_namespace, TRIALS, name))
        _forbidden(lambda: objects.list_namespaced_custom_object(GROUP, VERSION, kube_namespace, TRIALS))
        _forbidden(lambda: objects.patch_namespaced_custom_object(
            GROUP, VERSION, kube_namespace, TRIALS, name, {"spec": {"targetEpoch": 9}}, **merge))
        _forbidden(lambda: objects.delete_namespaced_custom_object(GROUP, VERSION, kube_namespace, TRIALS, name))
        _forbidden(lambda: objects.patch_namespaced_custom_object_status(
            GROUP, VERSION, other, TRIALS, foreign, status_patch, **merge))  # another namespace
        _forbidden(lambda: objects.get_namespaced_custom_object(GROUP, VERSION, kube_namespace, SEARCHES, "rbac"))
        _forbidden(lambda: objects.patch_namespaced_custom_object_status(
            GROUP, VERSION, kube_namespace, SEARCHES, "rbac", {"status": {"phase": "Succeeded"}}, **merge))
        _forbidden(lambda: pods.list_namespaced_pod(kube_namespace))
        _forbidden(lambda: pods.create_namespaced_pod(kube_namespace, {
            "metadata": {"name": "x"}, "spec": {"containers": [{"name": "x", "image": "x"}]}}))
        _forbidden(lambda: pods.list_namespaced_secret(kube_namespace))
        _forbidden(lambda: pods.create_namespaced_event(kube_namespace, {
            "metadata": {"name": "x"}, "involvedObject": {"name": name}}))
        as_trial.close()
    finally:
        core.delete_namespace(other)
        custom(kube_api).delete_namespaced_custom_object(GROUP, VERSION, kube_namespace, SEARCHES, "rbac")
