"""The operator as users run it: the quickstart example starts trials without edits, and with kopf
peering a standby replica takes over when the active one dies.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml
from kubernetes import client

from hyperprune.contract.trial import TrialConfig
from hyperprune_operator.rbac import TRIAL_RULES

from .cluster import REPO, wait_until
from .operator_support import (
    OperatorProcess,
    create_search,
    get_search,
    list_pods,
    list_trials,
    operator_kubeconfig,
    phase,
    running_operator,
    tiny_search,
    wait_for_search,
)

pytestmark = pytest.mark.kube


def test_the_quickstart_example_starts_trials_without_edits(kube_cluster, kube_api, kube_namespace, hyperprune_crds,
                                                            tmp_path):
    # kube_cluster has no node: the trial pods are created and stay Pending (the quickstart's default
    # volume is hostPath /var/lib/hyperprune, on a node that would be this machine).
    document = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    core, rbac = client.CoreV1Api(kube_api), client.RbacAuthorizationV1Api(kube_api)
    # Cluster-wide, as a Helm install watching every namespace would run it (one ClusterRole).
    with running_operator(kube_cluster, kube_api, kube_namespace, tmp_path, "--all-namespaces") as operator:
        try:
            create_search(kube_api, kube_namespace, document)
            wait_until(lambda: len(list_pods(kube_api, kube_namespace)) >= 2, 60,
                       f"trial pods of the quickstart (operator log: {operator.log_path})")
            # The status is written after the step that created the pods: wait for it, do not race it.
            wait_until(lambda: phase(get_search(kube_api, kube_namespace, "quickstart")) == "Running", 60,
                       f"the quickstart's status to say Running (operator log: {operator.log_path})")
            trials = {t["metadata"]["name"]: t for t in list_trials(kube_api, kube_namespace)}
            assert {"quickstart-dense", "quickstart-t000"} <= set(trials)
            for pod in list_pods(kube_api, kube_namespace):
                spec = pod["spec"]
                (container,) = spec["containers"]
                assert container["image"] == "hyperprune-trial:0.1.0" and container["command"] == ["hyperprune", "trial"]
                args = container["args"]
                assert args[args.index("--reporter") + 1] == "kube"
                assert args[args.index("--workdir") + 1].startswith("/var/lib/hyperprune/quickstart/")
                assert spec["serviceAccountName"] == "hyperprune-trial" and spec["restartPolicy"] == "Never"
                assert spec["volumes"][0]["hostPath"]["path"] == "/var/lib/hyperprune"
                env = {e["name"]: e.get("value") for e in container["env"]}
                trial = trials[pod["metadata"]["ownerReferences"][0]["name"]]
                assert TrialConfig.model_validate_json(env["HYPERPRUNE_TRIAL_CONFIG"]) == \
                    TrialConfig.model_validate(trial["spec"]["config"])
                assert env["HYPERPRUNE_TRIAL_NAME"] == trial["metadata"]["name"]
            # The operator made the trial pods' identity: a ServiceAccount allowed one thing only.
            core.read_namespaced_service_account("hyperprune-trial", kube_namespace)
            role = rbac.read_namespaced_role("hyperprune-trial", kube_namespace)
            assert [(r.api_groups, r.resources, r.verbs, r.resource_names) for r in role.rules] == [
                (r["apiGroups"], r["resources"], r["verbs"], None) for r in TRIAL_RULES]
            binding = rbac.read_namespaced_role_binding("hyperprune-trial", kube_namespace)
            assert binding.subjects[0].name == "hyperprune-trial"
        finally:
            for pod in list_pods(kube_api, kube_namespace):  # never scheduled: nothing ran, nothing to wait for
                core.delete_namespaced_pod(pod["metadata"]["name"], kube_namespace, grace_period_seconds=0)


def test_a_standby_replica_takes_over_when_the_active_one_dies(kube_cluster, kube_api, kube_namespace,
                                                               hyperprune_crds, tmp_path):
    kubeconfig = operator_kubeconfig(kube_cluster, kube_api, kube_namespace, tmp_path)
    peering = ("--peering", "hyperprune", "--peering-lifetime", "4")
    active = OperatorProcess(kubeconfig, kube_namespace, tmp_path / "active.log", *peering, "--priority", "200")
    standby = OperatorProcess(kubeconfig, kube_namespace, tmp_path / "standby.log", *peering, "--priority", "100")
    invalid = tiny_search("first", strategy="full", dense={"enabled": False}, output={"path": "/"})
    try:
        active.start()
        standby.start()
        # Both start paused until they have seen the peering object; only the higher priority resumes.
        wait_until(lambda: "Resuming operations" in active.log_tail(400), 30,
                   f"the active replica to resume (log: {active.log_path})")
        wait_until(lambda: "Keep-alive in 'hyperprune'" in standby.log_tail(400), 30,
                   f"the standby's heartbeat (log: {standby.log_path})")
        # A search needing no pods: the Invalid phase shows which replica works.
        create_search(kube_api, kube_namespace, invalid)
        wait_for_search(kube_api, kube_namespace, "first", lambda s: phase(s) == "Invalid", 30, "the active replica",
                        active)
        assert re.search(r"worker for \S+/first started", active.log_tail(400))
        assert "worker for" not in standby.log_tail(400) and "Resuming operations" not in standby.log_tail(400)
        active.kill()
        create_search(kube_api, kube_namespace, dict(invalid, metadata={"name": "second"}))
        wait_for_search(kube_api, kube_namespace, "second", lambda s: phase(s) == "Invalid", 60,
                        "the standby to take over", standby)
        assert re.search(r"worker for \S+/second started", standby.log_tail(400))
    finally:
        active.kill()
        standby.stop()
    peerings = client.CustomObjectsApi(kube_api).list_namespaced_custom_object(
        "kopf.dev", "v1", kube_namespace, "kopfpeerings")["items"]
    assert [p["metadata"]["name"] for p in peerings] == ["hyperprune"]
    assert json.dumps(peerings[0].get("status") or {})  # heartbeats were written there
