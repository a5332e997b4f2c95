"""What the operator's kube tests share: CRDs, the operator as a real process under least-privilege
RBAC, small searches, and waiting for what the operator writes.

    install_crds(api)                                   # crds/ as shipped, until Established
    with running_operator(cluster, api, ns) as op:      # `hyperprune-operator --namespace ns` subprocess
        create_search(api, ns, tiny_search("s1", ...))
        wait_for_search(api, ns, "s1", lambda s: s.get("status", {}).get("phase") == "Succeeded")

The operator runs as ServiceAccount ``hyperprune-operator`` bound to exactly the rules of
``hyperprune_operator.rbac``: a permission the operator lacks fails these tests.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .cluster import REPO, Cluster, service_account_token, wait_until

GROUP, VERSION = "hyperprune.io", "v1alpha1"
SEARCHES, TRIALS = "hyperprunesearches", "hyperprunetrials"
OPERATOR_BIN = Path(sys.executable).with_name("hyperprune-operator")
CLUSTER_ROLE = "hyperprune-operator-test"


# ---- CRDs --------------------------------------------------------------------------------------------


def install_crds(api) -> list[str]:
    """Create (or replace) every CRD in crds/ and wait until each is Established."""
    ext = client.ApiextensionsV1Api(api)
    names = []
    for path in sorted((REPO / "crds").glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            name = crd["metadata"]["name"]
            names.append(name)
            try:
                ext.create_custom_resource_definition(crd)
            except ApiException as exc:
                if exc.status != 409:
                    raise
                current = ext.read_custom_resource_definition(name)
                crd["metadata"]["resourceVersion"] = current.metadata.resource_version
                ext.replace_custom_resource_definition(name, crd)
    for name in names:
        def established(name=name):
            crd = ext.read_custom_resource_definition(name)
            return any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])

        wait_until(established, 30, f"CRD {name} to be Established")
    return names


# ---- the operator as a process ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rbac_objects(namespace: str, account: str, all_namespaces: bool = False) -> list[dict]:
    from hyperprune_operator.rbac import OPERATOR_CLUSTER_RULES, OPERATOR_NAMESPACED_RULES, operator_rules

    role = f"{account}-{namespace}"
    subject = [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]
    if all_namespaces:  # one ClusterRole with every rule, as for `--all-namespaces`
        return [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account, "namespace": namespace}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
             "metadata": {"name": f"{CLUSTER_ROLE}-all"}, "rules": operator_rules(all_namespaces=True)},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": role},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"{CLUSTER_ROLE}-all"},
             "subjects": subject},
        ]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account, "namespace": namespace}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": account, "namespace": namespace}, "rules": list(OPERATOR_NAMESPACED_RULES)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": account, "namespace": namespace},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
         "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": CLUSTER_ROLE}, "rules": list(OPERATOR_CLUSTER_RULES)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": role},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CLUSTER_ROLE},
         "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]},
    ]


def operator_kubeconfig(cluster: Cluster, api, namespace: str, directory: Path,
                        account: str = "hyperprune-operator", all_namespaces: bool = False) -> Path:
    """A kubeconfig for a ServiceAccount holding exactly the operator's RBAC rules."""
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    create = {
        "ServiceAccount": lambda b: core.create_namespaced_service_account(namespace, b),
        "Role": lambda b: rbac.create_namespaced_role(namespace, b),
        "RoleBinding": lambda b: rbac.create_namespaced_role_binding(namespace, b),
        "ClusterRole": rbac.create_cluster_role,
        "ClusterRoleBinding": rbac.create_cluster_role_binding,
    }
    for body in _rbac_objects(namespace, account, all_namespaces):
        try:
            create[body["kind"]](body)
        except ApiException as exc:
            if exc.status != 409:
                raise
    token, ca = service_account_token(core, namespace, account)
    path = directory / f"operator-{namespace}.kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "op",
        "clusters": [{"name": "c", "cluster": {"server": cluster.server,
                                               "certificate-authority-data": base64.b64encode(ca).decode()}}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": "op", "context": {"cluster": "c", "user": account, "namespace": namespace}}],
    }))
    return path


class OperatorProcess:
    """``hyperprune-operator`` as a subprocess (the real console script), killed by PID on stop."""

    def __init__(self, kubeconfig: Path, namespace: str, log: Path, *extra: str) -> None:
        self.kubeconfig, self.namespace, self.log_path = kubeconfig, namespace, log
        self.metrics_port, self.liveness_port = free_port(), free_port()
        self.extra = extra
        self.proc: subprocess.Popen | None = None

    def start(self) -> "OperatorProcess":
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["NO_PROXY"] = ",".join(filter(None, [env.get("NO_PROXY"), "127.0.0.1", "localhost"]))
        scope = ["--all-namespaces"] if "--all-namespaces" in self.extra else ["--namespace", self.namespace]
        argv = [str(OPERATOR_BIN), *scope, "--metrics-port", str(self.metrics_port),
                "--metrics-host", "127.0.0.1", "--liveness", f"http://127.0.0.1:{self.liveness_port}/healthz",
                "--status-interval", "0.5", "--verbose", *(a for a in self.extra if a != "--all-namespaces")]
        if not any(a in ("--peering", "--standalone") for a in self.extra):
            argv.append("--standalone")
        self._log = open(self.log_path, "ab")
        self._log.write(f"--- {' '.join(argv)}\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(argv, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        wait_until(self.alive, 60, f"the operator's liveness endpoint (log: {self.log_path})", interval=0.2)
        return self

    def alive(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(f"the operator exited ({self.proc and self.proc.returncode}):\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def metrics(self) -> str:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as resp:
            return resp.read().decode()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: a crash, no chance to clean up."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if getattr(self, "_log", None):
            self._log.close()


@contextlib.contextmanager
def running_operator(cluster: Cluster, api, namespace: str, directory: Path, *extra: str) -> Iterator[OperatorProcess]:
    kubeconfig = operator_kubeconfig(cluster, api, namespace, directory, all_namespaces="--all-namespaces" in extra)
    operator = OperatorProcess(kubeconfig, namespace, directory / f"operator-{namespace}.log", *extra)
    try:
        yield operator.start()
    finally:
        operator.stop()


# ---- searches -------------------------------------------------------------------------------------------


def tiny_search(name: str, *, claim: str = "data", candidates: int = 5, epochs: int = 4, parallelism: int = 2,
                strategy: str = "lsh", **spec: Any) -> dict:
    """A search that trains in seconds: a 16-unit LSTM on a small synthetic corpus, a few batches."""
    body = {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "HyperpruneSearch", "metadata": {"name": name},
        "spec": {
            "seed": 0,
            "data": {"corpus": "synthetic", "syntheticTokens": 3000, "syntheticVocab": 40},
            "model": {"arch": "lstm", "hiddenSize": 16},
            "training": {"epochs": epochs, "lr": 5.0, "batchSize": 10, "bptt": 10, "maxBatches": 4,
                         "evalMaxBatches": 3},
            "device": "cpu",
            "lyapunov": {"probeLength": 8, "warmup": 2, "batch": 1},
            "space": {"methods": [{"method": "magnitude", "params": {"pruneEpoch": [0]}}, {"method": "random"}],
                      "sparsity": [0.3, 0.5, 0.7, 0.8, 0.9]},
            "budget": {"maxTrials": candidates, "parallelism": parallelism, "maxFailedTrials": 2, "retries": 1},
            "strategy": {"name": strategy, "rungs": {"first": 1, "step": 1, "keepFraction": 0.5, "finalists": 2},
                         "generation": {"sampler": "random"}},
            "dense": {"compare": True},  # to the end, as the tests read it (default: the last rung)
            "trialTemplate": {
                "image": "hyperprune-trial:0.1.0",  # as built from trial-image/ (tests/kube/real_node.py)
                "resources": {"limits": {"nvidia.com/gpu": 1}},
                # One thread per trial: the test machine's 2 cores are shared by pods (and other work);
                # oversubscribed OpenMP threads spin and slow everything down.
                "env": [{"name": "OMP_NUM_THREADS", "value": "1"}],
                "volume": {"mountPath": "/var/lib/hyperprune", "persistentVolumeClaim": {"claimName": claim}},
            },
            "output": {"path": "best"},
        },
    }
    for key, value in spec.items():
        body["spec"][key] = value
    return body


def custom(api) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


def create_search(api, namespace: str, body: dict) -> dict:
    return custom(api).create_namespaced_custom_object(GROUP, VERSION, namespace, SEARCHES, body)


def get_search(api, namespace: str, name: str) -> dict:
    return custom(api).get_namespaced_custom_object(GROUP, VERSION, namespace, SEARCHES, name)


def list_trials(api, namespace: str) -> list[dict]:
    return custom(api).list_namespaced_custom_object(GROUP, VERSION, namespace, TRIALS)["items"]


def get_trial(api, namespace: str, name: str) -> dict:
    return custom(api).get_namespaced_custom_object(GROUP, VERSION, namespace, TRIALS, name)


def list_pods(api, namespace: str, selector: str = "app.kubernetes.io/managed-by=hyperprune-operator") -> list[dict]:
    core = client.CoreV1Api(api)
    return json.loads(core.list_namespaced_pod(namespace, label_selector=selector, _preload_content=False).data)["items"]


def events(api, namespace: str, reason: str | None = None) -> list[dict]:
    core = client.CoreV1Api(api)
    items = json.loads(core.list_namespaced_event(namespace, _preload_content=False).data)["items"]
    return [e for e in items if reason is None or e.get("reason") == reason]


def wait_events(api, namespace: str, reason: str, count: int = 1, *, involved: str | None = None,
                type_: str | None = None, timeout: float = 60) -> list[dict]:
    """The events of ``reason`` (about the object named ``involved``, of ``type_``) once there are
    ``count`` or more. The operator posts events behind its step, so a status that says a search or
    trial ended can land before the events of the same step do."""
    def enough() -> list[dict] | None:
        found = [e for e in events(api, namespace, reason)
                 if (involved is None or e["involvedObject"]["name"] == involved)
                 and (type_ is None or e.get("type") == type_)]
        return found if len(found) >= count else None

    return wait_until(enough, timeout, f"{count} {reason} event(s) in {namespace}"
                      + (f" about {involved}" if involved else ""))


def wait_for_search(api, namespace: str, name: str, predicate: Callable[[dict], Any], timeout: float,
                    what: str, operator: OperatorProcess | None = None) -> dict:
    def check():
        search = get_search(api, namespace, name)
        return search if predicate(search) else None

    try:
        return wait_until(check, timeout, what, interval=0.25)
    except TimeoutError as exc:
        status = get_search(api, namespace, name).get("status")
        tail = operator.log_tail() if operator else ""
        raise AssertionError(f"{exc}\nstatus: {json.dumps(status, indent=1)[:6000]}\noperator log:\n{tail}") from None


def phase(search: dict) -> str | None:
    return (search.get("status") or {}).get("phase")


def by_id(api, namespace: str) -> dict[str, dict]:
    return {t["spec"]["trialId"]: t for t in list_trials(api, namespace)}


def wait_gone(read: Callable[[], Any], timeout: float, what: str) -> None:
    def gone():
        try:
            read()
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_until(gone, timeout, what, interval=0.5)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    return fn(), time.monotonic() - started
