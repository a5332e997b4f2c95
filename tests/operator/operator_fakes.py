"""An in-memory API (``FakeKube``, the methods ``SearchWorker`` calls) and a fake kubelet that "runs"
trial pods by writing the reports a synthetic trajectory gives (``hyperprune.policy.simulate``).

For fast, deterministic worker tests (restart after every step, lost pods, unknown trials). The real
control plane tests (tests/kube/) check the same behaviours against a real API server; these check
what timing there cannot pin down.
"""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any, Callable

from kubernetes.client.exceptions import ApiException

from hyperprune.policy.simulate import latent_trajectories
from hyperprune.contract.pod import report_entry
from hyperprune.contract.report import TrialReport
from hyperprune.spec import Point

NAMESPACE = "ns"


def merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 JSON merge patch."""
    out = dict(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _controller(body: dict[str, Any]) -> str | None:
    refs = body["metadata"].get("ownerReferences") or []
    return next((r["uid"] for r in refs if r.get("controller")), None)


class FakeKube:
    def __init__(self) -> None:
        self.store: dict[str, dict[str, dict[str, Any]]] = {"search": {}, "trial": {}, "pod": {}}
        self.events: list[dict[str, Any]] = []
        self.listeners: list[Callable[[str, str, dict[str, Any]], None]] = []
        self.calls: list[tuple[str, str]] = []
        self.refuse_creates: set[str] = set()  # pod names whose next create fails (an API server error)
        self.refuse_deletes = 0  # this many pod deletions fail next (an API server error)
        self._rv = itertools.count(1)
        self._uid = itertools.count(1)

    # ---- bookkeeping -----------------------------------------------------------------------------

    def _new(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        body = copy.deepcopy(body)
        meta = body["metadata"]
        meta.setdefault("namespace", NAMESPACE)
        meta["uid"] = f"{kind}-uid-{next(self._uid)}"
        meta["generation"] = 1
        meta["resourceVersion"] = str(next(self._rv))
        self.store[kind][meta["name"]] = body
        self._emit(kind, "ADDED", body)
        return copy.deepcopy(body)

    def _emit(self, kind: str, type_: str, body: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(kind, type_, copy.deepcopy(body))

    def _get(self, kind: str, name: str) -> dict[str, Any]:
        if name not in self.store[kind]:
            raise ApiException(status=404, reason="Not Found")
        return self.store[kind][name]

    def _patch_status(self, kind: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        body = self._get(kind, name)
        body["status"] = merge(body.get("status") or {}, status)
        body["metadata"]["resourceVersion"] = str(next(self._rv))
        self._emit(kind, "MODIFIED", body)
        return copy.deepcopy(body)

    def delete(self, kind: str, name: str) -> None:
        body = self.store[kind].pop(name)
        self._emit(kind, "DELETED", body)
        if kind in ("search", "trial"):  # the garbage collector
            owned = [(k, n) for k in ("trial", "pod") for n, b in self.store[k].items()
                     if _controller(b) == body["metadata"]["uid"]]
            for k, n in owned:
                if n in self.store[k]:
                    self.delete(k, n)

    # ---- what SearchWorker calls ------------------------------------------------------------------

    def add_search(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._new("search", body)

    def get_search(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.calls.append(("get_search", name))
        body = self.store["search"].get(name)
        return copy.deepcopy(body) if body else None

    def patch_search_status(self, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("patch_search_status", name))
        return self._patch_status("search", name, status)

    def list_trials(self, namespace: str, search: str) -> list[dict[str, Any]]:
        self.calls.append(("list_trials", search))
        return [copy.deepcopy(b) for b in self.store["trial"].values() if b["spec"]["search"] == search]

    def get_trial(self, namespace: str, name: str) -> dict[str, Any] | None:
        body = self.store["trial"].get(name)
        return copy.deepcopy(body) if body else None

    def create_trial(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        self.calls.append(("create_trial", body["metadata"]["name"]))
        existing = self.store["trial"].get(body["metadata"]["name"])
        if existing is not None:
            return copy.deepcopy(existing), False
        return self._new("trial", body), True

    def patch_trial_status(self, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("patch_trial_status", name))
        return self._patch_status("trial", name, status)

    def list_pods(self, namespace: str, search: str, *, cached: bool = False) -> list[dict[str, Any]]:
        return [copy.deepcopy(b) for b in self.store["pod"].values()
                if b["metadata"]["labels"].get("hyperprune.io/search") == search]

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        body = self.store["pod"].get(name)
        return copy.deepcopy(body) if body else None

    def create_pod(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        self.calls.append(("create_pod", body["metadata"]["name"]))
        if body["metadata"]["name"] in self.refuse_creates:
            self.refuse_creates.discard(body["metadata"]["name"])
            raise ApiException(status=503, reason="Service Unavailable")
        existing = self.store["pod"].get(body["metadata"]["name"])
        if existing is not None:
            return copy.deepcopy(existing), False
        body = dict(body, status={"phase": "Pending"})
        return self._new("pod", body), True

    def delete_pod(self, namespace: str, name: str, uid: str | None = None) -> bool:
        self.calls.append(("delete_pod", name))
        if self.refuse_deletes > 0:
            self.refuse_deletes -= 1
            raise ApiException(status=503, reason="Service Unavailable")
        body = self.store["pod"].get(name)
        if body is None or (uid and body["metadata"]["uid"] != uid):
            return False
        self.delete("pod", name)
        return True

    def create_event(self, body: dict[str, Any]) -> None:
        self.events.append(body)

    def ensure(self, body: dict[str, Any]) -> bool:
        return True

    # ---- what a kubelet and the pods would do ----------------------------------------------------------

    def set_pod_phase(self, name: str, phase: str, **terminated: Any) -> None:
        body = self.store["pod"][name]
        body["status"] = {"phase": phase}
        if terminated:
            body["status"]["containerStatuses"] = [{"state": {"terminated": terminated}}]
        body["metadata"]["resourceVersion"] = str(next(self._rv))
        self._emit("pod", "MODIFIED", body)


def _arg(pod: dict[str, Any], flag: str) -> str:
    args = pod["spec"]["containers"][0]["args"]
    return args[args.index(flag) + 1]


class FakeKubelet:
    """Runs one pending pod per ``run_one`` call, in name order: a trial pod reports each epoch from
    its checkpoint (kept per work dir) to --until-epoch, as ``hyperprune trial --reporter kube``."""

    def __init__(self, kube: FakeKube, *, seed: int = 0, exponents: int = 8) -> None:
        self.kube = kube
        self.trajectories = latent_trajectories(seed=seed, exponents=exponents)
        self.checkpoints: dict[str, int] = {}  # work dir -> epoch
        self.epochs_trained = 0
        self.fail_next: set[str] = set()  # pod names that crash (exit 1) instead of training
        self.refuse_next: set[str] = set()  # pod names that refuse their config (exit 2, the trial contract)

    def pending(self) -> list[str]:
        return sorted(n for n, b in self.kube.store["pod"].items() if b["status"]["phase"] == "Pending")

    def run_one(self) -> bool:
        pending = self.pending()
        if not pending:
            return False
        name = pending[0]
        pod = self.kube.store["pod"][name]
        if pod["metadata"]["labels"]["app.kubernetes.io/component"] == "promotion":
            if name in self.fail_next:
                self.fail_next.discard(name)
                self.kube.set_pod_phase(name, "Failed", exitCode=1, reason="Error", message="error: no space left on device")
            else:
                self.kube.set_pod_phase(name, "Succeeded", exitCode=0, reason="Completed")
            return True
        self.kube.set_pod_phase(name, "Running")
        if name in self.fail_next:
            self.fail_next.discard(name)
            self.kube.set_pod_phase(name, "Failed", exitCode=1, reason="Error", message="Traceback: boom")
            return True
        if name in self.refuse_next:
            self.refuse_next.discard(name)
            self.kube.set_pod_phase(name, "Failed", exitCode=2, reason="Error",
                                    message="pruning.params.zeta: must be in (0, 1)")
            return True
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        config = json.loads(env["HYPERPRUNE_TRIAL_CONFIG"])
        trial = self.kube.store["trial"][env["HYPERPRUNE_TRIAL_NAME"]]
        path = self.trajectories(trial["spec"]["trialId"], Point.from_json(trial["spec"]["params"]))
        workdir, until = _arg(pod, "--workdir"), int(_arg(pod, "--until-epoch"))
        final = config["training"]["epochs"]
        spectra = set(config["lyapunov"]["epochs"] or range(1, final + 1))
        for epoch in range(self.checkpoints.get(workdir, 0) + 1, until + 1):
            report = TrialReport(
                trial_id=trial["spec"]["trialId"], epoch=epoch, metric="perplexity", mode="min",
                status="completed" if epoch == final else "running", val_metric=path.metric(epoch),
                lyapunov=[float(x) for x in path.spectrum(epoch)] if epoch in spectra else None)
            entry = report_entry(report, int(env["HYPERPRUNE_TRIAL_RUN"]), name)
            self.kube.patch_trial_status(NAMESPACE, trial["metadata"]["name"], {"reports": {str(epoch): entry}})
            self.checkpoints[workdir] = epoch
            self.epochs_trained += 1
        self.kube.set_pod_phase(name, "Succeeded", exitCode=0, reason="Completed")
        return True


def small_search(name: str = "s", **spec: Any) -> dict[str, Any]:
    body = {
        "apiVersion": "hyperprune.io/v1alpha1", "kind": "HyperpruneSearch",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "model": {"arch": "lstm", "hiddenSize": 4},
            "training": {"epochs": 6},
            "space": {"methods": [{"method": "magnitude", "params": {"pruneEpoch": [0]}}, {"method": "random"}],
                      "sparsity": [0.2, 0.4, 0.6, 0.8, 0.9]},
            "budget": {"maxTrials": 8, "parallelism": 3, "retries": 1, "maxFailedTrials": 2},
            "strategy": {"name": "lsh", "rungs": {"first": 1, "step": 2, "keepFraction": 0.5, "finalists": 2},
                         "generation": {"sampler": "random"}},
            "dense": {"compare": True},  # to the end, as the tests read it (default: the last rung)
            "trialTemplate": {"volume": {"persistentVolumeClaim": {"claimName": "data"}}},
        },
    }
    body["spec"].update(spec)
    return body
