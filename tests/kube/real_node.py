"""A real node for tests: a kubelet and containerd (``scripts/node``) registered to a control plane of
its own, running the project's images built from its Dockerfiles (``scripts/images``).

    node = start_real_node(cluster, tmp_dir)      # Ready, with the operator and trial images imported
    node.load("co2-forecaster")                   # another image of scripts/images (an example's task image)
    node.container_pid(pod)                       # the host PID of a pod's container (fault injection)
    node.stop()                                   # kubelet, containerd, containers, mounts, network: gone

The images are built by ``make tools`` (scripts/test-tools); a test that needs them FAILS with what to
run when they are missing, it never skips. Pods reach the API server through the ``kubernetes``
Service address (10.0.0.1:443), which scripts/node forwards to the control plane's loopback port.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .cluster import REPO, Cluster, wait_until

NODE_SCRIPT = REPO / "scripts" / "node"
IMAGES_SCRIPT = REPO / "scripts" / "images"
TOOLS_HINT = "run `make tools` (scripts/test-tools builds the images and the kubelet)"
OPERATOR_IMAGE = "hyperprune-operator:0.1.0"  # as the chart names it (docker.io/library/... in containerd)
TRIAL_IMAGE = "hyperprune-trial:0.1.0"  # the default of spec.trialTemplate.image
CO2_TRIAL_IMAGE = "co2-forecaster-trial:0.1.0"  # examples/Dockerfile.co2-forecaster on the trial image


def image_archive(name: str) -> Path:
    """The archive of the image ``name`` (operator, trial) built from the current sources."""
    proc = subprocess.run([sys.executable, str(IMAGES_SCRIPT), "path", name], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"the {name} image is not built for the current sources: {TOOLS_HINT}\n{proc.stderr[-1500:]}",
                    pytrace=False)
    return Path(proc.stdout.strip())


@dataclass
class RealNode:
    name: str
    dir: Path
    state: dict = field(default_factory=dict)
    _stopped: bool = False

    @property
    def containerd_socket(self) -> Path:
        return self.dir / "containerd" / "containerd.sock"

    def ctr(self, *args: str) -> str:
        proc = subprocess.run(["ctr", "--address", str(self.containerd_socket), "-n", "k8s.io", *args],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"ctr {' '.join(args)}: {proc.stderr}"
        return proc.stdout

    def container_pid(self, pod: dict) -> int:
        """Host PID of the (first) container's main process of a running pod."""
        container_id = pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
        for line in self.ctr("tasks", "ls").splitlines()[1:]:
            words = line.split()
            if words and words[0] == container_id:
                return int(words[1])
        raise AssertionError(f"no task for container {container_id} of pod {pod['metadata']['name']}")

    def load(self, image: str) -> None:
        """Import the image ``image`` of scripts/images (its archive) into the running node's containerd."""
        archive = image_archive(image)
        proc = subprocess.run([sys.executable, str(NODE_SCRIPT), "load", "--dir", str(self.dir), str(archive)],
                              capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            raise AssertionError(f"scripts/node load {archive} failed:\n{proc.stderr[-3000:]}")

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        proc = subprocess.run([sys.executable, str(NODE_SCRIPT), "down", "--dir", str(self.dir)],
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise AssertionError(f"scripts/node down failed:\n{proc.stderr[-3000:]}")


def start_real_node(cluster: Cluster, dir: Path, *, name: str = "real-node", images: tuple[str, ...] = (
        "operator", "trial"), gpus: int = 2) -> RealNode:
    """``scripts/node up`` against ``cluster`` (started with real_nodes=True) with ``images``
    imported, stopped by itself if this process dies. ``gpus`` fake ``nvidia.com/gpu`` are advertised
    in the node's capacity, as an operator would for a device plugin-less extended resource: the
    scheduler fits trial pods' GPU limits against them (the containers get no GPU)."""
    archives = [image_archive(image) for image in images]
    if os.geteuid() != 0:
        pytest.fail("a real node needs root (containerd, the kubelet, iptables)", pytrace=False)
    argv = [sys.executable, str(NODE_SCRIPT), "up", "--dir", str(dir), "--cluster-dir", str(cluster.dir),
            "--name", name, "--owner-pid", str(os.getpid())]
    for archive in archives:
        argv += ["--image", str(archive)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise AssertionError(f"scripts/node up failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    node = RealNode(name=name, dir=dir, state=json.loads((dir / "state.json").read_text()))
    if gpus:
        advertise(cluster, name, {"nvidia.com/gpu": str(gpus)})
    return node


def advertise(cluster: Cluster, node: str, resources: dict[str, str]) -> None:
    """Extended resources in a node's capacity (a JSON patch of its status, as the Kubernetes docs'
    "Advertise Extended Resources for a Node" does); waits until allocatable shows them."""
    from kubernetes import client

    api = cluster.api_client()
    try:
        core = client.CoreV1Api(api)
        patch = [{"op": "add", "path": f"/status/capacity/{key.replace('/', '~1')}", "value": value}
                 for key, value in resources.items()]
        api.call_api(*api.param_serialize(
            "PATCH", f"/api/v1/nodes/{node}/status", body=patch,
            header_params={"Content-Type": "application/json-patch+json", "Accept": "application/json"},
            auth_settings=["BearerToken"])).read()
        wait_until(lambda: all((core.read_node(node).status.allocatable or {}).get(k) == v for k, v in resources.items()),
                   30, f"node {node} to advertise {resources}")
    finally:
        api.close()


def local_claim(api, namespace: str, claim: str, path: Path, node: str, capacity: str = "1Gi") -> str:
    """A PersistentVolumeClaim bound to a ``local`` PersistentVolume on ``node`` at ``path`` (PV
    ``pv-<namespace>-<claim>``; delete it after the namespace). Unlike hostPath, the kubelet applies
    the pod's fsGroup to a local volume: the trial image's non-root user can write it with the
    securityContext the operator sets by default."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    path.mkdir(parents=True, exist_ok=True)
    core.create_persistent_volume({
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"pv-{namespace}-{claim}"},
        "spec": {
            "capacity": {"storage": capacity}, "accessModes": ["ReadWriteOnce"], "storageClassName": "",
            "persistentVolumeReclaimPolicy": "Retain", "local": {"path": str(path)},
            "claimRef": {"namespace": namespace, "name": claim},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}},
        }})
    core.create_namespaced_persistent_volume_claim(namespace, {
        "metadata": {"name": claim},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "", "resources": {"requests": {"storage": capacity}}}})
    wait_until(lambda: core.read_namespaced_persistent_volume_claim(claim, namespace).status.phase == "Bound",
               30, f"PVC {claim} to be Bound")
    return claim


def python_pod(name: str, code: str, *, args: tuple[str, ...] = (), claim: str | None = None, gpus: int = 0,
               service_account: str | None = None, env: dict[str, str] | None = None) -> dict:
    """A pod running ``code`` with the trial image's Python (its entrypoint replaced)."""
    container = {
        "name": "trial", "image": TRIAL_IMAGE, "imagePullPolicy": "Never",  # imported, never pulled
        "command": ["python", "-c", textwrap.dedent(code)], "args": list(args),
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                *({"name": k, "value": v} for k, v in (env or {}).items())],
    }
    spec: dict = {"restartPolicy": "Never", "containers": [container], "terminationGracePeriodSeconds": 5}
    if claim:  # fsGroup: the kubelet makes the (local) volume writable to the image's user
        container["volumeMounts"] = [{"name": "ckpt", "mountPath": "/ckpt"}]
        spec["volumes"] = [{"name": "ckpt", "persistentVolumeClaim": {"claimName": claim}}]
        spec["securityContext"] = {"fsGroup": 1000}
    if gpus:
        container["resources"] = {"limits": {"nvidia.com/gpu": str(gpus)}}
    if service_account:
        spec["serviceAccountName"] = service_account
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
