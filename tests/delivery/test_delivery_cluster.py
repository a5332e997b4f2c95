"""The chart as installed, on a real control plane, with a real Prometheus:

- the rendered manifests (CRDs from the chart's crds/ included) are accepted by a real kube-apiserver;
- the operator runs with the command line of the rendered Deployment, under the rendered ServiceAccount
  and nothing else: its RBAC is enough for a search to start trials and pods, and nothing is refused;
- its liveness endpoint answers where the Deployment's probes look;
- Prometheus (Debian's package) scrapes its metrics endpoint; a metric comes back through
  /api/v1/query, and every expression of the Grafana dashboard is valid PromQL there.

Two installs: a list of namespaces (the chart creates the trial ServiceAccount; the quickstart example)
and all namespaces (the operator creates it; the GPU example). No node exists, so pods stay Pending:
nothing trains, the test is about what the operator may do and what it exports.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from delivery_support import (
    CHART,
    DASHBOARD,
    REPO,
    Rendered,
    free_port,
    helm_binary,
    http_get,
    parse_dockerfile,
    prometheus_binary,
    prometheus_query,
    run,
    venv_tool,
    wait_until,
)

pytestmark = [pytest.mark.kube, pytest.mark.helm, pytest.mark.prometheus]

GROUP, VERSION = "hyperprune.io", "v1alpha1"
REFUSALS = ("Forbidden", "forbidden", " 403", "Not enough permissions")


def _cluster_module():
    # Loaded by path: tests/kube/cluster.py needs only the standard library at import time.
    spec = importlib.util.spec_from_file_location("hyperprune_delivery_cluster", REPO / "tests" / "kube" / "cluster.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    module = _cluster_module()
    started = module.start_cluster(tmp_path_factory.mktemp("delivery-cluster"))
    try:
        yield module, started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def admin(cluster):
    api = cluster[1].api_client()
    yield api
    api.close()


# ---- installing the rendered chart -------------------------------------------------------------------------


def _create(api, body: dict) -> None:
    from kubernetes import utils
    from kubernetes.client.exceptions import ApiException

    try:
        utils.create_from_dict(api, body, namespace=body["metadata"].get("namespace"))
    except utils.FailToCreateError as exc:
        if not all(isinstance(e, ApiException) and e.status == 409 for e in exc.api_exceptions):
            raise


def _helm(cluster, tmp: Path, *args: str) -> str:
    """helm against the test cluster as its admin, with Helm's own state kept in ``tmp``."""
    env = {**os.environ, "KUBECONFIG": str(cluster[1].kubeconfig), "HELM_CACHE_HOME": str(tmp / "helm-cache"),
           "HELM_CONFIG_HOME": str(tmp / "helm-config"), "HELM_DATA_HOME": str(tmp / "helm-data"),
           "NO_PROXY": ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1", "localhost"]))}
    argv = [helm_binary(), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _install(cluster, api, values: dict, release: str, namespace: str, tmp: Path) -> Rendered:
    """`helm install` as the README says, then the release's manifest as Helm recorded it."""
    from kubernetes import client

    for ns in values.get("watchNamespaces", []):  # a user's namespaces exist before the operator watches them
        _create(api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    path = tmp / f"{release}-values.yaml"
    path.write_text(yaml.safe_dump(values))
    _helm(cluster, tmp, "install", release, str(CHART), "--namespace", namespace, "--create-namespace", "-f", str(path))
    rendered = Rendered(_helm(cluster, tmp, "get", "manifest", release, "--namespace", namespace))
    # Helm installed crds/ before the templates, and they are served.
    ext = client.ApiextensionsV1Api(api)
    for crd_file in (CHART / "crds").glob("*.yaml"):
        for crd in yaml.safe_load_all(crd_file.read_text()):
            if crd:
                conditions = ext.read_custom_resource_definition(crd["metadata"]["name"]).status.conditions or []
                assert any(c.type == "Established" and c.status == "True" for c in conditions), crd["metadata"]["name"]
    # The Deployment the cluster holds runs what was rendered (what a kubelet would start).
    live = client.AppsV1Api(api).read_namespaced_deployment(rendered.deployment()["metadata"]["name"], namespace)
    assert live.spec.template.spec.containers[0].args == rendered.container()["args"]
    return rendered


def _apply_crds_server_side(api, *, changed: bool) -> None:
    """What `kubectl apply --server-side --force-conflicts -f charts/hyperprune/crds/` sends: an
    apply patch per CRD (field manager kubectl). ``changed`` alters a description first, as a new
    chart version would: without forcing, fields that Helm created conflict."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    ext = client.ApiextensionsV1Api(api)
    apply = {"field_manager": "kubectl", "_content_type": "application/apply-patch+yaml"}
    for path in sorted((CHART / "crds").glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd:
                continue
            name = crd["metadata"]["name"]
            if changed:
                crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["description"] = "upgraded"
                with pytest.raises(ApiException) as conflict:
                    ext.patch_custom_resource_definition(name, crd, **apply)
                assert conflict.value.status == 409, conflict.value.body
            ext.patch_custom_resource_definition(name, crd, force=True, **apply)
            if changed:
                served = ext.read_custom_resource_definition(name).spec.versions[0].schema.open_apiv3_schema
                assert served.description == "upgraded"


def _kubeconfig(cluster, api, namespace: str, account: str, path: Path) -> Path:
    """A kubeconfig holding only the token of the chart's operator ServiceAccount: in a pod, the
    operator has exactly that identity."""
    module, started = cluster
    token, ca = module.service_account_token(api, namespace, account)
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "c", "cluster": {"server": started.server,
                                               "certificate-authority-data": base64.b64encode(ca).decode()}}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "c", "user": account, "namespace": namespace}}],
    }))
    return path


@contextlib.contextmanager
def _operator(rendered: Rendered, kubeconfig: Path, log: Path) -> Iterator[subprocess.Popen]:
    """`hyperprune-operator` with exactly the rendered container's arguments."""
    # The chart sets args only: the command is the image's ENTRYPOINT.
    (entrypoint,) = [i.json_args() for i in parse_dockerfile(REPO / "Dockerfile") if i.keyword == "ENTRYPOINT"]
    argv = [venv_tool(entrypoint[0]), *entrypoint[1:], *rendered.container()["args"]]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env["KUBECONFIG"] = str(kubeconfig)
    env["NO_PROXY"] = ",".join(filter(None, [env.get("NO_PROXY"), "127.0.0.1", "localhost"]))
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            yield proc
        finally:
            _stop_group(proc)


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the process's session (it was started with start_new_session), SIGKILL after 15 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _probe_url(rendered: Rendered) -> str:
    container = rendered.container()
    probe = container["livenessProbe"]["httpGet"]
    port = {p["name"]: p["containerPort"] for p in container["ports"]}[probe["port"]]
    return f"http://127.0.0.1:{port}{probe['path']}"


def _metrics_port(rendered: Rendered) -> int:
    target = rendered.one("Service")["spec"]["ports"][0]["targetPort"]
    return {p["name"]: p["containerPort"] for p in rendered.container()["ports"]}[target]


def _wait_alive(proc: subprocess.Popen, url: str, log: Path) -> None:
    def alive():
        if proc.poll() is not None:
            raise AssertionError(f"the operator exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
        try:
            return http_get(url, timeout=2)[0] == 200
        except OSError:
            return False

    wait_until(alive, 60, f"the operator's liveness endpoint {url} (log: {log})")


def _refusals(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if any(r in line for r in REFUSALS)]


# ---- Prometheus ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _prometheus(target_port: int, tmp: Path) -> Iterator[str]:
    """A real Prometheus on loopback scraping the operator every second; yields its base URL."""
    config = tmp / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{
            "job_name": "hyperprune-operator",
            # As the chart's ServiceMonitor: keep the series' own namespace label (the search's).
            "honor_labels": True,
            "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}],
        }],
    }))
    run([prometheus_binary("promtool"), "check", "config", str(config)])
    port = free_port()
    log = tmp / "prometheus.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([prometheus_binary(), f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def ready():
            if proc.poll() is not None:
                raise AssertionError(f"prometheus exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                return http_get(f"{base}/-/ready", timeout=2)[0] == 200
            except OSError:
                return False

        wait_until(ready, 30, f"prometheus to be ready (log: {log})")
        yield base
    finally:
        _stop_group(proc)


def _value(base: str, expr: str) -> float | None:
    answer = prometheus_query(base, expr)
    assert answer["status"] == "success", answer
    result = answer["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def _dashboard_exprs(namespace: str, search: str) -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = (target["expr"].replace("$namespace", namespace).replace("$search", search)
                    .replace("$__rate_interval", "1m"))
            out.append((panel["title"], expr))
    return out


# ---- the two installs ---------------------------------------------------------------------------------------


def _search(api, namespace: str, body: dict) -> dict:
    from kubernetes import client

    return client.CustomObjectsApi(api).create_namespaced_custom_object(GROUP, VERSION, namespace,
                                                                        "hyperprunesearches", body)


def _get(api, namespace: str, name: str) -> dict:
    from kubernetes import client

    return client.CustomObjectsApi(api).get_namespaced_custom_object(GROUP, VERSION, namespace, "hyperprunesearches",
                                                                     name)


def _pods(api, namespace: str, search: str) -> list:
    from kubernetes import client

    return client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=f"hyperprune.io/search={search}").items


def _delete_search(api, namespace: str, name: str) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    objects = client.CustomObjectsApi(api)
    objects.delete_namespaced_custom_object(GROUP, VERSION, namespace, "hyperprunesearches", name)

    def gone():
        try:
            objects.get_namespaced_custom_object(GROUP, VERSION, namespace, "hyperprunesearches", name)
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_until(gone, 30, f"search {namespace}/{name} to be deleted (the operator removes its finalizer)")


def test_namespaced_install_runs_the_quickstart_and_prometheus_reads_its_metrics(cluster, admin, tmp_path):
    from kubernetes import client

    ns, team = "hyperprune-system", "team-a"
    values = {"watchNamespaces": [team], "operator": {"metricsPort": free_port(), "healthPort": free_port()}}
    rendered = _install(cluster, admin, values, "hp", ns, tmp_path)
    account = rendered.deployment()["spec"]["template"]["spec"]["serviceAccountName"]
    kubeconfig = _kubeconfig(cluster, admin, ns, account, tmp_path / "operator.kubeconfig")
    # The chart made the trial pods' identity (the operator runs with --no-manage-trial-rbac).
    client.CoreV1Api(admin).read_namespaced_service_account("hyperprune-trial", team)
    log = tmp_path / "operator.log"
    quickstart = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    with _operator(rendered, kubeconfig, log) as proc, _prometheus(_metrics_port(rendered), tmp_path) as prom:
        _wait_alive(proc, _probe_url(rendered), log)
        _search(admin, team, quickstart)
        try:
            wait_until(lambda: len(_pods(admin, team, "quickstart")) >= 2, 60,
                       f"trial pods of the quickstart (operator log: {log})")
            # The status is written after the step that created the pods: wait for it, do not race it.
            wait_until(lambda: (_get(admin, team, "quickstart").get("status") or {}).get("phase") == "Running", 60,
                       f"the quickstart's status to say Running (operator log: {log})")
            for pod in _pods(admin, team, "quickstart"):
                assert pod.spec.service_account_name == "hyperprune-trial"

            # Prometheus scraped the operator: the search's phase comes back through the query API.
            running = f'hyperprune_search_phase{{namespace="{team}", search="quickstart", phase="Running"}}'
            wait_until(lambda: _value(prom, running) == 1.0, 30, f"{running} == 1 in Prometheus")
            trials = _value(prom, f'sum(hyperprune_trials{{namespace="{team}", search="quickstart"}})')
            assert trials is not None and trials >= 2
            assert _value(prom, "sum(hyperprune_search_workers)") == 1.0
            assert _value(prom, 'up{job="hyperprune-operator"}') == 1.0

            # Every dashboard query is valid PromQL for this Prometheus, and the per-search panels
            # that need no finished trial already show data.
            answered = {}
            for title, expr in _dashboard_exprs(team, "quickstart"):
                answer = prometheus_query(prom, expr)
                assert answer["status"] == "success", f"{title}: {expr}: {answer.get('error')}"
                answered.setdefault(title, []).append(bool(answer["data"]["result"]))
            for title in ("Search phase", "Trials by phase", "Searches being worked on",
                          "Share of full-training cost spent"):
                assert any(answered[title]), f"{title}: no data"
        finally:
            _delete_search(admin, team, "quickstart")
    assert not _refusals(log), "the operator was refused something under the chart's RBAC:\n" + "\n".join(_refusals(log))

    # `helm uninstall` removes the release's objects but never the CRDs (and so never anyone's searches).
    _helm(cluster, tmp_path, "uninstall", "hp", "--namespace", ns)
    rbac = client.RbacAuthorizationV1Api(admin)
    assert not [r for r in rbac.list_cluster_role().items if r.metadata.name == "hp-hyperprune"]
    client.ApiextensionsV1Api(admin).read_custom_resource_definition("hyperprunesearches.hyperprune.io")


def test_all_namespaces_install_runs_the_gpu_example_with_operator_made_trial_rbac(cluster, admin, tmp_path):
    from kubernetes import client

    from hyperprune_operator.rbac import TRIAL_RULES

    ns, team = "hyperprune", "gpu-team"
    values = {"operator": {"metricsPort": free_port(), "healthPort": free_port()}}
    _install(cluster, admin, values, "hyperprune", ns, tmp_path)
    # An upgrade, as documented: the CRDs first (Helm never upgrades crds/), server-side, taking over
    # the fields Helm's create owns; then helm upgrade.
    _apply_crds_server_side(admin, changed=True)
    _helm(cluster, tmp_path, "upgrade", "hyperprune", str(CHART), "--namespace", ns, "--reuse-values",
          "--set", "operator.workers=2")
    rendered = Rendered(_helm(cluster, tmp_path, "get", "manifest", "hyperprune", "--namespace", ns))
    live = client.AppsV1Api(admin).read_namespaced_deployment("hyperprune", ns).spec.template.spec.containers[0]
    assert "--workers=2" in live.args and "--all-namespaces" in live.args
    assert live.args == rendered.container()["args"]
    _create(admin, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": team}})
    account = rendered.deployment()["spec"]["template"]["spec"]["serviceAccountName"]
    kubeconfig = _kubeconfig(cluster, admin, ns, account, tmp_path / "operator.kubeconfig")
    log = tmp_path / "operator.log"
    example = yaml.safe_load((REPO / "examples" / "gpu-search.yaml").read_text())
    template = example["spec"]["trialTemplate"]
    name = example["metadata"]["name"]
    with _operator(rendered, kubeconfig, log) as proc:
        _wait_alive(proc, _probe_url(rendered), log)
        _search(admin, team, example)
        try:
            wait_until(lambda: _pods(admin, team, name), 60, f"trial pods of {name} (operator log: {log})")
            for pod in _pods(admin, team, name):
                spec = pod.spec
                assert spec.node_selector == template["nodeSelector"]
                tolerations = [{"key": t.key, "operator": t.operator, "effect": t.effect} for t in spec.tolerations
                               if t.key == "nvidia.com/gpu"]
                assert tolerations == template["tolerations"]
                (container,) = spec.containers
                assert container.image == template["image"]
                assert container.resources.limits["nvidia.com/gpu"] == "1"
                assert spec.volumes[0].persistent_volume_claim.claim_name == "hyperprune-artifacts"
                assert [s.name for s in spec.image_pull_secrets] == ["registry-credentials"]
            # The operator made the trial ServiceAccount itself (all namespaces: the chart cannot know them).
            rbac = client.RbacAuthorizationV1Api(admin)
            role = rbac.read_namespaced_role("hyperprune-trial", team)
            assert [(r.api_groups, r.resources, r.verbs) for r in role.rules] == [
                (r["apiGroups"], r["resources"], r["verbs"]) for r in TRIAL_RULES]
            client.CoreV1Api(admin).read_namespaced_service_account("hyperprune-trial", team)
            def phases() -> dict[str, float]:
                status, body = http_get(f"http://127.0.0.1:{_metrics_port(rendered)}/metrics")
                assert status == 200
                return {s.labels["phase"]: s.value for f in text_string_to_metric_families(body) for s in f.samples
                        if s.name == "hyperprune_search_phase" and s.labels.get("namespace") == team
                        and s.labels.get("search") == name}

            # The metrics follow the status the operator writes every status interval: wait for it.
            wait_until(lambda: phases().get("Running") == 1.0, 30, "hyperprune_search_phase Running == 1")
            assert sum(phases().values()) == 1.0
        finally:
            _delete_search(admin, team, name)
    assert not _refusals(log), "the operator was refused something under the chart's RBAC:\n" + "\n".join(_refusals(log))
