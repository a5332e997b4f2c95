"""A real local control plane for tests and benchmarks, wrapping ``scripts/control-plane``.

    cluster = start_cluster(tmp_dir)          # etcd + apiserver + controller-manager + scheduler
    api = cluster.api_client()                # kubernetes.client.ApiClient as cluster admin
    register_node(api, "node-0", gpus=2)      # a schedulable Node object without a kubelet (benchmarks)
    ...
    cluster.stop()                            # kills every process the cluster started

Nothing runs pods by itself: there is no kubelet. ``real_node.start_real_node`` adds a real one
(kubelet + containerd, scripts/node).
This module imports only the standard library at import time (``kubernetes`` lazily), so benchmarks
and the script's smoke checks can load it by path.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CONTROL_PLANE = REPO / "scripts" / "control-plane"


class ClusterError(RuntimeError):
    pass


@dataclass
class Cluster:
    dir: Path
    kubeconfig: Path
    server: str  # https://127.0.0.1:PORT
    token: str  # the admin (system:masters) bearer token
    ca_file: Path
    components: tuple[str, ...]  # which of etcd/kube-apiserver/-controller-manager/-scheduler run
    missing: dict[str, str] = field(default_factory=dict)  # absent component -> what does not work then
    _stopped: bool = False

    @property
    def port(self) -> int:
        return int(self.server.rsplit(":", 1)[1])

    def has(self, component: str) -> bool:
        return component in self.components

    def api_client(self, token: str | None = None):
        """A fresh ``kubernetes.client.ApiClient``: the admin's, or one that presents ``token`` (e.g. a
        ServiceAccount's). TLS is verified against the cluster's CA; no global configuration is touched."""
        if token is None:
            return loopback_api_client(self.kubeconfig)
        return loopback_api_client({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "c", "cluster": {"server": self.server, "certificate-authority": str(self.ca_file)}}],
            "users": [{"name": "u", "user": {"token": token}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        })

    def log_tail(self, component: str, lines: int = 40) -> str:
        path = self.dir / "logs" / f"{component}.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop every process of the cluster (TERM, then KILL after a short grace). Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        subprocess.run([sys.executable, str(CONTROL_PLANE), "down", "--dir", str(self.dir)],
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def loopback_api_client(kubeconfig: str | os.PathLike | dict):
    """An ApiClient from a kubeconfig file or dict that never goes through an HTTP(S)_PROXY taken from
    the environment (the kubernetes client honours those; every test cluster is on loopback)."""
    from kubernetes import client, config

    configuration = client.Configuration()
    configuration.proxy = None  # also stops the client from re-reading the environment's proxy
    if isinstance(kubeconfig, dict):
        config.load_kube_config_from_dict(kubeconfig, client_configuration=configuration)
    else:
        config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return client.ApiClient(configuration)


def start_cluster(dir: str | os.PathLike, *, owner_pid: int | None = None, timeout: float = 900,
                  real_nodes: bool = False) -> Cluster:
    """``scripts/control-plane up --dir DIR`` (building the binaries first if they are not cached).

    ``owner_pid`` (default: this process) makes the cluster stop by itself once that process is gone,
    so a test run that is killed outright leaks no etcd or apiserver. ``real_nodes`` runs the
    controllers a cluster with kubelets needs too (tests/kube/real_node.py).
    """
    state_dir = Path(dir).resolve()
    owner = os.getpid() if owner_pid is None else owner_pid
    proc = subprocess.run(
        [sys.executable, str(CONTROL_PLANE), "up", "--dir", str(state_dir), "--owner-pid", str(owner),
         *(["--real-nodes"] if real_nodes else [])],
        capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise ClusterError(f"scripts/control-plane up failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    state = json.loads((state_dir / "state.json").read_text())
    kubeconfig = proc.stdout.strip().splitlines()[-1]
    return Cluster(dir=state_dir, kubeconfig=Path(kubeconfig), server=state["server"], token=state["token"],
                   ca_file=Path(state["ca_file"]), components=tuple(state["components"]),
                   missing=dict(state.get("missing", {})))


def _core(api):
    from kubernetes import client

    return api if isinstance(api, client.CoreV1Api) else client.CoreV1Api(api)


def register_node(api, name: str, gpus: int = 0, *, cpu: str = "8", memory: str = "32Gi", pods: int = 110,
                  labels: dict[str, str] | None = None) -> dict:
    """Create a Ready, schedulable Node (no kubelet behind it) and return it as a dict.

    ``api`` is an ApiClient or a CoreV1Api. Capacity and allocatable are equal: cpu, memory, pods and,
    when ``gpus`` > 0, ``nvidia.com/gpu`` (an extended resource the real scheduler fits pods against).
    The apiserver's TaintNodesByCondition admission adds ``node.kubernetes.io/not-ready:NoSchedule``
    on create; with no node lifecycle controller nothing would ever lift it, so it is removed here.
    """
    from kubernetes.client.exceptions import ApiException

    core = _core(api)
    resources = {"cpu": cpu, "memory": memory, "pods": str(pods)}
    if gpus:
        resources["nvidia.com/gpu"] = str(gpus)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    status = {
        "capacity": resources, "allocatable": resources,
        "conditions": [{"type": "Ready", "status": "True", "reason": "HyperpruneTestNode",
                        "message": "a node object without a kubelet: pods bound here never run",
                        "lastHeartbeatTime": now, "lastTransitionTime": now}],
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
    }
    body = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "status": status}
    try:
        core.create_node(body)
    except ApiException as exc:
        if exc.status != 409:
            raise
    # Status again, through its own subresource: create keeps it today, an existing node would not.
    core.patch_node_status(name, {"status": status})
    core.patch_node(name, {"spec": {"taints": None, "unschedulable": None}})
    return core.api_client.sanitize_for_serialization(core.read_node(name))


def service_account_token(api, namespace: str, account: str, timeout: float = 30) -> tuple[str, bytes]:
    """Bearer token and CA certificate of a ServiceAccount, from the token Secret that 1.20's
    serviceaccount-token controller creates for it (waits up to ``timeout`` s for it to appear)."""
    from kubernetes.client.exceptions import ApiException

    core = _core(api)

    def lookup():
        try:
            sa = json.loads(core.read_namespaced_service_account(account, namespace, _preload_content=False).data)
            for ref in sa.get("secrets") or []:
                secret = json.loads(core.read_namespaced_secret(ref["name"], namespace, _preload_content=False).data)
                data = secret.get("data") or {}
                if secret.get("type") == "kubernetes.io/service-account-token" and data.get("token"):
                    return base64.b64decode(data["token"]).decode(), base64.b64decode(data.get("ca.crt", ""))
        except ApiException as exc:
            if exc.status != 404:
                raise
        return None

    return wait_until(lookup, timeout, f"the token Secret of ServiceAccount {namespace}/{account} (is the "
                      "controller-manager running?)", interval=0.2)


def create_namespace(api, prefix: str = "t") -> str:
    """A new namespace ``<prefix>-<random>`` labelled as a test's; its name."""
    import uuid

    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    _core(api).create_namespace({"metadata": {"name": name, "labels": {"hyperprune.dev/test": "true"}}})
    return name


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll until ``predicate()`` returns something truthy and return it; raise TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
