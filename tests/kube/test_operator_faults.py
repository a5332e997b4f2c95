"""Invalid searches on the real control plane: what the API server's schema refuses, and what only the
operator's rules find (an Invalid condition until the spec is fixed). No node is needed: nothing here
must run. (Faults of running trials and of the operator itself are on a real node:
test_node_faults.py.)
"""

from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException

from .operator_support import (
    GROUP,
    SEARCHES,
    VERSION,
    create_search,
    custom,
    list_trials,
    phase,
    running_operator,
    tiny_search,
    wait_events,
    wait_for_search,
)

pytestmark = pytest.mark.kube


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


def test_a_semantically_invalid_search_gets_an_invalid_condition_until_fixed(kube_cluster, kube_api, kube_namespace,
                                                                              hyperprune_crds, tmp_path):
    namespace = kube_namespace
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
        assert wait_events(kube_api, namespace, "Invalid")
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
