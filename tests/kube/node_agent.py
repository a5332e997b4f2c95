"""TEST-ONLY node agent: plays the kubelet for one registered Node, with local processes.

The product never uses this. It lets tests run trial pods end to end against the real apiserver,
scheduler and garbage collector on a machine without kubelet or containers:

    agent = NodeAgent(cluster.kubeconfig, "node-0", root=tmp_path / "agent")
    agent.start()
    ...                      # pods the scheduler binds to node-0 now run as local processes
    agent.log_text("ns", "pod-name")
    agent.stop()             # kills every process it started

What it does for each pod bound to its node (field selector ``spec.nodeName=<node>``):

* Runs the FIRST container only, as ``command + args`` (an image entrypoint cannot be known, so a
  container without ``command`` fails; further containers are ignored; initContainers fail the pod).
  ``python``/``python3`` (any ``.../pythonX.Y``) runs as this interpreter, ``sys.executable``, so the
  pod sees the test's virtual environment; other commands are looked up on PATH. ``$(VAR)``
  references in command/args/env are expanded as the kubelet does.
* Environment: this process's environment minus anything starting with ``KUBE`` (no admin
  kubeconfig leaks in), then the container's ``env``: plain values and ``valueFrom.fieldRef`` for
  metadata.name / metadata.namespace / metadata.uid / metadata.labels['k'] / metadata.annotations['k']
  / spec.nodeName / spec.serviceAccountName. Anything else (secretKeyRef, envFrom, ...) fails the pod
  with a message saying so. ``HOSTNAME`` is the pod name.
* Volumes, mapped to local directories, because the process sees the host's file system:
    - hostPath               -> that path on this machine (created as a directory if missing, unless
                                its ``type`` asks for an existing one)
    - persistentVolumeClaim  -> ``<root>/pvc/<namespace>/<claimName>``: one directory per claim, shared
                                by every pod that mounts the claim, so checkpoints survive a pod's
                                deletion and re-creation (the PV's own path is ignored)
    - emptyDir               -> ``<root>/pods/<namespace>/<name>-<uid>/volumes/<volume>``, per pod
    - secret / configMap     -> the same per-pod place, filled with the keys (or ``items``) read from
                                the API (this is how the service-account token volume is served)
  ``subPath`` is honoured. A container path cannot be remounted, so for each volumeMount every
  occurrence of its ``mountPath`` (as a whole path prefix: ``/data`` in ``--dir=/data/ckpt`` but not in
  ``/database``) in command, args, env values and workingDir is REWRITTEN to the local directory.
  Code must therefore take such paths from args/env, not hard-code them.
* Working dir: ``workingDir`` (rewritten as above) when it exists or lies in a volume, else a per-pod
  ``work`` directory.
* Credentials are the POD'S service account, never the admin's: the token from the ServiceAccount's
  token Secret (created by the 1.20 serviceaccount-token controller) goes into a per-pod kubeconfig
  pointing at the loopback apiserver, and ``KUBECONFIG`` names it; ``KUBERNETES_SERVICE_HOST=127.0.0.1``
  and ``KUBERNETES_SERVICE_PORT=<apiserver port>`` are set too, and 127.0.0.1 is added to NO_PROXY.
  (In-cluster config would read the token from /var/run/secrets/..., which the process cannot see;
  ``kubernetes.config.load_config()`` tries KUBECONFIG first.) ``automountServiceAccountToken: false``
  gives no kubeconfig.
* Status like a kubelet: Pending with the container waiting (ContainerCreating), Running with
  ``containerStatuses[0].state.running.startedAt``, then Succeeded (exit 0) or Failed with
  ``state.terminated.exitCode/reason`` (``Completed``/``Error``; 128+N and ``signal`` for a signal). A
  pod whose process cannot be started, or whose spec this agent does not support, ends Failed with a
  message (reason StartError / CreateContainerConfigError) and the agent carries on.
* Only ``restartPolicy: Never`` semantics: a finished process is never restarted, whatever the policy.
* ``resources`` (``nvidia.com/gpu`` included) are scheduling information only: the real scheduler does
  the fitting; the process gets no GPU and no limits.
* Deletion: when a pod gets a ``deletionTimestamp`` (user delete, namespace deletion or garbage
  collection) its process group gets SIGTERM, then SIGKILL after the pod's grace period (capped at
  ``grace_cap`` seconds), and the pod is then deleted with grace period 0 (uid precondition) so that
  it really goes away, as a kubelet does.
* stdout and stderr of each pod go to ``<root>/logs/<namespace>/<name>-<uid8>.log``.
* The watch restarts (re-list) when it expires (410 Gone) or the connection drops. A pod that was
  already Running when the agent started is marked Failed (reason NodeAgentRestarted): its process
  is not ours to watch. ``stop()`` kills the processes but writes no status, as a lost node would not.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .cluster import loopback_api_client, service_account_token

log = logging.getLogger("hyperprune.tests.node_agent")

STRATEGIC = "application/strategic-merge-patch+json"
PYTHON_NAMES = re.compile(r"python(3(\.\d+)?)?")
VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class PodConfigError(Exception):
    """The pod asks for something this agent does not do; the pod fails with this message."""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def expand_vars(text: str, env: dict[str, str]) -> str:
    """The kubelet's ``$(VAR)`` expansion: defined names are replaced, ``$$`` is a literal ``$``."""
    def sub(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return VAR_REF.sub(sub, text)


class PathRewriter:
    """Rewrites container mount paths to local directories inside strings (whole path prefixes only)."""

    def __init__(self, mapping: dict[str, Path]):
        self.mapping = {path.rstrip("/") or "/": str(local) for path, local in mapping.items()}
        # Longest first, so that a nested mount (/data/cache) wins over its parent (/data).
        paths = sorted(self.mapping, key=len, reverse=True)
        self.pattern = (re.compile(r"(?<![\w./-])(" + "|".join(map(re.escape, paths)) + r")(?=/|$|[^\w.-])")
                        if paths else None)

    def __call__(self, text: str) -> str:
        if self.pattern is None:
            return text
        return self.pattern.sub(lambda m: self.mapping[m.group(1)], text)


@dataclass
class _PodRun:
    uid: str
    namespace: str
    name: str
    dir: Path
    log: Path
    proc: subprocess.Popen | None = None
    deleting: bool = False
    gone: bool = False  # the API object no longer exists
    lock: threading.Lock = field(default_factory=threading.Lock)
    exited: threading.Event = field(default_factory=threading.Event)  # the process ended or never will
    threads: list[threading.Thread] = field(default_factory=list)


class NodeAgent:
    def __init__(self, kubeconfig: str | os.PathLike | client.ApiClient, node_name: str, root: str | os.PathLike,
                 *, grace_cap: float = 10.0, token_timeout: float = 30.0):
        if isinstance(kubeconfig, client.ApiClient):
            self.api_client = kubeconfig
        else:
            self.api_client = loopback_api_client(kubeconfig)
        self.core = client.CoreV1Api(self.api_client)
        self.server = self.api_client.configuration.host.rstrip("/")
        self.port = urlparse(self.server).port or 443
        self.node_name = node_name
        self.root = Path(root).resolve()
        self.grace_cap = grace_cap
        self.token_timeout = token_timeout
        self._runs: dict[str, _PodRun] = {}  # by pod uid; kept after the pod ends so it is not rerun
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watch_resp = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> NodeAgent:
        for sub in ("pvc", "pods", "logs"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._watch_loop, name=f"node-agent-{self.node_name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, grace: float = 3.0) -> None:
        """Stop watching and kill every process this agent started (TERM, then KILL after ``grace``)."""
        self._stopping.set()
        self._interrupt_watch()
        with self._lock:
            runs = list(self._runs.values())
        live = []
        for run in runs:
            with run.lock:  # a start in progress either finishes first (and is killed) or sees _stopping
                if run.proc is not None and not run.exited.is_set():
                    live.append(run)
        for run in live:
            _signal_group(run.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for run in live:
            run.exited.wait(max(0.0, deadline - time.monotonic()))
        for run in live:
            if not run.exited.is_set():
                _signal_group(run.proc.pid, signal.SIGKILL)
        for run in live:
            run.exited.wait(5)
        if self._thread is not None:
            self._thread.join(10)
        for run in runs:
            for thread in run.threads:
                thread.join(5)

    def __enter__(self) -> NodeAgent:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what tests read ---------------------------------------------------------------------------

    def log_path(self, namespace: str, name: str) -> Path | None:
        """The log file of the latest run of pod ``namespace/name`` (None if it never ran here)."""
        logs = sorted((self.root / "logs" / namespace).glob(f"{name}-*.log"), key=lambda p: p.stat().st_mtime)
        return logs[-1] if logs else None

    def log_text(self, namespace: str, name: str) -> str:
        path = self.log_path(namespace, name)
        return path.read_text(errors="replace") if path else ""

    def pid_of(self, namespace: str, name: str) -> int | None:
        with self._lock:
            for run in self._runs.values():
                if (run.namespace, run.name) == (namespace, name) and run.proc is not None:
                    return run.proc.pid
        return None

    def claim_dir(self, namespace: str, claim: str) -> Path:
        return self.root / "pvc" / namespace / claim

    # -- the watch -----------------------------------------------------------------------------------

    def _interrupt_watch(self) -> None:
        resp = self._watch_resp
        if resp is None:
            return
        # Shutting the socket down is what unblocks a thread sitting in ssl recv; close() alone does not.
        with contextlib.suppress(Exception):
            resp.shutdown()
        with contextlib.suppress(Exception):
            sock = resp.connection.sock
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)

    def _watch_loop(self) -> None:
        selector = f"spec.nodeName={self.node_name}"
        resource_version = None
        while not self._stopping.is_set():
            try:
                if resource_version is None:  # (re)list: the only way to resync after 410 Gone
                    resp = self.core.list_pod_for_all_namespaces(field_selector=selector, _preload_content=False)
                    listing = json.loads(resp.data)
                    resource_version = listing["metadata"]["resourceVersion"]
                    self._sync(listing["items"])
                resp = self.core.list_pod_for_all_namespaces(
                    field_selector=selector, watch=True, resource_version=resource_version,
                    allow_watch_bookmarks=True, timeout_seconds=240, _preload_content=False)
                self._watch_resp = resp
                try:
                    if self._stopping.is_set():
                        break
                    for line in _lines(resp):
                        event = json.loads(line)
                        obj = event["object"]
                        if event["type"] == "ERROR":
                            if obj.get("code") == 410:
                                log.info("watch expired (410 Gone); re-listing")
                                resource_version = None
                                break
                            raise RuntimeError(f"watch error: {obj}")
                        resource_version = obj["metadata"]["resourceVersion"]
                        if event["type"] == "DELETED":
                            self._on_pod_gone(obj["metadata"]["uid"])
                        elif event["type"] in ("ADDED", "MODIFIED"):
                            self._on_pod(obj)
                finally:
                    self._watch_resp = None
                    with contextlib.suppress(Exception):
                        resp.release_conn()
            except ApiException as exc:
                if exc.status == 410:
                    resource_version = None
                    continue
                if not self._stopping.is_set():
                    log.warning("node agent %s: API error %s; retrying", self.node_name, exc.status)
                    resource_version = None
                    self._stopping.wait(1)
            except Exception as exc:  # a dropped connection, a cluster going down: re-list and go on
                if not self._stopping.is_set():
                    log.warning("node agent %s: watch failed (%s); re-listing", self.node_name, exc)
                    resource_version = None
                    self._stopping.wait(1)

    def _sync(self, pods: list[dict]) -> None:
        seen = {pod["metadata"]["uid"] for pod in pods}
        with self._lock:
            vanished = [uid for uid, run in self._runs.items() if uid not in seen and not run.gone]
        for uid in vanished:
            self._on_pod_gone(uid)
        for pod in pods:
            self._on_pod(pod)

    def _on_pod(self, pod: dict) -> None:
        if self._stopping.is_set():
            return
        meta = pod["metadata"]
        uid = meta["uid"]
        with self._lock:
            run = self._runs.get(uid)
            if meta.get("deletionTimestamp"):
                if run is None:
                    run = self._runs[uid] = self._new_run(pod)
                    run.exited.set()
                if not run.deleting:
                    run.deleting = True
                    self._spawn(run, self._terminate, pod)
                return
            if run is not None:
                return  # started (or finished) already
            phase = pod.get("status", {}).get("phase", "Pending")
            if phase in ("Succeeded", "Failed"):
                return  # ran before this agent started; never rerun
            run = self._runs[uid] = self._new_run(pod)
            if phase == "Running":
                run.exited.set()
                self._spawn(run, self._fail_lost, pod)
            else:
                self._spawn(run, self._run_pod, pod)

    def _on_pod_gone(self, uid: str) -> None:
        """The API object is gone (deleted with grace 0 by us, or force-deleted): its process must go too."""
        with self._lock:
            run = self._runs.get(uid)
            if run is None:
                return
            run.gone = True
        with run.lock:  # as in stop(): a start in progress either finishes first or sees `deleting`
            run.deleting = True
            proc = run.proc
        if proc is not None and not run.exited.is_set():
            _signal_group(proc.pid, signal.SIGKILL)

    def _new_run(self, pod: dict) -> _PodRun:
        meta = pod["metadata"]
        ns, name, uid = meta["namespace"], meta["name"], meta["uid"]
        run_dir = self.root / "pods" / ns / f"{name}-{uid[:8]}"
        log_file = self.root / "logs" / ns / f"{name}-{uid[:8]}.log"
        return _PodRun(uid=uid, namespace=ns, name=name, dir=run_dir, log=log_file)

    def _spawn(self, run: _PodRun, target, pod: dict) -> None:
        thread = threading.Thread(target=self._guarded, args=(target, run, pod),
                                  name=f"node-agent-{run.namespace}/{run.name}", daemon=True)
        run.threads.append(thread)
        thread.start()

    def _guarded(self, target, run: _PodRun, pod: dict) -> None:
        try:
            target(run, pod)
        except Exception:
            if not self._stopping.is_set():
                log.exception("node agent %s: handling pod %s/%s failed", self.node_name, run.namespace, run.name)

    # -- running a pod --------------------------------------------------------------------------------

    def _run_pod(self, run: _PodRun, pod: dict) -> None:
        container = pod["spec"]["containers"][0]
        base_status = {"name": container["name"], "image": container.get("image", ""), "imageID": "",
                       "restartCount": 0}
        self._patch_status(run, {
            "phase": "Pending", "hostIP": "127.0.0.1", "startTime": _now(),
            "conditions": [_condition("Initialized", "True"),
                           _condition("ContainersReady", "False", "ContainersNotReady"),
                           _condition("Ready", "False", "ContainersNotReady")],
            "containerStatuses": [{**base_status, "ready": False, "started": False,
                                   "state": {"waiting": {"reason": "ContainerCreating"}}}]})
        try:
            argv, env, cwd = self._prepare(run, pod)
        except Exception as exc:  # anything this pod asks for that cannot be done fails the pod, not the agent
            message = str(exc) if isinstance(exc, PodConfigError) else f"{type(exc).__name__}: {exc}"
            self._fail_start(run, base_status, "CreateContainerConfigError", message)
            return
        run.log.parent.mkdir(parents=True, exist_ok=True)
        with run.lock:
            if run.deleting or self._stopping.is_set():
                run.exited.set()
                return
            with open(run.log, "ab") as out:
                out.write(f"--- node agent: {' '.join(argv)} (cwd {cwd})\n".encode())
                out.flush()
                try:
                    run.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                                stderr=subprocess.STDOUT, start_new_session=True)
                except OSError as exc:
                    out.write(f"--- node agent: cannot start: {exc}\n".encode())
                    start_error = f"cannot start {argv[0]!r}: {exc.strerror or exc}"
                else:
                    start_error = None
        if start_error:
            self._fail_start(run, base_status, "StartError", start_error)
            return
        started_at = _now()
        log.info("node agent %s: pod %s/%s runs as pid %d", self.node_name, run.namespace, run.name, run.proc.pid)
        self._patch_status(run, {
            "phase": "Running",
            "conditions": [_condition("ContainersReady", "True"), _condition("Ready", "True")],
            "containerStatuses": [{**base_status, "ready": True, "started": True,
                                   "state": {"waiting": None, "running": {"startedAt": started_at}}}]})
        code = run.proc.wait()
        run.exited.set()
        if self._stopping.is_set():
            return  # the agent (the "node") is going away: like a lost kubelet, it reports nothing more
        terminated: dict[str, Any] = {"startedAt": started_at, "finishedAt": _now()}
        if code < 0:  # killed by a signal: report it the way a container runtime does
            terminated.update(exitCode=128 - code, signal=-code, reason="Error")
        else:
            terminated.update(exitCode=code, reason="Completed" if code == 0 else "Error")
        log.info("node agent %s: pod %s/%s exited with %s", self.node_name, run.namespace, run.name,
                 terminated["exitCode"])
        self._patch_status(run, {
            "phase": "Succeeded" if code == 0 else "Failed",
            "conditions": [_condition("ContainersReady", "False", "PodCompleted"),
                           _condition("Ready", "False", "PodCompleted")],
            "containerStatuses": [{**base_status, "ready": False, "started": False,
                                   "state": {"running": None, "terminated": terminated}}]})

    def _fail_start(self, run: _PodRun, base_status: dict, reason: str, message: str) -> None:
        log.warning("node agent %s: pod %s/%s cannot start: %s", self.node_name, run.namespace, run.name, message)
        run.log.parent.mkdir(parents=True, exist_ok=True)
        with open(run.log, "a") as out:
            out.write(f"--- node agent: {reason}: {message}\n")
        run.exited.set()
        now = _now()
        self._patch_status(run, {
            "phase": "Failed", "reason": reason, "message": message,
            "conditions": [_condition("ContainersReady", "False", "PodCompleted"),
                           _condition("Ready", "False", "PodCompleted")],
            "containerStatuses": [{**base_status, "ready": False, "started": False, "state": {
                "waiting": None, "terminated": {"exitCode": 128, "reason": reason, "message": message,
                                                "startedAt": now, "finishedAt": now}}}]})

    def _fail_lost(self, run: _PodRun, pod: dict) -> None:
        self._patch_status(run, {"phase": "Failed", "reason": "NodeAgentRestarted",
                                 "message": "the pod was Running before this node agent started; its process is lost"})

    def _patch_status(self, run: _PodRun, status: dict) -> None:
        try:
            self.core.patch_namespaced_pod_status(run.name, run.namespace, {"status": status},
                                                  _content_type=STRATEGIC)
        except ApiException as exc:
            if exc.status != 404:  # 404: the pod is gone (deleted meanwhile), nothing to report to
                log.warning("node agent %s: status of %s/%s not written: %s %s", self.node_name, run.namespace,
                            run.name, exc.status, exc.reason)

    # -- deletion ---------------------------------------------------------------------------------------

    def _terminate(self, run: _PodRun, pod: dict) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", 30)
        grace = min(float(grace), self.grace_cap)
        with run.lock:  # after this, the start path sees `deleting` and starts nothing
            proc = run.proc
        if proc is not None and not run.exited.is_set():
            log.info("node agent %s: pod %s/%s deleted; SIGTERM to pid %d (grace %.0f s)", self.node_name,
                     run.namespace, run.name, proc.pid, grace)
            _signal_group(proc.pid, signal.SIGTERM)
            if not run.exited.wait(grace):
                _signal_group(proc.pid, signal.SIGKILL)
                run.exited.wait(10)
        with contextlib.suppress(ApiException):  # 404: gone already; 409: a new pod took the name
            self.core.delete_namespaced_pod(
                run.name, run.namespace, grace_period_seconds=0,
                body=client.V1DeleteOptions(grace_period_seconds=0, preconditions=client.V1Preconditions(uid=run.uid)))

    # -- turning a pod spec into a process ---------------------------------------------------------------

    def _prepare(self, run: _PodRun, pod: dict) -> tuple[list[str], dict[str, str], str]:
        meta, spec = pod["metadata"], pod["spec"]
        container = spec["containers"][0]
        if spec.get("initContainers"):
            raise PodConfigError("initContainers are not supported by the test node agent")
        if not container.get("command"):
            raise PodConfigError("container has no `command`: the test node agent cannot know an image's "
                                 "entrypoint; give the full command")
        run.dir.mkdir(parents=True, exist_ok=True)

        # Environment, as the kubelet builds it: each value may refer to earlier ones with $(VAR).
        pod_env: dict[str, str] = {}
        for item in container.get("env") or []:
            if "valueFrom" in item:
                pod_env[item["name"]] = self._value_from(pod, item)
            else:
                pod_env[item["name"]] = expand_vars(item.get("value", ""), pod_env)
        if container.get("envFrom"):
            raise PodConfigError("envFrom is not supported by the test node agent")
        argv = [expand_vars(arg, pod_env) for arg in container["command"] + (container.get("args") or [])]

        rewrite = PathRewriter(self._volume_dirs(run, pod))
        argv = [rewrite(arg) for arg in argv]
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        env.update({name: rewrite(value) for name, value in pod_env.items()})
        env.update(HOSTNAME=meta["name"], KUBERNETES_SERVICE_HOST="127.0.0.1",
                   KUBERNETES_SERVICE_PORT=str(self.port), KUBERNETES_SERVICE_PORT_HTTPS=str(self.port))
        for var in ("NO_PROXY", "no_proxy"):  # API traffic stays on loopback even where a proxy is set
            env[var] = ",".join(filter(None, [env.get(var), "127.0.0.1", "localhost"]))
        if self._automount(pod):
            env["KUBECONFIG"] = str(self._pod_kubeconfig(run, pod))

        if PYTHON_NAMES.fullmatch(os.path.basename(argv[0])):
            argv[0] = sys.executable
        elif "/" not in argv[0]:
            argv[0] = shutil.which(argv[0], path=env.get("PATH")) or argv[0]  # Popen reports a miss

        cwd = run.dir / "work"
        if container.get("workingDir"):
            wanted = Path(rewrite(container["workingDir"]))
            if wanted.is_dir() or any(str(wanted).startswith(local) for local in rewrite.mapping.values()):
                cwd = wanted
        cwd.mkdir(parents=True, exist_ok=True)
        return argv, env, str(cwd)

    def _value_from(self, pod: dict, item: dict) -> str:
        source = item["valueFrom"]
        field_path = (source.get("fieldRef") or {}).get("fieldPath")
        if field_path is None:
            raise PodConfigError(f"env {item['name']}: only `value` and `valueFrom.fieldRef` are supported by "
                                 f"the test node agent, not {sorted(source)}")
        meta, spec = pod["metadata"], pod["spec"]
        simple = {"metadata.name": meta["name"], "metadata.namespace": meta["namespace"], "metadata.uid": meta["uid"],
                  "spec.nodeName": spec.get("nodeName", ""),
                  "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
                  "status.hostIP": "127.0.0.1"}
        if field_path in simple:
            return simple[field_path]
        match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", field_path)
        if match:
            return (meta.get(match.group(1)) or {}).get(match.group(2), "")
        raise PodConfigError(f"env {item['name']}: fieldRef {field_path!r} is not supported by the test node agent")

    def _volume_dirs(self, run: _PodRun, pod: dict) -> dict[str, Path]:
        """mountPath -> local directory for the first container's volumeMounts (see the module doc)."""
        volumes = {v["name"]: v for v in pod["spec"].get("volumes") or []}
        ns = run.namespace
        mapping: dict[str, Path] = {}
        for mount in pod["spec"]["containers"][0].get("volumeMounts") or []:
            volume = volumes.get(mount["name"])
            if volume is None:
                raise PodConfigError(f"volumeMount {mount['name']!r} names no volume")
            per_pod = run.dir / "volumes" / mount["name"]
            if "hostPath" in volume:
                local = Path(volume["hostPath"]["path"])
                if volume["hostPath"].get("type", "") not in ("", "DirectoryOrCreate") and not local.exists():
                    raise PodConfigError(f"hostPath {local} does not exist")
            elif "persistentVolumeClaim" in volume:
                local = self.claim_dir(ns, volume["persistentVolumeClaim"]["claimName"])
            elif "emptyDir" in volume:
                local = per_pod
            elif "secret" in volume:
                secret = self.core.read_namespaced_secret(volume["secret"]["secretName"], ns, _preload_content=False)
                data = {k: base64.b64decode(v) for k, v in (json.loads(secret.data).get("data") or {}).items()}
                local = _materialize(per_pod, data, volume["secret"].get("items"))
            elif "configMap" in volume:
                cm = json.loads(self.core.read_namespaced_config_map(volume["configMap"]["name"], ns,
                                                                      _preload_content=False).data)
                data = {k: v.encode() for k, v in (cm.get("data") or {}).items()}
                data.update({k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()})
                local = _materialize(per_pod, data, volume["configMap"].get("items"))
            else:
                kinds = sorted(set(volume) - {"name"})
                raise PodConfigError(f"volume {mount['name']!r} of type {kinds} is not supported by the test "
                                     "node agent")
            if mount.get("subPath"):
                local = local / mount["subPath"]
            if not local.exists():
                local.mkdir(parents=True)
            mapping[mount["mountPath"]] = local
        return mapping

    # -- service-account credentials ---------------------------------------------------------------------

    def _automount(self, pod: dict) -> bool:
        value = pod["spec"].get("automountServiceAccountToken")
        return True if value is None else bool(value)

    def _pod_kubeconfig(self, run: _PodRun, pod: dict) -> Path:
        account = pod["spec"].get("serviceAccountName") or "default"
        token, ca = service_account_token(self.core, run.namespace, account, timeout=self.token_timeout)
        path = run.dir / "kubeconfig"
        path.write_text(json.dumps({  # JSON is YAML: every kubeconfig reader takes it
            "apiVersion": "v1", "kind": "Config", "current-context": "pod",
            "clusters": [{"name": "local", "cluster": {"server": self.server,
                                                       "certificate-authority-data": base64.b64encode(ca).decode()}}],
            "users": [{"name": f"system:serviceaccount:{run.namespace}:{account}", "user": {"token": token}}],
            "contexts": [{"name": "pod", "context": {"cluster": "local", "namespace": run.namespace,
                                                     "user": f"system:serviceaccount:{run.namespace}:{account}"}}],
        }, indent=1))
        path.chmod(0o600)
        return path


def _materialize(directory: Path, data: dict[str, bytes], items: list[dict] | None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    chosen = [(i["key"], i["path"]) for i in items] if items else [(k, k) for k in data]
    for key, rel in chosen:
        if key in data:
            target = directory / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data[key])
    return directory


def _condition(kind: str, status: str, reason: str | None = None) -> dict:
    cond = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": _now()}
    if reason:
        cond["reason"] = reason
    return cond


def _signal_group(pgid: int, sig: int) -> None:
    """Signal the process group a pod's process leads (it was started in its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _lines(resp):
    """Lines of a chunked watch response, as they arrive."""
    buffer = b""
    for chunk in resp.stream(amt=None, decode_content=False):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield line
