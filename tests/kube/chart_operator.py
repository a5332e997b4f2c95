"""The operator as users install it, on the real node: ``helm install`` of charts/hyperprune, the operator
running as a container of its image, and a record of every pod's last state for the tests to read.

    operator = install_chart(cluster, api, tmp_dir)          # helm install --wait; the Deployment is available
    operator.log_tail(); operator.metrics()                  # through the API and the pod's address
    with PodHistory(api, namespace) as history: ...          # every pod's last status, deleted ones included
    operator.uninstall()
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch

from .cluster import REPO, Cluster, wait_until

CHART = REPO / "charts" / "hyperprune"
RELEASE, NAMESPACE = "hp", "hyperprune-system"
SELECTOR = "app.kubernetes.io/name=hyperprune,app.kubernetes.io/instance=hp"


def helm_binary() -> str:
    cache = Path(os.environ.get("HYPERPRUNE_CACHE")
                 or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hyperprune")
    path = cache / "helm"
    if not os.access(path, os.X_OK):
        pytest.fail(f"helm not found at {path}: run scripts/test-tools (make test does)", pytrace=False)
    return str(path)


@dataclass
class ChartOperator:
    cluster: Cluster
    api: Any
    values_file: Path

    def helm(self, *args: str, timeout: float = 600) -> str:
        proc = subprocess.run([helm_binary(), *args, "--kubeconfig", str(self.cluster.kubeconfig)],
                              capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
        if proc.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
                                 f"{proc.stderr[-3000:]}\noperator:\n{self.log_tail()}")
        return proc.stdout

    def pods(self) -> list[dict]:
        core = client.CoreV1Api(self.api)
        return json.loads(core.list_namespaced_pod(NAMESPACE, label_selector=SELECTOR,
                                                   _preload_content=False).data)["items"]

    def pod(self) -> dict:
        running = [p for p in self.pods() if p["status"].get("phase") == "Running"
                   and not p["metadata"].get("deletionTimestamp")]
        assert len(running) == 1, [(p["metadata"]["name"], p["status"].get("phase")) for p in self.pods()]
        return running[0]

    def log_tail(self, lines: int = 80) -> str:
        core = client.CoreV1Api(self.api)
        try:
            return "\n".join(core.read_namespaced_pod_log(p["metadata"]["name"], NAMESPACE, tail_lines=lines)
                             for p in self.pods())
        except Exception as exc:  # a log is a diagnosis: never mask the failure it explains
            return f"(no operator log: {exc})"

    def metrics(self) -> str:
        """/metrics at the operator pod's address (on the node's pod network, reachable from the host)."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://{self.pod()['status']['podIP']}:9090/metrics", timeout=5) as resp:
            return resp.read().decode()

    def uninstall(self) -> None:
        self.helm("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", "--timeout", "2m")


def install_chart(cluster: Cluster, api, directory: Path, values: dict | None = None) -> ChartOperator:
    """``helm install`` the chart as a user would, with the operator image as built (pull policy
    IfNotPresent: the node has it imported); waits until its Deployment is available."""
    merged = {"image": {"repository": "hyperprune-operator", "pullPolicy": "IfNotPresent"},
              "operator": {"statusInterval": 0.5}, **(values or {})}
    values_file = directory / "values.yaml"
    values_file.write_text(json.dumps(merged))
    operator = ChartOperator(cluster, api, values_file)
    operator.helm("install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--create-namespace",
                  "-f", str(values_file), "--wait", "--timeout", "5m")
    return operator


class PodHistory:
    """Watches the pods of a namespace from before a test acts, keeping each pod's last state: what a
    deleted pod's container ended with is gone from the API once the pod is."""

    def __init__(self, api, namespace: str) -> None:
        self.core, self.namespace = client.CoreV1Api(api), namespace
        self.last: dict[str, dict] = {}
        self.deleted: set[str] = set()
        self._watch = watch.Watch()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        resource_version = self.core.list_namespaced_pod(self.namespace).metadata.resource_version
        self._ready.set()
        while True:
            try:
                for event in self._watch.stream(self.core.list_namespaced_pod, self.namespace,
                                                resource_version=resource_version, timeout_seconds=5):
                    pod = client.ApiClient().sanitize_for_serialization(event["object"])
                    resource_version = pod["metadata"]["resourceVersion"]
                    self.last[pod["metadata"]["name"]] = pod
                    if event["type"] == "DELETED":
                        self.deleted.add(pod["metadata"]["name"])
            except Exception:  # a closed stream after stop(); an expired watch restarts from here
                if self._watch._stop:
                    return
                continue
            if self._watch._stop:
                return

    def __enter__(self) -> "PodHistory":
        self._thread.start()
        wait_until(self._ready.is_set, 30, "the pod watch")
        return self

    def __exit__(self, *exc: object) -> None:
        self._watch.stop()
        self._thread.join(timeout=10)

    def terminated(self, name: str) -> dict:
        """The last terminated state seen of a pod's first container ({} if none)."""
        statuses = (self.last.get(name, {}).get("status") or {}).get("containerStatuses") or [{}]
        return (statuses[0].get("state") or {}).get("terminated") or {}

    def exit_code(self, name: str) -> int | None:
        """The exit code the kubelet reported for a pod's first container; None when it reported none
        (under load a kubelet 1.20 may delete a killed pod with its container's status unknown, or
        remove a pod deleted while running before any terminated state reaches the API)."""
        ended = self.terminated(name)
        return None if ended.get("reason") == "ContainerStatusUnknown" else ended.get("exitCode")


def wait_terminated(api, namespace: str, history: PodHistory | None = None, timeout: float = 120) -> None:
    """Until every pod of the namespace has ended: none is terminating or still live (pending or
    running), so the operator's deletions behind its step have been made and the kubelet has reported
    how each deleted pod's container ended and removed it; with ``history``, until its watch has also
    seen every removed pod go. A search's phase says it ended before its last deletions are made."""
    core = client.CoreV1Api(api)

    def settled() -> bool:
        pods = json.loads(core.list_namespaced_pod(namespace, _preload_content=False).data)["items"]
        if [p for p in pods if p["metadata"].get("deletionTimestamp")
                or (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]:
            return False
        listed = {p["metadata"]["name"] for p in pods}
        return history is None or set(history.last) - listed <= history.deleted

    wait_until(settled, timeout, f"the pods of {namespace} to end")
