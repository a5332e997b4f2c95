"""The objects the operator creates, as pure functions of the search and trial."""

from __future__ import annotations

import json

import pytest

from hyperprune.spec.trial_resource import TrialResourceSpec
from hyperprune.contract.trial import TrialConfig
from hyperprune_operator import manifests, naming
from hyperprune_operator.rbac import TRIAL_RULES, operator_rules
from hyperprune_operator.validation import parse
from hyperprune.spec import Point
from operator_fakes import small_search

TEMPLATE = {
    "image": "registry.example/hyperprune-trial:1.2",
    "imagePullPolicy": "Always",
    "resources": {"limits": {"nvidia.com/gpu": 1, "memory": "8Gi"}, "requests": {"cpu": 2}},
    "nodeSelector": {"accelerator": "a100"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}},
    "serviceAccountName": "trials",
    "imagePullSecrets": [{"name": "registry"}],
    "volume": {"mountPath": "/data", "persistentVolumeClaim": {"claimName": "ckpt"}},
    "env": [{"name": "HF_HOME", "value": "/data/hf"},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
    "labels": {"team": "nlp"},
    "annotations": {"note": "x"},
}


def search_and_body(name: str = "gpu", **spec):
    spec.setdefault("trialTemplate", TEMPLATE)
    body = small_search(name, **spec)
    body["metadata"]["uid"] = "search-uid"
    search, issues = parse(body)
    assert not issues, issues
    return search, body


def trial_body(search, body, trial_id="t003", role="candidate", params=None):
    params = params or Point.of("magnitude", 0.6)
    trial = manifests.trial_resource(body, search, trial_id, role, params, 1)
    trial["metadata"]["uid"] = "trial-uid"
    return trial


def test_the_trial_resource_pins_its_config_and_is_owned_by_the_search():
    search, body = search_and_body()
    trial = trial_body(search, body)
    assert trial["metadata"]["name"] == "gpu-t003"
    (owner,) = trial["metadata"]["ownerReferences"]
    assert owner == {"apiVersion": "hyperprune.io/v1alpha1", "kind": "HyperpruneSearch", "name": "gpu",
                     "uid": "search-uid", "controller": True, "blockOwnerDeletion": True}
    spec = TrialResourceSpec.model_validate(trial["spec"])  # what the CRD's schema describes
    assert spec.config == search.spec.trial_config("t003", Point.from_json(trial["spec"]["params"]))
    assert spec.config.pruning.method == "magnitude" and spec.config.pruning.sparsity == 0.6
    assert trial["metadata"]["labels"][naming.LABEL_SEARCH] == "gpu"


def test_the_trial_pod_carries_everything_the_template_sets():
    search, body = search_and_body()
    trial = trial_body(search, body)
    pod = manifests.trial_pod(search, trial, attempt=2, run=0, until_epoch=3)
    meta, spec = pod["metadata"], pod["spec"]
    assert meta["name"] == "gpu-t003-2" and meta["ownerReferences"][0]["uid"] == "trial-uid"
    assert meta["labels"]["team"] == "nlp" and meta["labels"][naming.LABEL_ATTEMPT] == "2"
    assert meta["annotations"] == {"note": "x", naming.ANNOTATION_UNTIL: "3", naming.ANNOTATION_RUN: "0"}
    assert spec["restartPolicy"] == "Never" and spec["serviceAccountName"] == "trials"
    assert spec["nodeSelector"] == TEMPLATE["nodeSelector"] and spec["tolerations"] == TEMPLATE["tolerations"]
    assert spec["affinity"] == TEMPLATE["affinity"] and spec["imagePullSecrets"] == [{"name": "registry"}]
    assert spec["volumes"] == [{"name": "trial-data", "persistentVolumeClaim": {"claimName": "ckpt", "readOnly": False}}]
    (c,) = spec["containers"]
    assert c["image"] == TEMPLATE["image"] and c["imagePullPolicy"] == "Always"
    assert c["command"] == ["hyperprune", "trial"]
    assert c["args"] == ["--config-env", "HYPERPRUNE_TRIAL_CONFIG", "--workdir", "/data/gpu/t003",
                         "--until-epoch", "3", "--reporter", "kube"]
    assert c["resources"] == {"limits": {"nvidia.com/gpu": "1", "memory": "8Gi"}, "requests": {"cpu": "2"}}
    assert c["volumeMounts"] == [{"name": "trial-data", "mountPath": "/data"}]
    env = {e["name"]: e for e in c["env"]}
    assert TrialConfig.model_validate_json(env["HYPERPRUNE_TRIAL_CONFIG"]["value"]) == \
        TrialConfig.model_validate(trial["spec"]["config"])
    assert env["HYPERPRUNE_TRIAL_NAME"]["value"] == "gpu-t003" and env["HYPERPRUNE_TRIAL_RUN"]["value"] == "0"
    assert env["HYPERPRUNE_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["TOKEN"] == {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
    assert env["HF_HOME"] == {"name": "HF_HOME", "value": "/data/hf"}


def test_a_retrain_from_scratch_gets_a_fresh_work_dir():
    search, body = search_and_body()
    pod = manifests.trial_pod(search, trial_body(search, body), attempt=3, run=2, until_epoch=5)
    args = pod["spec"]["containers"][0]["args"]
    assert args[args.index("--workdir") + 1] == "/data/gpu/t003-r2"
    assert {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}["HYPERPRUNE_TRIAL_RUN"] == "2"


def test_the_promotion_pod_copies_the_winners_model_on_the_same_volume():
    search, body = search_and_body()
    pod = manifests.promotion_pod(search, body, trial_id="t003", run=0, attempt=1)
    assert pod["metadata"]["name"] == "gpu-promote-1" and pod["metadata"]["ownerReferences"][0]["uid"] == "search-uid"
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False and spec["volumes"] == manifests_volume(search)
    (c,) = spec["containers"]
    assert c["command"] == ["python", "-m", "hyperprune_operator.promote"]
    assert c["args"] == ["--source", "/data/gpu/t003/model", "--dest", "/data/gpu/best", "--search", "gpu",
                         "--trial", "t003"]
    assert "resources" not in c  # it needs no GPU


def _pods(search, body):
    trial = trial_body(search, body)
    return [manifests.trial_pod(search, trial, attempt=1, run=0, until_epoch=3),
            manifests.promotion_pod(search, body, trial_id="t003", run=0, attempt=1)]


@pytest.mark.parametrize("volume, expected", [
    # The trial image's user; fsGroup makes a claim writable to it.
    ({"persistentVolumeClaim": {"claimName": "ckpt"}},
     {"runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000, "runAsNonRoot": True}),
    # The kubelet creates a hostPath root-owned and fsGroup does not apply to it: uid 1000 could not write.
    ({"hostPath": {"path": "/var/lib/hyperprune"}}, {"runAsUser": 0, "runAsGroup": 0}),
])
def test_trial_and_promotion_pods_run_as_a_user_that_can_write_the_volume(volume, expected):
    search, body = search_and_body(trialTemplate={**TEMPLATE, "volume": {"mountPath": "/data", **volume}})
    pods = _pods(search, body)
    assert len(pods) == 2  # a trial pod and a promotion pod
    for pod in pods:
        assert pod["spec"]["securityContext"] == {**expected, "seccompProfile": {"type": "RuntimeDefault"}}
        (c,) = pod["spec"]["containers"]
        assert c["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def test_a_security_context_in_the_template_replaces_the_default():
    mine = {"runAsUser": 2000, "runAsGroup": 3000, "fsGroup": 3000, "supplementalGroups": [44]}
    search, body = search_and_body(trialTemplate={**TEMPLATE, "securityContext": mine})
    pods = _pods(search, body)
    assert len(pods) == 2
    for pod in pods:
        assert pod["spec"]["securityContext"] == mine


def manifests_volume(search):
    return [manifests.volume(search)]


@pytest.mark.parametrize("path, expected", [
    ("best", ("gpu/best", "/data/gpu/best")),
    ("models/best", ("gpu/models/best", "/data/gpu/models/best")),
    ("./models//best/", ("gpu/models/best", "/data/gpu/models/best")),
    ("/shared/best", None),  # another search's folder could be there: as locally, inside the search's folder only
    ("../best", None),
    ("../../x", None),
    ("/", None),
    (".", None),
    ("t003", None),  # a trial's work dir
    ("dense-r1", None),
])
def test_the_output_location_stays_in_the_searchs_folder(path, expected):
    search, _ = search_and_body(output={"path": path}) if expected else (None, None)
    if expected is None:
        body = small_search("gpu", trialTemplate=TEMPLATE, output={"path": path})
        search, issues = parse(body)
        assert search is None and any(i.startswith("spec.output.path:") for i in issues)
        return
    assert manifests.output_location(search) == expected


def test_trial_rbac_grants_one_verb_on_one_subresource():
    objects = manifests.trial_rbac("research")
    assert [o["kind"] for o in objects] == ["ServiceAccount", "Role", "RoleBinding"]
    assert objects[1]["rules"] == [{"apiGroups": ["hyperprune.io"], "resources": ["hyperprunetrials/status"],
                                    "verbs": ["patch"]}] == list(TRIAL_RULES)
    assert objects[2]["subjects"] == [{"kind": "ServiceAccount", "name": "hyperprune-trial", "namespace": "research"}]


def test_operator_rules_cover_what_the_worker_does():
    rules = operator_rules(all_namespaces=True)
    verbs = {(g, r): set(rule["verbs"]) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]}
    assert {"create", "patch", "delete", "watch"} <= verbs[("hyperprune.io", "hyperprunetrials")]
    assert {"create", "delete", "watch"} <= verbs[("", "pods")]
    assert "patch" in verbs[("hyperprune.io", "hyperprunesearches/status")]
    assert ("kopf.dev", "clusterkopfpeerings") in verbs
    assert ("kopf.dev", "clusterkopfpeerings") not in {
        (g, r) for rule in operator_rules(all_namespaces=False) for g in rule["apiGroups"] for r in rule["resources"]}


def test_names_fit_kubernetes_limits():
    assert naming.label_value("short") == "short"
    long = "s" * 80
    value = naming.label_value(long)
    assert len(value) <= 63 and value == naming.label_value(long) and value != naming.label_value(long + "x")
    assert naming.derived_names_fit("a" * 200, 1000)
    assert not naming.derived_names_fit("a" * 240, 1000)
    body = small_search("a" * 240)
    search, issues = parse(body)
    assert search is None and issues[0].startswith("metadata.name: too long")


def test_events_name_the_object_they_are_about():
    event = manifests.event({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "n", "uid": "u"}},
                            reason="Stopped", message="x" * 2000, now="2026-01-01T00:00:00Z")
    assert event["involvedObject"] == {"apiVersion": "v1", "kind": "Pod", "name": "p", "namespace": "n", "uid": "u"}
    assert len(event["message"]) == 1024 and event["type"] == "Normal" and json.dumps(event)


def test_a_search_without_max_trials_is_accepted_and_bounded_by_its_space():
    # budget.maxTrials is optional (the space's or the pool's size, else 16): the operator's own
    # checks once read it as a number and crashed on a search that leaves it out.
    body = small_search("no-max")
    del body["spec"]["budget"]["maxTrials"]
    search, issues = parse(body)
    assert not issues and search is not None
    assert search.spec.budget.max_trials is None and search.spec.max_candidates() == 10  # 2 methods x 5 levels


def test_a_task_search_names_lyapunov_k_on_a_cluster_and_its_trials_carry_the_task():
    # A task's spectrum is as large as its model's state, which only its trials know; a trial object
    # holds its spectra, so the operator asks for k instead of risking etcd's object limit.
    body = small_search("task")
    body["metadata"]["uid"] = "search-uid"
    del body["spec"]["model"]
    body["spec"]["task"] = {"entryPoint": "forecast.task:make_task", "metric": "mae", "mode": "min"}
    search, issues = parse(body)
    assert search is None and len(issues) == 1 and issues[0].startswith("spec.lyapunov.k: a task's spectrum")
    body["spec"].setdefault("lyapunov", {})["k"] = 32
    search, issues = parse(body)
    assert not issues, issues
    trial = trial_body(search, body)
    assert trial["spec"]["config"]["task"]["entryPoint"] == "forecast.task:make_task"
    assert search.spec.metric == "mae" and search.spec.metric_mode == "min"
