"""The Helm chart with a real helm (3.10.1): lint, render with default and non-default values, validate
the manifests against the Kubernetes schemas, and compare what it grants and wires with what the
operator really does (its RBAC rules, its argument parser, its trial ServiceAccount).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from delivery_support import (
    CHART,
    DASHBOARD,
    KUBE_VERSION,
    REPO,
    Rendered,
    helm_binary,
    render,
    render_error,
    rule_set,
    run,
    venv_tool,
)
from hyperprune.contract.api import RELEASE

pytestmark = pytest.mark.helm

VERSION = RELEASE  # the one place the version is written (pyproject reads it from there)

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
SCENARIOS: dict[str, dict] = {
    "defaults": {},
    "namespaces": {"watchNamespaces": ["team-a", "team-b"]},
    "namespaces-operator-trial-rbac": {"watchNamespaces": ["team-a"], "trials": {"rbac": {"managedBy": "operator"}}},
    "standby-replica": {"replicaCount": 2, "peering": {"name": "hp-peering", "lifetime": 30}},
    "standalone": {"peering": {"enabled": False}, "watchNamespaces": ["research"]},
    "monitoring": {
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"},
                                       "interval": "15s"},
                    "service": {"annotations": {"prometheus.io/scrape": "true"}}},
        "dashboard": {"label": "grafana_dashboards", "labelValue": "hyperprune", "namespace": "monitoring",
                      "annotations": {"grafana_folder": "Hyperprune"}},
    },
    "placement": {
        "image": {"repository": "registry.example.com/ml/hyperprune-operator", "tag": "0.1.0-rc.1",
                  "pullPolicy": "Always"},
        "imagePullSecrets": [{"name": "registry-credentials"}],
        "nodeSelector": {"kubernetes.io/os": "linux", "node-role.example.com/infra": "true"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"},
                        GPU_TOLERATION],
        "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 10, "preference": {"matchExpressions": [
                {"key": "node.kubernetes.io/instance-type", "operator": "NotIn", "values": ["p5.48xlarge"]}]}}]}},
        "resources": {"requests": {"cpu": "200m", "memory": "300Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        "priorityClassName": "system-cluster-critical",
        "podAnnotations": {"example.com/team": "ml-platform"},
        "operator": {"workers": 8, "verbose": False, "extraArgs": ["--debug"],
                     "env": [{"name": "TZ", "value": "UTC"}]},
    },
    "trial-defaults": {
        "watchNamespaces": ["research"],
        "trials": {"defaults": {
            "image": "registry.example.com/ml/hyperprune-trial:0.1.0",
            "resources": {"limits": {"nvidia.com/gpu": 1}},
            "tolerations": [GPU_TOLERATION],
            "volume": {"mountPath": "/var/lib/hyperprune", "persistentVolumeClaim": {"claimName": "checkpoints"}},
        }},
    },
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, Rendered]:
    tmp = tmp_path_factory.mktemp("values")
    return {name: render(values, tmp=tmp) for name, values in SCENARIOS.items()}


# ---- the chart itself ------------------------------------------------------------------------------------


def test_chart_metadata_follows_the_package_version():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    import hyperprune

    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "hyperprune"
    assert chart["appVersion"] == VERSION == hyperprune.__version__
    assert chart["version"] == VERSION


def test_chart_crds_are_the_generated_ones():
    shipped = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
    generated = {p.name: p.read_bytes() for p in (REPO / "crds").glob("*.yaml")}
    assert set(shipped) == set(generated), "charts/hyperprune/crds/ must hold exactly the files of crds/"
    for name in generated:
        assert shipped[name] == generated[name], f"charts/hyperprune/crds/{name} differs from crds/{name}: cp crds/*.yaml charts/hyperprune/crds/"
    kinds = {doc["spec"]["names"]["kind"] for text in generated.values() for doc in yaml.safe_load_all(text) if doc}
    assert {"HyperpruneSearch", "HyperpruneTrial", "KopfPeering", "ClusterKopfPeering"} <= kinds


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_helm_lint_strict(scenario, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text(json.dumps(SCENARIOS[scenario]))
    for strict in ([], ["--strict"]):
        out = run([helm_binary(), "lint", str(CHART), "-f", str(values), *strict]).stdout
        assert "1 chart(s) linted, 0 chart(s) failed" in out, out
        assert "[ERROR]" not in out and "[WARNING]" not in out, out


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_rendered_manifests_are_valid_kubernetes_objects(scenario, rendered, tmp_path):
    objects = rendered[scenario].objects
    # ServiceMonitor is the Prometheus Operator's CRD, which kubernetes-validate does not know; its
    # fields are checked against the Service in test_servicemonitor_targets_the_metrics_service.
    known = [o for o in objects if o["kind"] != "ServiceMonitor"]
    path = tmp_path / "manifests.yaml"
    path.write_text(yaml.safe_dump_all(known))
    proc = run([venv_tool("kubernetes-validate"), "--strict", "-k", KUBE_VERSION, str(path)], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(" passed for resource ") == len(known), proc.stdout


def test_crds_pass_the_kubernetes_schema(tmp_path):
    argv = [helm_binary(), "template", "hp", str(CHART), "--include-crds"]
    crds = [o for o in yaml.safe_load_all(run(argv).stdout) if o and o["kind"] == "CustomResourceDefinition"]
    assert len(crds) == 4
    path = tmp_path / "crds.yaml"
    path.write_text(yaml.safe_dump_all(crds))
    proc = run([venv_tool("kubernetes-validate"), "--strict", "-k", KUBE_VERSION, str(path)], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_object_carries_the_standard_labels(scenario, rendered):
    assert rendered[scenario].objects
    for obj in rendered[scenario].objects:
        labels = obj["metadata"].get("labels") or {}
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                    "app.kubernetes.io/managed-by", "helm.sh/chart", "app.kubernetes.io/component"):
            assert key in labels, f"{obj['kind']} {obj['metadata']['name']}: no {key}"
        assert labels["app.kubernetes.io/version"] == VERSION


# ---- the operator Deployment -----------------------------------------------------------------------------


def _operator_args(rendered: Rendered):
    from hyperprune_operator.main import build_parser

    return build_parser().parse_args(rendered.container()["args"])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_operator_args_parse_and_match_the_ports_probes_and_service(scenario, rendered):
    r = rendered[scenario]
    values = SCENARIOS[scenario]
    args = _operator_args(r)
    container = r.container()
    namespaces = values.get("watchNamespaces", [])
    assert args.all_namespaces == (not namespaces)
    assert args.namespace == namespaces
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == args.metrics_port
    assert args.liveness == f"http://0.0.0.0:{ports['health']}/healthz"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}, probe
    peering = values.get("peering", {}).get("enabled", True)
    assert bool(args.peering) == peering and args.standalone == (not peering)
    if peering:
        assert args.peering == values.get("peering", {}).get("name", "hyperprune")
    strategy = r.deployment()["spec"]["strategy"]["type"]
    assert strategy == ("RollingUpdate" if peering else "Recreate")
    service = r.one("Service")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert service["spec"]["selector"].items() <= r.deployment()["spec"]["template"]["metadata"]["labels"].items()
    assert r.deployment()["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]


def test_defaults_run_one_peered_replica_of_the_app_version_image_hardened(rendered):
    r = rendered["defaults"]
    deployment = r.deployment()
    pod = deployment["spec"]["template"]["spec"]
    container = r.container()
    assert deployment["spec"]["replicas"] == 1
    assert container["image"] == f"hyperprune-operator:{VERSION}"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert {"requests", "limits"} <= set(container["resources"])
    assert container["resources"]["limits"]["memory"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/tmp" in mounts, "a writable /tmp beside the read-only root filesystem"
    assert pod["serviceAccountName"] == r.one("ServiceAccount", "hp-hyperprune")["metadata"]["name"]
    assert not r.of("ServiceMonitor")


def test_placement_image_and_pod_values_reach_the_operator_pod(rendered):
    values = SCENARIOS["placement"]
    r = rendered["placement"]
    pod = r.deployment()["spec"]["template"]
    spec = pod["spec"]
    container = r.container()
    assert container["image"] == "registry.example.com/ml/hyperprune-operator:0.1.0-rc.1"
    assert container["imagePullPolicy"] == "Always"
    assert spec["imagePullSecrets"] == values["imagePullSecrets"]
    assert spec["nodeSelector"] == values["nodeSelector"]
    assert spec["tolerations"] == values["tolerations"]
    assert spec["affinity"] == values["affinity"]
    assert spec["priorityClassName"] == values["priorityClassName"]
    assert container["resources"] == values["resources"]
    assert pod["metadata"]["annotations"] == values["podAnnotations"]
    assert container["env"] == [{"name": "POD_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                                *values["operator"]["env"]]  # kopf's peering identity, then the user's
    args = _operator_args(r)
    assert args.workers == 8 and args.debug and not args.verbose


def test_trial_defaults_reach_the_operator_as_a_file_it_accepts(rendered, tmp_path):
    from hyperprune_operator.main import load_trial_defaults

    r = rendered["trial-defaults"]
    args = _operator_args(r)
    pod = r.deployment()["spec"]["template"]
    mount = {m["name"]: m for m in r.container()["volumeMounts"]}["trial-defaults"]
    volume = {v["name"]: v for v in pod["spec"]["volumes"]}["trial-defaults"]
    configmap = r.one("ConfigMap", volume["configMap"]["name"])
    (key, text), = configmap["data"].items()
    assert args.trial_defaults == f"{mount['mountPath']}/{key}" and mount["readOnly"] is True
    copy = tmp_path / key
    copy.write_text(text)
    assert load_trial_defaults(str(copy)) == SCENARIOS["trial-defaults"]["trials"]["defaults"]
    assert pod["metadata"]["annotations"]["checksum/trial-defaults"]  # a change rolls the operator
    # Without defaults: no file, no flag.
    assert _operator_args(rendered["defaults"]).trial_defaults is None
    assert not [c for c in rendered["defaults"].of("ConfigMap") if "trial-defaults" in c["metadata"]["name"]]


def test_standby_replica_uses_peering(rendered):
    r = rendered["standby-replica"]
    assert r.deployment()["spec"]["replicas"] == 2
    args = _operator_args(r)
    assert args.peering == "hp-peering" and args.peering_lifetime == 30
    assert args.priority is None, "each replica draws its own priority (a fixed one would tie)"


# ---- RBAC against what the operator needs ---------------------------------------------------------------


def _expected_rules(*, all_namespaces: bool, operator_trial_rbac: bool, peering: bool):
    """The operator's rules (operator/hyperprune_operator/rbac.py) minus what the mode does not use."""
    from hyperprune_operator.rbac import OPERATOR_CLUSTER_RULES, OPERATOR_NAMESPACED_RULES

    namespaced = rule_set(list(OPERATOR_NAMESPACED_RULES))
    cluster = rule_set(list(OPERATOR_CLUSTER_RULES))
    if not operator_trial_rbac:
        namespaced -= {t for t in namespaced if t[1] in ("serviceaccounts", "roles", "rolebindings")}
    if not peering:
        namespaced -= {t for t in namespaced if t[1] == "kopfpeerings"}
    if not (all_namespaces and peering):
        cluster -= {t for t in cluster if t[1] == "clusterkopfpeerings"}
    if all_namespaces:
        return cluster | namespaced, set()
    return cluster, namespaced


def _bound_rules(r: Rendered, account: str, namespace: str):
    """Rules granted to the operator's ServiceAccount: through ClusterRoleBindings, and per namespace."""
    subject = {"kind": "ServiceAccount", "name": account, "namespace": namespace}
    cluster, per_namespace = set(), {}
    for binding in r.of("ClusterRoleBinding"):
        if subject in binding["subjects"]:
            cluster |= rule_set(r.one("ClusterRole", binding["roleRef"]["name"])["rules"])
    for binding in r.of("RoleBinding"):
        if subject in binding["subjects"]:
            ns = binding["metadata"]["namespace"]
            role = r.one("Role", binding["roleRef"]["name"], ns)
            per_namespace.setdefault(ns, set()).update(rule_set(role["rules"]))
    return cluster, per_namespace


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_operator_rbac_is_exactly_what_the_operator_uses(scenario, rendered):
    r = rendered[scenario]
    values = SCENARIOS[scenario]
    namespaces = values.get("watchNamespaces", [])
    managed_by = values.get("trials", {}).get("rbac", {}).get("managedBy", "auto")
    operator_trial_rbac = managed_by == "operator" or (managed_by == "auto" and not namespaces)
    peering = values.get("peering", {}).get("enabled", True)
    args = _operator_args(r)
    assert args.manage_trial_rbac == operator_trial_rbac

    cluster, per_namespace = _bound_rules(r, r.deployment()["spec"]["template"]["spec"]["serviceAccountName"],
                                          "hyperprune-system")
    want_cluster, want_namespaced = _expected_rules(all_namespaces=not namespaces,
                                                    operator_trial_rbac=operator_trial_rbac, peering=peering)
    assert cluster == want_cluster, f"cluster-wide: extra {cluster - want_cluster}, missing {want_cluster - cluster}"
    assert set(per_namespace) == set(namespaces)
    for ns, rules in per_namespace.items():
        assert rules == want_namespaced, f"{ns}: extra {rules - want_namespaced}, missing {want_namespaced - rules}"
    # Cluster-wide rights in namespaced mode are read-only.
    if namespaces:
        assert {verb for _, _, verb in cluster} <= {"get", "list", "watch"}


def test_trial_rbac_from_the_chart_is_what_the_operator_would_create(rendered):
    from hyperprune_operator import manifests

    r = rendered["namespaces"]
    assert SCENARIOS["namespaces"]["watchNamespaces"] and len(manifests.trial_rbac("x")) == 3
    for ns in SCENARIOS["namespaces"]["watchNamespaces"]:
        for want in manifests.trial_rbac(ns):
            got = r.one(want["kind"], want["metadata"]["name"], ns)
            for key in ("rules", "roleRef", "subjects"):
                assert got.get(key) == want.get(key), f"{want['kind']} {ns}: {key}"
    for scenario in ("defaults", "namespaces-operator-trial-rbac"):
        assert not [o for o in rendered[scenario].objects if o["metadata"]["name"] == "hyperprune-trial"], \
            f"{scenario}: the operator creates the trial ServiceAccount itself"


# ---- monitoring -----------------------------------------------------------------------------------------


def test_servicemonitor_targets_the_metrics_service(rendered):
    r = rendered["monitoring"]
    monitor = r.one("ServiceMonitor")
    service = r.one("Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [service["metadata"]["namespace"]]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics" and endpoint["interval"] == "15s"
    # The operator's series carry the search's namespace in `namespace`; without honorLabels the
    # Prometheus Operator's target label would overwrite it and the dashboard's filter would break.
    assert endpoint["honorLabels"] is True
    assert service["metadata"]["annotations"] == {"prometheus.io/scrape": "true"}


@pytest.mark.parametrize("scenario,label,value,namespace", [
    ("defaults", "grafana_dashboard", "1", "hyperprune-system"),
    ("monitoring", "grafana_dashboards", "hyperprune", "monitoring"),
])
def test_dashboard_configmap_is_labelled_for_the_grafana_sidecar(rendered, scenario, label, value, namespace):
    cm = rendered[scenario].one("ConfigMap")
    assert cm["metadata"]["labels"][label] == value
    assert cm["metadata"]["namespace"] == namespace
    (name,) = cm["data"]
    assert name.endswith(".json")
    assert json.loads(cm["data"][name]) == json.loads(DASHBOARD.read_text())
    if scenario == "monitoring":
        assert cm["metadata"]["annotations"] == {"grafana_folder": "Hyperprune"}


# ---- values that must be refused ------------------------------------------------------------------------


@pytest.mark.parametrize("values,message", [
    ({"replicaCount": 2, "peering": {"enabled": False}}, "replicaCount > 1 needs peering.enabled=true"),
    ({"trials": {"rbac": {"managedBy": "chart"}}}, "trials.rbac.managedBy=chart needs watchNamespaces"),
    ({"metrics": {"service": {"enabled": False}, "serviceMonitor": {"enabled": True}}},
     "metrics.serviceMonitor.enabled needs metrics.service.enabled"),
    ({"watchNamespaces": "team-a"}, "watchNamespaces: Invalid type"),
    ({"image": {"pullPolicy": "Sometimes"}}, "image.pullPolicy"),
    ({"replicas": 2}, "Additional property replicas is not allowed"),
], ids=["replicas-without-peering", "chart-trial-rbac-all-namespaces", "servicemonitor-without-service",
        "namespaces-not-a-list", "pull-policy", "unknown-key"])
def test_invalid_values_are_refused_with_a_message(values, message, tmp_path):
    assert message in render_error(values, tmp_path)


# ---- the examples are valid custom resources ------------------------------------------------------------


def _crd_schema(tmp: Path) -> Path:
    crd = yaml.safe_load((CHART / "crds" / "hyperprunesearches.hyperprune.io.yaml").read_text())
    (version,) = crd["spec"]["versions"]
    path = tmp / "hyperprunesearch.schema.json"
    # OpenAPI 3.0 schemas (boolean exclusiveMinimum, ...) read as JSON Schema draft 4.
    schema = {"$schema": "http://json-schema.org/draft-04/schema#", **version["schema"]["openAPIV3Schema"]}
    path.write_text(json.dumps(schema))
    return path


def _search_examples() -> list[Path]:
    paths = []
    for path in sorted((REPO / "examples").glob("*.yaml")):
        if yaml.safe_load(path.read_text()).get("kind") == "HyperpruneSearch":
            paths.append(path)
    return paths


@pytest.mark.parametrize("example", _search_examples(), ids=lambda p: p.name)
def test_examples_pass_the_crd_schema_and_hyperprune_validate(example, tmp_path):
    """What `kubectl apply` would check (the CRD's structural schema; kubernetes-validate cannot know
    a custom resource) and what the operator checks (hyperprune validate; like the operator, without
    importing a task's entry point: tests/examples runs those)."""
    run([venv_tool("check-jsonschema"), "--schemafile", str(_crd_schema(tmp_path)), str(example)])
    run([venv_tool("hyperprune"), "validate", "--quiet", "--no-task-check", str(example)])


def test_the_gpu_example_asks_for_gpus_on_gpu_nodes():
    body = yaml.safe_load((REPO / "examples" / "gpu-search.yaml").read_text())
    template = body["spec"]["trialTemplate"]
    assert body["spec"]["device"] == "cuda"
    assert template["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert template["nodeSelector"]
    assert GPU_TOLERATION in template["tolerations"]
