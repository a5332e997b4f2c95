"""End to end on a real node: a small LS-guided search applied as a custom resource runs to completion
under the operator the Helm chart installed (a container of its image), through trial pods running the
trial image built from its Dockerfile; some trials are stopped early by LS distance and their pods
deleted, survivors continue from their checkpoints on the claim, the best model is promoted there and
loads, and deleting the search garbage-collects everything.

Node: tests/kube/real_node.py (a real kubelet + containerd). The claim is a ``local`` PersistentVolume
on the node, so trial pods run with the operator's default securityContext for claims: the image's
uid 1000, fsGroup 1000.

The search runs once (module fixture); each test checks one behaviour of it; the last deletes it.
"""

from __future__ import annotations

import json

import pytest
from kubernetes import client

import hyperprune
from hyperprune.contract.files import CHECKPOINT_FILE

from .chart_operator import PodHistory, wait_terminated
from .cluster import create_namespace, wait_until
from .operator_support import (
    GROUP,
    SEARCHES,
    TRIALS,
    VERSION,
    by_id,
    create_search,
    custom,
    get_search,
    list_pods,
    list_trials,
    phase,
    tiny_search,
    wait_events,
    wait_for_search,
    wait_gone,
)
from .real_node import local_claim

pytestmark = pytest.mark.node

NAME = "e2e"
EPOCHS = 4
CANDIDATES = 5


@pytest.fixture(scope="module")
def finished(node_api, chart_operator, real_node, tmp_path_factory):
    """A namespace where the chart's operator ran search ``e2e`` to completion on the real node, its
    trials' checkpoints on claim ``data``: (namespace, operator, the claim's folder on the node)."""
    core = client.CoreV1Api(node_api)
    namespace = create_namespace(node_api, "e2e")
    folder = tmp_path_factory.mktemp("e2e-claim")
    local_claim(node_api, namespace, "data", folder, real_node.name)
    body = tiny_search(NAME, candidates=CANDIDATES, epochs=EPOCHS)  # the trial image as built, on claim data
    with PodHistory(node_api, namespace) as history:
        create_search(node_api, namespace, body)
        wait_for_search(node_api, namespace, NAME, lambda s: phase(s) in ("Succeeded", "Failed"), 600,
                        "the search to finish", chart_operator)
        wait_terminated(node_api, namespace, history)
    yield namespace, chart_operator, folder, history
    core.delete_namespace(namespace)
    core.delete_persistent_volume(f"pv-{namespace}-data")


def test_the_search_succeeds_with_conditions_counts_and_the_dense_target(node_api, finished):
    namespace, operator, _, _ = finished
    status = get_search(node_api, namespace, NAME)["status"]
    assert status["phase"] == "Succeeded", status.get("message")
    assert status["outcome"] == "succeeded" and status["observedGeneration"] == 1
    conditions = {c["type"]: c for c in status["conditions"]}
    assert {t: conditions[t]["status"] for t in ("Invalid", "Running", "Promoted", "Succeeded", "Failed")} == {
        "Invalid": "False", "Running": "False", "Promoted": "True", "Succeeded": "True", "Failed": "False"}
    for condition in conditions.values():
        assert condition["reason"] and condition["lastTransitionTime"].endswith("Z")
        assert condition["observedGeneration"] == 1
    counts = status["trials"]
    assert counts["total"] == CANDIDATES + 1  # every candidate of the budget, and the dense reference
    assert counts["completed"] + counts["stopped"] == counts["total"]
    summaries = status["trialSummaries"]
    assert sorted(summaries) == ["dense"] + [f"t{i:03d}" for i in range(CANDIDATES)]
    assert all(summaries[tid]["id"] == tid for tid in summaries)
    assert status["dense"]["phase"] == "completed" and status["dense"]["metric"] > 1.0
    epochs = status["trialEpochs"]
    assert epochs["spent"] == sum(s["epochsSpent"] for s in summaries.values())
    assert epochs["fullTraining"] == (CANDIDATES + 1) * EPOCHS
    assert epochs["avoided"] == sum(EPOCHS - s["epoch"] for s in summaries.values() if s["phase"] == "stopped")
    assert epochs["spent"] + epochs["avoided"] == epochs["fullTraining"]  # nothing trained twice
    assert status["startTime"] <= status["completionTime"]


def test_trials_far_from_the_dense_spectrum_are_stopped_and_their_pods_deleted(node_api, finished):
    namespace, _, folder, history = finished
    trials = by_id(node_api, namespace)
    stopped = {tid: t for tid, t in trials.items() if t["status"]["phase"] == "stopped"}
    assert stopped, "lsh stopped no candidate"
    first_rung = 1
    for tid, trial in stopped.items():
        s = trial["status"]
        assert s["stopReason"].startswith("LS distance") and f"at epoch {first_rung}" in s["stopReason"]
        assert s["stop"]["rungEpoch"] == first_rung and s["stop"]["rank"] > s["stop"]["keep"]
        assert s["epoch"] == first_rung and s["lastDistance"] == pytest.approx(s["stop"]["score"])
        assert s["stop"]["of"] == CANDIDATES
    # Ranked by LS distance to the dense spectrum at the rung, the best `keep` were never stopped.
    candidates = sorted((t for t in trials.values() if t["spec"]["role"] == "candidate"),
                        key=lambda t: (_distance_at(trials, t, first_rung), t["spec"]["trialId"]))
    keep = next(iter(stopped.values()))["status"]["stop"]["keep"]
    assert keep >= 1 and all(t["status"]["phase"] != "stopped" for t in candidates[:keep])
    for trial in stopped.values():
        assert trial["status"]["stop"]["score"] == pytest.approx(_distance_at(trials, trial, first_rung), rel=1e-5)
    # Their pods are gone, deleted by the operator; none failed: each had reached its rung and exited 0,
    # or was still finishing when the deletion's SIGTERM came (143), or the kubelet removed it without
    # reporting its end. Either way the rung's checkpoint is on the claim and no failure was counted.
    pods = list_pods(node_api, namespace)
    left = [p["metadata"]["name"] for p in pods if p["metadata"]["labels"].get("hyperprune.io/trial-id") in stopped]
    assert not left, left
    for tid, trial in stopped.items():
        pod = f"{trial['metadata']['name']}-1"
        assert pod in history.deleted and history.exit_code(pod) in (0, 143, None), history.last.get(pod, {}).get("status")
        assert trial["status"]["failures"] == 0 and (folder / NAME / tid / CHECKPOINT_FILE).is_file()
    stop_events = {e["involvedObject"]["name"] for e in wait_events(node_api, namespace, "Stopped", len(stopped))}
    assert stop_events == {f"{NAME}-{tid}" for tid in stopped}


def _distance_at(trials: dict, trial: dict, epoch: int) -> float:
    import numpy as np

    dense = np.array(trials["dense"]["status"]["reports"][str(epoch)]["lyapunov"], dtype=float)
    own = np.array(trial["status"]["reports"][str(epoch)]["lyapunov"], dtype=float)
    return float(np.linalg.norm(own - dense))


def test_survivors_continue_from_their_checkpoints_in_new_pods(node_api, finished):
    namespace, _, folder, history = finished
    trials = by_id(node_api, namespace)
    survivors = [t for t in trials.values() if t["spec"]["role"] == "candidate" and t["status"]["phase"] == "completed"]
    assert survivors
    for trial in survivors:
        s = trial["status"]
        assert s["attempt"] == 2 and s["failures"] == 0  # one pod to the rung, one from there to the end
        assert s["epochsSpent"] == EPOCHS  # continued, not retrained
        log = client.CoreV1Api(node_api).read_namespaced_pod_log(f"{trial['metadata']['name']}-2", namespace)
        assert f"resumed {trial['spec']['trialId']} from epoch 1" in log
        assert "epoch 1/" not in log  # epoch 1 was trained once, by the first pod
        # The checkpoint on the claim was written by the trial image's user (fsGroup made it theirs).
        workdir = folder / NAME / trial["spec"]["trialId"]
        assert (workdir.stat().st_uid, workdir.stat().st_gid) == (1000, 1000)


def test_each_trial_reported_its_epochs_and_spectra_into_its_own_status(node_api, finished):
    namespace, _, _, _ = finished
    search = get_search(node_api, namespace, NAME)
    trials = list_trials(node_api, namespace)
    assert len(trials) == len(search["status"]["trialSummaries"]) >= 2
    for trial in trials:
        reports, s = trial["status"]["reports"], trial["status"]
        assert sorted(map(int, reports)) == list(range(1, s["epoch"] + 1))
        for epoch, report in reports.items():
            assert report["run"] == 0 and report["mode"] == "min" and report["metric"] == "perplexity"
            assert report["pod"].startswith(trial["metadata"]["name"] + "-")
            # Spectra at the rung and the final epoch only (lyapunov.epochs), 2 x 16 exponents (h, c).
            assert ("lyapunov" in report) == (int(epoch) in (1, EPOCHS)), (trial["metadata"]["name"], epoch)
            if "lyapunov" in report:
                assert len(report["lyapunov"]) == 32
        assert s["lastMetric"] == reports[str(s["epoch"])]["valMetric"]
        summary = search["status"]["trialSummaries"][trial["spec"]["trialId"]]
        assert summary["phase"] == s["phase"] and summary["epoch"] == s["epoch"]


def test_the_best_model_is_promoted_to_the_volume_and_recorded_with_an_event(node_api, finished):
    namespace, _, folder, history = finished
    status = get_search(node_api, namespace, NAME)["status"]
    trials = by_id(node_api, namespace)
    completed = {tid: t["status"]["reports"][str(EPOCHS)]["valMetric"] for tid, t in trials.items()
                 if t["spec"]["role"] == "candidate" and t["status"]["phase"] == "completed"}
    best = min(completed, key=lambda tid: (completed[tid], tid))
    assert status["best"]["trialId"] == best and status["best"]["metric"] == completed[best]
    # What the winner saves, measured by its pod after its last epoch, against the dense model's.
    assert status["best"]["efficiency"] == trials[best]["status"]["reports"][str(EPOCHS)]["efficiency"]
    dense_efficiency = status["dense"]["efficiency"]
    assert status["best"]["efficiency"]["nonzeroParameters"] < dense_efficiency["nonzeroParameters"]
    assert status["best"]["savings"]["exportBytes"] == pytest.approx(
        status["best"]["efficiency"]["exportBytes"] / dense_efficiency["exportBytes"])
    promotion = status["promotion"]
    assert promotion["trialId"] == best and promotion["phase"] == "Succeeded"
    assert promotion["volume"] == "persistentVolumeClaim:data" and promotion["path"] == f"{NAME}/best"
    assert promotion["containerPath"] == f"/var/lib/hyperprune/{NAME}/best"
    best_folder = folder / NAME / "best"
    assert (best_folder / "model.pt").is_file() and (best_folder / "masks.pt").is_file()
    assert json.loads((best_folder / "PROMOTED.json").read_text())["trial"] == best
    assert json.loads((best_folder / "config.json").read_text())["trialId"] == best
    model, config = hyperprune.load_model(best_folder)
    assert config.trial_id == best
    matrices = [p for p in model.parameters() if p.dim() == 2]
    assert sum(int((m == 0).sum()) for m in matrices) > 0  # the pruned model as trained in its pod
    (event,) = wait_events(node_api, namespace, "Promoted")
    assert event["involvedObject"]["kind"] == "HyperpruneSearch" and f"{NAME}/best" in event["message"]


def test_printer_columns_show_phase_counts_best_and_distances(node_api, finished):
    namespace, _, _, _ = finished

    def table(plural: str) -> dict:  # what `kubectl get` shows: the server renders the printer columns
        params = node_api.param_serialize(
            "GET", f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}",
            header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}, auth_settings=["BearerToken"])
        resp = node_api.call_api(*params)
        resp.read()
        return json.loads(resp.data)

    searches = table(SEARCHES)
    names = [c["name"] for c in searches["columnDefinitions"]]
    row = dict(zip(names, searches["rows"][0]["cells"]))
    status = get_search(node_api, namespace, NAME)["status"]
    assert row["Phase"] == "Succeeded" and row["Strategy"] == "lsh"
    assert (row["Running"], row["Stopped"], row["Done"]) == (0, status["trials"]["stopped"], status["trials"]["completed"])
    assert row["Best"] == pytest.approx(status["best"]["metric"])
    trials = table(TRIALS)
    names = [c["name"] for c in trials["columnDefinitions"]]
    assert names[:7] == ["Name", "Search", "Role", "Phase", "Epoch", "Target", "Distance"]
    rows = {r["cells"][0]: dict(zip(names, r["cells"])) for r in trials["rows"]}
    assert rows[f"{NAME}-dense"]["Role"] == "dense" and rows[f"{NAME}-dense"]["Epoch"] == EPOCHS


def test_the_metrics_endpoint_serves_the_documented_metrics(node_api, finished):
    from prometheus_client.parser import text_string_to_metric_families

    from hyperprune_operator.metrics import METRIC_NAMES

    namespace, operator, _, _ = finished
    succeeded = (("namespace", namespace), ("phase", "Succeeded"), ("search", NAME))

    def scrape() -> dict:
        found = {}
        for family in text_string_to_metric_families(operator.metrics()):
            for sample in family.samples:
                found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return found

    # The metrics follow the status the operator wrote (its step after the write lands): wait for them.
    samples: dict = {}
    wait_until(lambda: samples.update(scrape()) or samples.get(("hyperprune_search_phase", succeeded)) == 1, 60,
               "the phase metric to say Succeeded")
    exported = {name for name, _ in samples}
    for name in METRIC_NAMES:
        assert name in exported or f"{name}_count" in exported, name

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted({"namespace": namespace, "search": NAME, **labels}.items())))]

    status = get_search(node_api, namespace, NAME)["status"]
    assert value("hyperprune_trials", phase="stopped") == status["trials"]["stopped"]
    assert value("hyperprune_trials", phase="completed") == status["trials"]["completed"]
    assert value("hyperprune_search_phase", phase="Succeeded") == 1
    assert value("hyperprune_trial_epochs_avoided") == status["trialEpochs"]["avoided"]
    assert value("hyperprune_trial_epochs_spent") == status["trialEpochs"]["spent"]
    assert value("hyperprune_trials_stopped_early_total") == status["trials"]["stopped"]
    assert value("hyperprune_best_metric", metric="perplexity") == pytest.approx(status["best"]["metric"])
    assert value("hyperprune_dense_metric", metric="perplexity") == pytest.approx(status["dense"]["metric"])
    stopped = next(x for x in status["trialSummaries"].values() if x["phase"] == "stopped")
    assert value("hyperprune_trial_ls_distance", trial=stopped["id"]) == pytest.approx(stopped["lastDistance"])
    assert value("hyperprune_trial_rung_ls_distance", trial=stopped["id"], epoch="1") == pytest.approx(
        stopped["lastDistance"])
    assert samples[("hyperprune_report_to_action_seconds_count", ())] >= status["trialEpochs"]["spent"] / 2


def test_a_report_for_a_stopped_trial_is_ignored(node_api, finished):
    namespace, _, _, _ = finished
    trials = by_id(node_api, namespace)
    tid, trial = next((tid, t) for tid, t in trials.items() if t["status"]["phase"] == "stopped")
    name = trial["metadata"]["name"]
    late = dict(trial["status"]["reports"]["1"], epoch=2, valMetric=1.01, lyapunov=[0.0] * 32, pod="rogue")
    custom(node_api).patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, TRIALS, name, {"status": {"reports": {"2": late}}},
        _content_type="application/merge-patch+json")
    wait_events(node_api, namespace, "ReportIgnored", involved=name, timeout=30)
    after = by_id(node_api, namespace)[tid]["status"]
    assert after["phase"] == "stopped" and after["epoch"] == 1 and after["attempt"] == trial["status"]["attempt"]
    assert not [p for p in list_pods(node_api, namespace) if p["metadata"]["labels"].get("hyperprune.io/trial-id") == tid]
    assert phase(get_search(node_api, namespace, NAME)) == "Succeeded"


def test_a_trial_the_search_does_not_list_is_ignored(node_api, finished):
    namespace, _, _, _ = finished
    search = get_search(node_api, namespace, NAME)
    impostor = json.loads(json.dumps(by_id(node_api, namespace)["t000"]))
    impostor["metadata"] = {"name": f"{NAME}-t777", "labels": impostor["metadata"]["labels"],
                            "ownerReferences": impostor["metadata"]["ownerReferences"]}
    impostor["spec"]["trialId"] = "t777"
    impostor.pop("status")
    objects = custom(node_api)
    objects.create_namespaced_custom_object(GROUP, VERSION, namespace, TRIALS, impostor)
    report = dict(by_id(node_api, namespace)["t000"]["status"]["reports"]["1"], pod="rogue")
    objects.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, TRIALS, f"{NAME}-t777",
                                                  {"status": {"reports": {"1": report}}},
                                                  _content_type="application/merge-patch+json")
    wait_events(node_api, namespace, "UnknownTrial", involved=f"{NAME}-t777", timeout=30)
    after = get_search(node_api, namespace, NAME)["status"]
    assert after["trialSummaries"] == search["status"]["trialSummaries"] and after["trials"]["total"] == CANDIDATES + 1
    assert "phase" not in (objects.get_namespaced_custom_object(GROUP, VERSION, namespace, TRIALS,
                                                                f"{NAME}-t777").get("status") or {})
    assert not [p for p in list_pods(node_api, namespace) if p["metadata"]["labels"].get("hyperprune.io/trial-id") == "t777"]


def test_deleting_the_search_garbage_collects_trials_and_pods(node_api, finished):
    namespace, _, _, _ = finished
    assert list_pods(node_api, namespace)  # the promotion pod and the completed trials' last pods
    objects = custom(node_api)
    objects.delete_namespaced_custom_object(GROUP, VERSION, namespace, SEARCHES, NAME)
    wait_gone(lambda: objects.get_namespaced_custom_object(GROUP, VERSION, namespace, SEARCHES, NAME), 60,
              "the search to be deleted (its worker's finalizer removed)")
    wait_until(lambda: not list_trials(node_api, namespace), 120, "the garbage collector to delete the trials")
    wait_until(lambda: not list_pods(node_api, namespace), 120, "the garbage collector to delete the pods")
