"""The operator under load, against a real API server: how fast reports turn into actions, and memory.

    .venv/bin/python benchmarks/operator.py [--trials 2000] [--searches 50] [--search-trials 40]
                                           [--sampler tpe|random] [--epoch-seconds 5]
                                           [--output benchmarks/results/operator.json]

Starts a real control plane (scripts/control-plane: etcd + kube-apiserver + controller-manager +
scheduler on loopback), installs crds/, and runs ``hyperprune-operator`` as its own process. No
training happens: a load script plays every trial pod. For each pod the operator creates it "trains"
from the trial's checkpoint to ``--until-epoch`` (``--epoch-seconds`` per epoch, +-50%), patching one report
per epoch into the trial's status exactly as ``hyperprune trial --reporter kube`` does (metric and a
32-exponent spectrum from the policy simulator's latent trajectories), then marks the pod Succeeded.

Two scenarios, each with a fresh operator process:
  A. one lsh search of --trials candidates (parallelism 50);
  B. --searches concurrent lsh searches of --search-trials candidates each (--search-parallelism each,
     2 by default: 100 trials at once, as in A's 50 plus room).

Measured:
  * report -> action: from a report's patch returning to the operator's status write that reflects
    it (the trial's status.epoch reaching the report's epoch), as the load script's watch sees it.
    The operator writes that after deciding and applying the decision's actions (Stop, Continue,
    Start) in the same step, so this bounds the time to the resulting action; p50 / p99 / max.
  * the operator's own histogram hyperprune_report_to_action_seconds (report event received ->
    actions applied), read from its /metrics;
  * the operator's peak resident memory (VmHWM of its process), what it adds per trial over the
    idle operator, and its CPU time.
Targets: p99 under 1 s, memory under 250 MB. Results go to --output as JSON, one entry per scenario.

The offered load is every running trial reporting once per ``--epoch-seconds``: with parallelism 50
and 5 s epochs, 10 reports per second (real epochs take minutes). ``--epoch-seconds 0.05`` instead
offers as much as the API server takes: a saturation test, where latency is queueing.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "operator"))

from hyperprune.contract.api import GROUP, VERSION  # noqa: E402
from hyperprune.spec.point import Point  # noqa: E402
from tests.kube.cluster import register_node, start_cluster, wait_until  # noqa: E402  (stdlib at import time)
P99_TARGET_S = 1.0
MEMORY_TARGET_MB = 250.0


def search_body(name: str, trials: int, parallelism: int, sampler: str, epochs: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "HyperpruneSearch", "metadata": {"name": name},
        "spec": {
            "model": {"arch": "lstm", "hiddenSize": 16},  # 32 exponents, like the simulated spectra
            "training": {"epochs": epochs},
            "device": "cpu",
            "space": {"methods": [{"method": "magnitude", "params": {"scope": ["layer", "global"], "pruneEpoch": [0]}},
                                  {"method": "set", "params": {"zeta": {"low": 0.1, "high": 0.5}}},
                                  {"method": "random"}],
                      "sparsity": {"low": 0.3, "high": 0.95}},
            "budget": {"maxTrials": trials, "parallelism": parallelism, "maxFailedTrials": trials, "retries": 1},
            "strategy": {"name": "lsh", "rungs": {"first": 1, "step": 1, "keepFraction": 0.5, "finalists": 2},
                         "generation": {"sampler": sampler}},
            # hostPath: no claim to bind; pods are scheduled onto the registered node at once and stay
            # there (no kubelet runs them; the load script plays them).
            "trialTemplate": {"image": "hyperprune-trial:bench",
                              "volume": {"hostPath": {"path": "/var/lib/hyperprune-bench"}}},
        },
    }


def _lines(resp):
    buffer = b""
    for chunk in resp.stream(amt=None, decode_content=False):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield json.loads(line)


@dataclass
class Load:
    """Plays every trial pod: reports epochs into trial status, then finishes the pod."""

    api: Any
    namespace: str
    epoch_seconds: float
    exponents: int = 32
    sent: dict[tuple[str, int, int], float] = field(default_factory=dict)  # (trial, run, epoch) -> time
    checkpoints: dict[str, int] = field(default_factory=dict)
    started_pods: set[str] = field(default_factory=set)
    reports: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        from kubernetes import client

        from hyperprune.policy.simulate import latent_trajectories
        self.custom = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)
        self.paths = latent_trajectories(seed=0, exponents=self.exponents)
        self.pool = __import__("concurrent.futures").futures.ThreadPoolExecutor(max_workers=24)
        self.targets: dict[tuple[str, int, int], int] = {}  # (trial, run, epoch) -> the attempt's target
        self.specs: dict[str, dict[str, Any]] = {}

    # -- trial pods -----------------------------------------------------------------------------------

    def watch_pods(self) -> None:
        selector = "app.kubernetes.io/managed-by=hyperprune-operator"
        version = None
        while not self.stop.is_set():
            try:
                resp = self.core.list_namespaced_pod(self.namespace, label_selector=selector, watch=True,
                                                     resource_version=version, timeout_seconds=60,
                                                     _preload_content=False)
                for event in _lines(resp):
                    if event["type"] == "ERROR":
                        version = None
                        break
                    pod = event["object"]
                    version = pod["metadata"]["resourceVersion"]
                    if event["type"] == "ADDED" and pod["metadata"]["name"] not in self.started_pods:
                        self.started_pods.add(pod["metadata"]["name"])
                        self.pool.submit(self.run_pod, pod)
                    if self.stop.is_set():
                        break
            except Exception as exc:  # a dropped watch: resume
                if not self.stop.is_set():
                    print(f"pod watch: {exc}", file=sys.stderr)

    def run_pod(self, pod: dict[str, Any]) -> None:
        from hyperprune.contract.pod import report_entry
        from hyperprune.contract.report import TrialReport

        try:
            name = pod["metadata"]["name"]
            container = pod["spec"]["containers"][0]
            if pod["metadata"]["labels"]["app.kubernetes.io/component"] == "promotion":
                self.finish(name)
                return
            env = {e["name"]: e.get("value") for e in container["env"]}
            args = container["args"]
            workdir, until = args[args.index("--workdir") + 1], int(args[args.index("--until-epoch") + 1])
            config, trial, run = json.loads(env["HYPERPRUNE_TRIAL_CONFIG"]), env["HYPERPRUNE_TRIAL_NAME"], int(env["HYPERPRUNE_TRIAL_RUN"])
            spec = self.specs.get(trial)
            if spec is None:
                spec = self.specs[trial] = self.custom.get_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, "hyperprunetrials", trial)["spec"]
            path = self.paths(spec["trialId"], Point.from_json(spec["params"]))
            final = config["training"]["epochs"]
            spectra = set(config["lyapunov"]["epochs"] or range(1, final + 1))
            for epoch in range(self.checkpoints.get(workdir, 0) + 1, until + 1):
                time.sleep(self.epoch_seconds * random.uniform(0.5, 1.5))
                report = TrialReport(trial_id=spec["trialId"], epoch=epoch, metric="perplexity", mode="min",
                                     status="completed" if epoch == final else "running",
                                     val_metric=path.metric(epoch),
                                     lyapunov=[float(x) for x in path.spectrum(epoch)] if epoch in spectra else None)
                body = {"status": {"reports": {str(epoch): report_entry(report, run, name)}}}
                self.custom.patch_namespaced_custom_object_status(
                    GROUP, VERSION, self.namespace, "hyperprunetrials", trial, body,
                    _content_type="application/merge-patch+json")
                with self.lock:
                    self.sent[(trial, run, epoch)] = time.monotonic()
                    self.targets[(trial, run, epoch)] = until
                    self.reports += 1
                self.checkpoints[workdir] = epoch
            self.finish(name)
        except Exception as exc:
            if not self.stop.is_set():
                print(f"pod {pod['metadata']['name']}: {type(exc).__name__}: {exc}", file=sys.stderr)

    def finish(self, name: str) -> None:
        from kubernetes.client.exceptions import ApiException

        status = {"phase": "Succeeded", "containerStatuses": [{
            "name": "trial", "image": "x", "imageID": "", "ready": False, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}
        try:
            self.core.patch_namespaced_pod_status(name, self.namespace, {"status": status})
        except ApiException as exc:
            if exc.status != 404:  # deleted meanwhile (a stopped trial)
                raise



def watch_trials(kubeconfig: str, namespace: str, out: Any, stop: Any) -> None:
    """In its own process (no GIL shared with the load): when did each trial's status first show the
    operator had processed epoch e of run r? Sends {(trial, run, epoch): monotonic time} back."""
    sys.path.insert(0, str(REPO))
    from tests.kube.cluster import loopback_api_client

    from kubernetes import client

    custom = client.CustomObjectsApi(loopback_api_client(kubeconfig))
    seen: dict[tuple[str, int], int] = {}
    first: dict[tuple[str, int, int], float] = {}
    version = None  # resume where the last watch ended: a re-list would replay every trial
    while not stop.is_set():
        try:
            resp = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "hyperprunetrials", watch=True,
                                                        resource_version=version, timeout_seconds=30,
                                                        _preload_content=False)
            for event in _lines(resp):
                now = time.monotonic()
                if event["type"] == "ERROR":
                    version = None  # 410 Gone: start over from the current state
                    break
                trial = event["object"]
                version = trial["metadata"]["resourceVersion"]
                status = trial.get("status") or {}
                key = (trial["metadata"]["name"], int(status.get("run") or 0))
                epoch = int(status.get("epoch") or 0)
                for e in range(seen.get(key, 0) + 1, epoch + 1):
                    first[(*key, e)] = now
                seen[key] = max(seen.get(key, 0), epoch)
                if stop.is_set():
                    break
        except Exception as exc:
            if not stop.is_set():
                print(f"trial watch: {exc}", file=sys.stderr)
    out.send(first)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))]


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def operator_histogram(port: int) -> tuple[int, float, dict[float, float]]:
    from prometheus_client.parser import text_string_to_metric_families

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    text = opener.open(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    buckets, count, total = {}, 0, 0.0
    for family in text_string_to_metric_families(text):
        if family.name == "hyperprune_report_to_action_seconds":
            for s in family.samples:
                if s.name.endswith("_bucket"):
                    buckets[float(s.labels["le"])] = s.value
                elif s.name.endswith("_count"):
                    count = int(s.value)
                elif s.name.endswith("_sum"):
                    total = s.value
    return count, total, buckets


def bucket_quantile(buckets: dict[float, float], q: float) -> float:
    count = buckets.get(float("inf"), 0)
    for le in sorted(buckets):
        if buckets[le] >= q * count:
            return le
    return float("inf")


def run_scenario(cluster, api, title: str, searches: list[dict[str, Any]], epoch_seconds: float,
                 workdir: Path, timeout: float) -> dict[str, Any]:
    from kubernetes import client

    core = client.CoreV1Api(api)
    namespace = f"bench-{int(time.time() * 1000) % 10**8}"
    core.create_namespace({"metadata": {"name": namespace}})
    port = _free_port()
    log = open(workdir / f"operator-{namespace}.log", "wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env["KUBECONFIG"] = str(cluster.kubeconfig)
    operator = subprocess.Popen(
        [str(Path(sys.executable).with_name("hyperprune-operator")), "--namespace", namespace, "--standalone",
         "--metrics-port", str(port), "--metrics-host", "127.0.0.1"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    load = Load(api, namespace, epoch_seconds)
    threading.Thread(target=load.watch_pods, daemon=True).start()
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    stop_watch = context.Event()
    watcher = context.Process(target=watch_trials, args=(str(cluster.kubeconfig), namespace, sender, stop_watch),
                              daemon=True)
    watcher.start()
    time.sleep(2.0)
    idle_rss = vm_hwm_mb(operator.pid)  # started, watching, no search yet
    custom = client.CustomObjectsApi(api)
    started = time.monotonic()
    try:
        for body in searches:
            custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "hyperprunesearches", body)

        def finished() -> bool:
            if operator.poll() is not None:
                raise RuntimeError(f"the operator exited with {operator.returncode}; see {log.name}")
            items = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "hyperprunesearches")["items"]
            return all((s.get("status") or {}).get("phase") in ("Succeeded", "Failed") for s in items)

        wait_until(finished, timeout, f"{title} to finish", interval=1.0)
        wall = time.monotonic() - started
        time.sleep(2.0)  # the last status events reach the watch
        stop_watch.set()
        first = receiver.recv()
        watcher.join(10)
        latencies, rung_latencies = [], []
        for key, sent in load.sent.items():
            if key in first:
                latencies.append(max(first[key] - sent, 0.0))
                if key[2] == load.targets.get(key):  # the report that ends an attempt: a rung decision
                    rung_latencies.append(latencies[-1])
        unanswered = len(load.sent) - len(latencies)
        slowest = sorted(((first[k] - t, k, t - started) for k, t in load.sent.items() if k in first), reverse=True)[:10]
        (workdir / f"slowest-{namespace}.json").write_text(json.dumps(
            [{"latency_s": round(l, 3), "trial": k[0], "run": k[1], "epoch": k[2], "sent_at_s": round(at, 2)}
             for l, k, at in slowest], indent=1))
        phases = [(s.get("status") or {}).get("phase") for s in
                  custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "hyperprunesearches")["items"]]
        hist = operator_histogram(port)
        result = {
            "scenario": title, "searches": len(searches), "phases": {p: phases.count(p) for p in set(phases)},
            "reports": load.reports, "wall_s": round(wall, 1), "reports_per_s": round(load.reports / wall, 1),
            "epoch_seconds": epoch_seconds,
            "report_to_action_p50_s": round(percentile(latencies, 50), 3),
            "report_to_action_p99_s": round(percentile(latencies, 99), 3),
            "report_to_action_max_s": round(max(latencies), 3),
            "rung_decisions": len(rung_latencies),
            "rung_decision_p50_s": round(percentile(rung_latencies, 50), 3),
            "rung_decision_p99_s": round(percentile(rung_latencies, 99), 3),
            "reports_without_status": unanswered,
            "operator_hist_count": hist[0],
            "operator_hist_mean_s": round(hist[1] / hist[0], 4) if hist[0] else None,
            "operator_hist_p99_le_s": bucket_quantile(hist[2], 0.99),
            "operator_idle_rss_mb": round(idle_rss, 1),
            "operator_peak_rss_mb": round(vm_hwm_mb(operator.pid), 1),
            "trials": sum(b["spec"]["budget"]["maxTrials"] for b in searches),
            "operator_kb_per_trial": round((vm_hwm_mb(operator.pid) - idle_rss) * 1024
                                           / sum(b["spec"]["budget"]["maxTrials"] for b in searches), 1),
            "operator_cpu_s": round(cpu_seconds(operator.pid), 1),
        }
        return result
    finally:
        load.stop.set()
        stop_watch.set()
        if watcher.is_alive():
            watcher.terminate()
        os.killpg(operator.pid, signal.SIGTERM)
        try:
            operator.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(operator.pid, signal.SIGKILL)
            operator.wait(10)
        log.close()
        load.pool.shutdown(wait=False, cancel_futures=True)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=2000, help="candidates of scenario A's search")
    parser.add_argument("--parallelism", type=int, default=50, help="scenario A's budget.parallelism")
    parser.add_argument("--searches", type=int, default=50, help="concurrent searches of scenario B")
    parser.add_argument("--search-trials", type=int, default=40, help="candidates of each search of scenario B")
    parser.add_argument("--search-parallelism", type=int, default=2, help="budget.parallelism of each search of B")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "operator.json",
                        help="where the results go (JSON)")
    parser.add_argument("--epochs", type=int, default=4, help="training.epochs of every search")
    parser.add_argument("--sampler", choices=["tpe", "random"], default="tpe", help="candidate generation")
    parser.add_argument("--epoch-seconds", type=float, default=5.0,
                        help="simulated training time per epoch (real ones take minutes; 0.05 saturates the API server)")
    parser.add_argument("--only", choices=["A", "B"], help="run one scenario")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--keep", action="store_true", help="keep the work dir (operator logs)")
    args = parser.parse_args(argv)

    from tests.kube.operator_support import install_crds

    workdir = Path(tempfile.mkdtemp(prefix="hyperprune-operator-bench-"))
    cluster = start_cluster(workdir / "cluster")
    api = cluster.api_client()
    results = []
    try:
        install_crds(api)
        # A node for the scheduler to bind trial pods to, as on a real cluster (an unschedulable pod
        # would be retried and reported by the scheduler over and over, loading the API server).
        register_node(api, "bench-node", gpus=0, cpu="1000", memory="4000Gi", pods=5000)
        if args.only in (None, "A"):
            results.append(run_scenario(
                cluster, api, f"A: one search of {args.trials} trials",
                [search_body("big", args.trials, args.parallelism, args.sampler, args.epochs)],
                args.epoch_seconds, workdir, args.timeout))
            print(json.dumps(results[-1]), flush=True)
        if args.only in (None, "B"):
            results.append(run_scenario(
                cluster, api, f"B: {args.searches} searches of {args.search_trials} trials",
                [search_body(f"s{i:02d}", args.search_trials, args.search_parallelism, args.sampler, args.epochs)
                 for i in range(args.searches)],
                args.epoch_seconds, workdir, args.timeout))
            print(json.dumps(results[-1]), flush=True)
    finally:
        api.close()
        cluster.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"logs kept in {workdir}")
    print()
    print(f"{'scenario':<36} {'reports':>8} {'p50 s':>7} {'p99 s':>7} {'max s':>7} {'idle RSS MB':>12} "
          f"{'peak RSS MB':>12}")
    for r in results:
        print(f"{r['scenario']:<36} {r['reports']:>8} {r['report_to_action_p50_s']:>7} {r['report_to_action_p99_s']:>7} "
              f"{r['report_to_action_max_s']:>7} {r['operator_idle_rss_mb']:>12} {r['operator_peak_rss_mb']:>12}")
    worst_p99 = max(r["report_to_action_p99_s"] for r in results)
    peak = max(r["operator_peak_rss_mb"] for r in results)
    print(f"targets: p99 < {P99_TARGET_S} s -> {'met' if worst_p99 < P99_TARGET_S else 'MISSED'} ({worst_p99} s); "
          f"memory < {MEMORY_TARGET_MB:.0f} MB -> {'met' if peak < MEMORY_TARGET_MB else 'MISSED'} ({peak} MB)")
    record = {
        "date": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} cores (shared by etcd, kube-apiserver, the "
        "operator and the load)", "epochs": args.epochs, "sampler": args.sampler, "epoch_seconds": args.epoch_seconds,
        "targets": {"p99_s": P99_TARGET_S, "peak_rss_mb": MEMORY_TARGET_MB},
        "met": {"p99": worst_p99 < P99_TARGET_S, "memory": peak < MEMORY_TARGET_MB},
        "scenarios": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n")
    print(f"results: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
