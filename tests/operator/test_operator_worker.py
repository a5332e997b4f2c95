"""SearchWorker against an in-memory API and a fake kubelet: deterministic checks of what the real
control-plane tests cannot pin down in time (a restart after every single step)."""

from __future__ import annotations

import concurrent.futures
from typing import Any, Callable

import pytest
from kubernetes.client.exceptions import ApiException

from hyperprune_operator.metrics import Metrics
from hyperprune_operator.worker import SearchWorker, WorkerSettings
from operator_fakes import NAMESPACE, FakeKube, FakeKubelet, small_search
from prometheus_client import CollectorRegistry


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


def make_worker(kube: FakeKube, name: str = "s", clock: Clock | None = None,
                settings: WorkerSettings | None = None) -> SearchWorker:
    worker = SearchWorker(kube, NAMESPACE, name, settings=settings or WorkerSettings(status_interval=0.0),
                          metrics=Metrics(CollectorRegistry()), clock=clock or Clock())
    kube.listeners = [lambda kind, type_, body: worker.offer(kind, type_, body)]
    worker.offer("search", None, kube.get_search(NAMESPACE, name))
    return worker


def settle(worker: SearchWorker, steps: int = 20) -> None:
    """Steps until the worker has taken back everything it wrote or created behind its steps."""
    for _ in range(steps):
        worker.step()
        if worker.settled:
            return
    raise AssertionError("the worker did not settle")


def run(kube: FakeKube, kubelet: FakeKubelet, *, restart_every_step: bool, steps: int = 400) -> SearchWorker:
    clock = Clock()
    worker = make_worker(kube, clock=clock)
    for _ in range(steps):
        if restart_every_step:  # a new operator process: nothing but what the API holds
            worker = make_worker(kube, clock=clock)
        worker.step()
        if worker.finished:
            return worker
        if not kubelet.run_one():
            worker.step()  # nothing left to run: let the worker see the last facts
    return worker


def outcome(kube: FakeKube) -> dict:
    search = kube.store["search"]["s"]["status"]
    trials = {b["spec"]["trialId"]: (b["spec"]["params"], b["status"]["phase"], b["status"].get("stopReason"),
                                     b["status"]["epochsSpent"], b["status"]["attempt"], b["status"]["failures"])
              for b in kube.store["trial"].values()}
    return {"phase": search["phase"], "promoted": search["promotion"]["trialId"],
            "summaries": list(search["trialSummaries"]), "trials": trials,
            "epochs": search["trialEpochs"]}


@pytest.mark.parametrize("failed_deletions", [0, 3])
def test_a_search_runs_to_promotion(failed_deletions):
    kube, kubelet = FakeKube(), None
    kube.add_search(small_search())
    kube.refuse_deletes = failed_deletions  # each is retried: a stopped trial's pod always goes
    kubelet = FakeKubelet(kube)
    worker = run(kube, kubelet, restart_every_step=False)
    result = outcome(kube)
    assert result["phase"] == "Succeeded" and worker.finished
    assert worker.metrics is not None  # the metrics say the phase the status says
    assert worker.metrics.search_phase.labels(NAMESPACE, "s", "Succeeded")._value.get() == 1
    assert result["summaries"] == ["dense"] + [f"t{i:03d}" for i in range(8)]
    phases = [t[1] for t in result["trials"].values()]
    assert phases.count("stopped") >= 3 and "failed" not in phases
    assert result["epochs"]["spent"] == kubelet.epochs_trained  # every trained epoch is accounted for
    assert result["epochs"]["spent"] + result["epochs"]["avoided"] == result["epochs"]["fullTraining"]
    assert {e["reason"] for e in kube.events} >= {"Stopped", "Promoting", "Promoted"}
    assert kube.refuse_deletes == 0
    # stopped trials have no pods; pods of paused-then-continued trials were replaced
    for body in kube.store["trial"].values():
        pods = [p for p in kube.store["pod"] if p.startswith(body["metadata"]["name"] + "-")]
        if body["status"]["phase"] == "stopped":
            assert pods == []
        else:
            assert pods == [f"{body['metadata']['name']}-{body['status']['attempt']}"]


def test_restarting_the_operator_after_every_step_changes_nothing():
    uninterrupted, restarted = FakeKube(), FakeKube()
    for kube in (uninterrupted, restarted):
        kube.add_search(small_search())
    run(uninterrupted, FakeKubelet(uninterrupted), restart_every_step=False)
    run(restarted, FakeKubelet(restarted), restart_every_step=True)
    assert outcome(restarted) == outcome(uninterrupted)
    created = [name for call, name in restarted.calls if call == "create_trial"]
    assert sorted(set(created)) == sorted(restarted.store["trial"])  # creates were repeated at most, never new ids


def run_until_idle(worker: SearchWorker, kubelet: FakeKubelet, steps: int = 20) -> None:
    """Steps and pods in turn until the search finishes or no pod is left to run."""
    for _ in range(steps):
        settle(worker)
        if worker.finished or not kubelet.run_one():
            settle(worker)
            return


def test_a_lost_pod_makes_the_trial_retry_from_its_checkpoint_and_a_second_crash_fails_it():
    kube = FakeKube()
    kube.add_search(small_search(budget={"maxTrials": 2, "parallelism": 3, "retries": 1, "maxFailedTrials": 2},
                                 strategy={"name": "full"}, dense={"enabled": False}))
    kubelet = FakeKubelet(kube)
    worker = make_worker(kube)
    settle(worker)
    assert sorted(kube.store["pod"]) == ["s-t000-1", "s-t001-1"]
    kube.delete("pod", "s-t000-1")  # deleted by hand before it ran
    kubelet.fail_next = {"s-t001-1", "s-t001-2"}  # t001 crashes twice: more than budget.retries = 1
    run_until_idle(worker, kubelet)
    t0, t1 = (kube.store["trial"][n]["status"] for n in ("s-t000", "s-t001"))
    assert t0["failures"] == 1 and t0["attempt"] == 2 and t0["phase"] == "completed"
    assert "was deleted while the trial was running" in t0["message"]
    assert t1["phase"] == "failed" and t1["failures"] == 2 and t1["pod"]["exitCode"] == 1
    assert "crashed 2 times" in t1["stopReason"] and "Traceback: boom" in t1["message"]
    assert kube.store["search"]["s"]["status"]["phase"] == "Succeeded"  # one failure is within maxFailedTrials


def test_a_pod_that_refuses_its_config_fails_the_trial_without_a_retry():
    kube = FakeKube()
    kube.add_search(small_search(budget={"maxTrials": 2, "parallelism": 3, "retries": 3, "maxFailedTrials": 2},
                                 strategy={"name": "full"}, dense={"enabled": False}))
    kubelet = FakeKubelet(kube)
    kubelet.refuse_next = {"s-t001-1"}
    worker = make_worker(kube)
    run_until_idle(worker, kubelet)
    t0, t1 = (kube.store["trial"][n]["status"] for n in ("s-t000", "s-t001"))
    assert t0["phase"] == "completed"
    # Exit code 2 cannot go away by retrying: no second pod although budget.retries = 3.
    assert t1["phase"] == "failed" and t1["attempt"] == 1 and t1["pod"]["exitCode"] == 2
    assert "s-t001-2" not in kube.store["pod"] and "pruning.params.zeta" in t1["message"]
    assert kube.store["search"]["s"]["status"]["phase"] == "Succeeded"


class LastFirst(concurrent.futures.Executor):
    """Runs what was submitted only when told, the last submitted first: writes behind the step
    landing in the worst order an API server under load can give them."""

    def __init__(self) -> None:
        self.held: list[tuple[concurrent.futures.Future, Callable[..., Any], tuple]] = []

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        future: concurrent.futures.Future = concurrent.futures.Future()
        self.held.append((future, fn, args))
        return future

    def release(self) -> None:
        while self.held:
            future, fn, args = self.held.pop()
            future.set_result(fn(*args))


def failing_search_seen_ending(patch_trial_status: Callable[..., Any] | None = None) -> tuple[FakeKube, list]:
    """A search of one trial whose pod refuses its config, its writes landing last first; returns
    the API and, for each search status write that said Failed, the trial's status at that moment."""
    kube = FakeKube()
    kube.add_search(small_search(budget={"maxTrials": 1, "parallelism": 1, "retries": 0, "maxFailedTrials": 0},
                                 strategy={"name": "full"}, dense={"enabled": False}))
    kubelet = FakeKubelet(kube)
    kubelet.refuse_next = {"s-t000-1"}
    clock, writes = Clock(), LastFirst()
    worker = SearchWorker(kube, NAMESPACE, "s", settings=WorkerSettings(status_interval=0.0),
                          metrics=Metrics(CollectorRegistry()), clock=clock, io=writes, behind=writes)
    kube.listeners = [lambda kind, type_, body: worker.offer(kind, type_, body)]
    worker.offer("search", None, kube.get_search(NAMESPACE, "s"))
    seen: list[dict] = []
    patch_search_status = kube.patch_search_status

    def watched(namespace, name, status):
        if status.get("phase") == "Failed":
            seen.append(dict(kube.store["trial"]["s-t000"].get("status") or {}))
        return patch_search_status(namespace, name, status)

    kube.patch_search_status = watched  # type: ignore[method-assign]
    if patch_trial_status is not None:
        kube.patch_trial_status = patch_trial_status(kube.patch_trial_status)  # type: ignore[method-assign]
    for _ in range(30):
        worker.step()
        writes.release()
        kubelet.run_one()
        clock.now += 1
    return kube, seen


def test_a_search_says_it_ended_only_after_its_trials_last_statuses_landed():
    kube, seen = failing_search_seen_ending()
    assert kube.store["search"]["s"]["status"]["phase"] == "Failed"
    # Whoever reads the trial once the search says Failed reads how the trial ended.
    assert seen and seen[0]["phase"] == "failed" and "pruning.params.zeta" in seen[0]["message"]


def test_a_trial_status_write_that_keeps_failing_holds_the_search_end_back_only_for_a_while():
    refusals = []

    def unwell(patch_trial_status):  # refuses the trial's end until the search says it ended
        kube = patch_trial_status.__self__

        def patch(namespace, name, status):
            if status.get("phase") == "failed" and kube.store["search"]["s"]["status"].get("phase") != "Failed":
                refusals.append(status)
                raise ApiException(status=500, reason="the API server is unwell")
            return patch_trial_status(namespace, name, status)
        return patch

    kube, seen = failing_search_seen_ending(unwell)
    assert kube.store["search"]["s"]["status"]["phase"] == "Failed"
    assert seen and seen[0].get("phase") != "failed"  # written after FINAL_WRITES_WAIT_S, the trial's write not landed
    assert len(refusals) >= 5 and kube.store["trial"]["s-t000"]["status"]["phase"] == "failed"  # retried until it landed


def test_trial_defaults_fill_what_the_search_leaves_out_field_by_field():
    defaults = {"image": "registry.example/trial:9", "resources": {"limits": {"nvidia.com/gpu": 1}},
                "tolerations": [{"key": "gpu", "operator": "Exists"}],
                "volume": {"persistentVolumeClaim": {"claimName": "shared"}}}
    kube = FakeKube()
    # The search sets its own volume and resources: those replace the defaults' as a whole.
    kube.add_search(small_search(trialTemplate={"resources": {"requests": {"cpu": 1}},
                                                "volume": {"hostPath": {"path": "/mine"}}}))
    settle(make_worker(kube, settings=WorkerSettings(trial_defaults=defaults)))
    pod = kube.store["pod"][sorted(kube.store["pod"])[0]]
    (c,) = pod["spec"]["containers"]
    assert c["image"] == "registry.example/trial:9"
    assert pod["spec"]["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
    assert c["resources"] == {"requests": {"cpu": "1"}}
    assert pod["spec"]["volumes"][0]["hostPath"]["path"] == "/mine" and "persistentVolumeClaim" not in pod["spec"]["volumes"][0]


def test_a_trial_resource_the_search_does_not_list_is_ignored():
    kube = FakeKube()
    kube.add_search(small_search())
    worker = make_worker(kube)
    settle(worker)
    search = kube.store["search"]["s"]
    rogue = {
        "apiVersion": "hyperprune.io/v1alpha1", "kind": "HyperpruneTrial",
        "metadata": {"name": "s-t999", "namespace": NAMESPACE,
                     "ownerReferences": [{"uid": search["metadata"]["uid"], "controller": True}]},
        "spec": dict(kube.store["trial"]["s-dense"]["spec"], trialId="t999"),
    }
    kube.create_trial(rogue)
    kube.patch_trial_status(NAMESPACE, "s-t999", {"reports": {"1": {"epoch": 1, "status": "running",
                                                                     "metric": "perplexity", "mode": "min"}}})
    settle(worker)
    assert "t999" not in kube.store["search"]["s"]["status"]["trialSummaries"]
    assert not [p for p in kube.store["pod"] if p.startswith("s-t999")]
    assert [e["reason"] for e in kube.events if e["involvedObject"]["name"] == "s-t999"] == ["UnknownTrial"]


def test_an_invalid_search_gets_an_invalid_condition_and_no_trials():
    kube = FakeKube()
    kube.add_search(small_search(strategy={"name": "lsh", "rungs": {"first": 6}}))
    worker = make_worker(kube)
    worker.step()
    status = kube.store["search"]["s"]["status"]
    assert status["phase"] == "Invalid"
    (invalid,) = [c for c in status["conditions"] if c["type"] == "Invalid"]
    assert invalid["status"] == "True" and "spec.strategy.rungs.first" in invalid["message"]
    assert kube.store["trial"] == {}


@pytest.mark.parametrize("volume", [{"emptyDir": {}}, {"persistentVolumeClaim": {"claimName": "x", "readOnly": True}}])
def test_volumes_that_cannot_keep_checkpoints_are_invalid(volume):
    kube = FakeKube()
    kube.add_search(small_search(trialTemplate={"volume": volume}))
    make_worker(kube).step()
    assert kube.store["search"]["s"]["status"]["phase"] == "Invalid"
    assert "spec.trialTemplate.volume" in kube.store["search"]["s"]["status"]["message"]


def test_a_pod_whose_trial_status_write_was_lost_is_adopted_after_a_restart():
    kube = FakeKube()
    kube.add_search(small_search())
    kubelet = FakeKubelet(kube)
    clock = Clock()
    worker = make_worker(kube, clock=clock)
    patch_status = kube.patch_trial_status
    lost = []

    def flaky(namespace, name, status):  # the operator dies as it writes a Continue (attempt 2)
        if status.get("attempt") == 2 and not lost:
            lost.append(name)
            raise ApiException(status=500, reason="operator killed")
        return patch_status(namespace, name, status)

    kube.patch_trial_status = flaky
    for _ in range(100):
        worker.step()
        if lost:
            break  # the operator is gone: the step's other writes (its pod) went out, this one did not
        if not kubelet.run_one():
            worker.step()
    assert lost, "no trial was continued"
    trial = lost[0]
    assert f"{trial}-2" in kube.store["pod"] and kube.store["trial"][trial]["status"].get("attempt", 1) == 1
    kube.patch_trial_status = patch_status
    worker = run_from(kube, kubelet, clock)
    status = kube.store["trial"][trial]["status"]
    assert status["attempt"] >= 2 and status["failures"] == 0  # not counted as a failure
    assert kube.store["search"]["s"]["status"]["phase"] == "Succeeded"
    assert kube.calls.count(("create_pod", f"{trial}-2")) == 1  # adopted: neither created again nor replaced


def run_from(kube: FakeKube, kubelet: FakeKubelet, clock: Clock) -> SearchWorker:
    worker = make_worker(kube, clock=clock)
    for _ in range(400):
        worker.step()
        if worker.finished:
            break
        if not kubelet.run_one():
            worker.step()
    return worker


def running_search() -> tuple[FakeKube, Clock, SearchWorker, str]:
    """A settled search whose trials' pods run; the name of one of them."""
    kube = FakeKube()
    kube.add_search(small_search())
    clock = Clock()
    worker = make_worker(kube, clock=clock)
    settle(worker)
    return kube, clock, worker, sorted(kube.store["pod"])[0]


def assert_pod_loss_counted(kube: FakeKube, name: str) -> None:
    trial = kube.store["trial"][name.rsplit("-", 1)[0]]["status"]
    assert trial["failures"] == 1 and "was deleted while the trial was running" in trial["message"]


def test_a_resync_repairs_a_missed_pod_deletion():
    kube, clock, worker, name = running_search()
    kube.listeners = []  # the watch misses the deletion
    kube.delete("pod", name)
    settle(worker)
    assert name in worker.pods  # not noticed
    clock.now = worker.next_resync + 1
    worker.step()  # the re-listing goes behind the step; it comes back through the inbox
    assert name in worker.pods
    settle(worker)
    assert worker.listing is None
    assert_pod_loss_counted(kube, name)


def test_a_listing_older_than_the_watch_does_not_bring_back_a_pod_the_watch_saw_deleted():
    kube, clock, worker, name = running_search()
    stale = kube.list_pods(NAMESPACE, "s")  # the listing is taken before the deletion ...
    kube.list_pods = lambda *_, **__: stale  # type: ignore[method-assign]
    kube.delete("pod", name)  # ... which the watch reports before the listing comes back
    clock.now = worker.next_resync + 1
    worker.step()
    assert worker.listing == {name}  # the watch's word on it is newer than the listing's
    settle(worker)
    assert worker.listing is None and name not in worker.pods
    assert_pod_loss_counted(kube, name)


def one_trial_search() -> dict:
    return small_search(budget={"maxTrials": 1, "parallelism": 2, "retries": 0, "maxFailedTrials": 1},
                        strategy={"name": "full"}, dense={"enabled": False})


def promotion_pods(kube: FakeKube) -> list[str]:
    return sorted(name for name in kube.store["pod"] if "-promote-" in name)


def test_a_promotion_that_keeps_failing_fails_the_search_after_its_attempts():
    kube = FakeKube()
    kube.add_search(one_trial_search())
    kubelet = FakeKubelet(kube)
    kubelet.fail_next = {"s-promote-1", "s-promote-2"}
    worker = make_worker(kube, settings=WorkerSettings(status_interval=0.0, promotion_attempts=2))
    run_until_idle(worker, kubelet, steps=40)
    status = kube.store["search"]["s"]["status"]
    assert promotion_pods(kube) == ["s-promote-1", "s-promote-2"]  # two attempts, no third
    assert status["promotion"]["phase"] == "Failed" and status["promotion"]["attempts"] == 2
    assert status["phase"] == "Failed" and status["outcome"] == "succeeded"  # the search found a winner
    assert status["message"].startswith("promotion failed: pod s-promote-2 failed with exit code 1")
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Promoted"]["status"] == "False" and conditions["Promoted"]["reason"] == "PromotionFailed"
    assert conditions["Failed"]["status"] == "True" and conditions["Failed"]["reason"] == "PromotionFailed"
    failed = [e for e in kube.events if e["reason"] == "PromotionFailed"]
    assert len(failed) == 1 and "after 2 attempts" in failed[0]["message"]


def test_an_operator_restart_during_promotion_resumes_the_recorded_attempt():
    kube = FakeKube()
    kube.add_search(one_trial_search())
    kubelet = FakeKubelet(kube)
    clock = Clock()
    kube.refuse_creates = {"s-promote-1"}  # the operator "dies" after recording attempt 1, before its pod
    worker = make_worker(kube, clock=clock)
    steps = 0
    while kube.store["search"]["s"].get("status", {}).get("promotion") is None:
        assert steps < 40, "the search never promoted"
        steps += 1
        try:
            worker.step()
        except ApiException:
            break
        kubelet.run_one()
    promotion = kube.store["search"]["s"]["status"]["promotion"]
    assert promotion["attempts"] == 1 and promotion["phase"] == "Pending" and promotion_pods(kube) == []
    worker = make_worker(kube, clock=clock)  # a new operator process
    worker.step()
    assert promotion_pods(kube) == ["s-promote-1"]  # the recorded attempt, not a second one
    worker = make_worker(kube, clock=clock)  # and again while its pod is pending
    worker.step()
    assert promotion_pods(kube) == ["s-promote-1"]
    run_until_idle(worker, kubelet)
    status = kube.store["search"]["s"]["status"]
    assert status["phase"] == "Succeeded" and status["promotion"]["attempts"] == 1
    assert [e["reason"] for e in kube.events].count("Promoted") == 1


def _stuck(kube: FakeKube, name: str) -> None:
    """What a kubelet reports for a pod whose image is not on the node (imagePullPolicy: Never)."""
    kube.store["pod"][name]["status"] = {"phase": "Pending", "containerStatuses": [{"state": {"waiting": {
        "reason": "ErrImageNeverPull", "message": 'Container image "nope:1" is not present with pull policy of Never'}}}]}
    kube._emit("pod", "MODIFIED", kube.store["pod"][name])


def stuck_search(*, retries: int, start_timeout: int) -> tuple[FakeKube, Clock, SearchWorker]:
    """A search of one trial whose first pod is stuck (its image is not on the node), the worker settled."""
    kube = FakeKube()
    kube.add_search(small_search(budget={"maxTrials": 1, "parallelism": 1, "retries": retries, "maxFailedTrials": 0},
                                 strategy={"name": "full"}, dense={"enabled": False},
                                 trialTemplate={"startTimeoutSeconds": start_timeout,
                                                "volume": {"persistentVolumeClaim": {"claimName": "data"}}}))
    clock = Clock()
    worker = make_worker(kube, clock=clock)
    settle(worker)
    assert sorted(kube.store["pod"]) == ["s-t000-1"]
    _stuck(kube, "s-t000-1")
    return kube, clock, worker


def test_a_pod_that_cannot_start_is_reported_then_fails_its_attempt_at_the_start_timeout():
    kube, clock, worker = stuck_search(retries=1, start_timeout=30)
    settle(worker)
    wait = worker.step()
    assert 0 < wait <= 30  # the worker wakes by itself at the deadline: no event will come
    (warning,) = [e for e in kube.events if e["reason"] == "PodNotStarting"]
    assert warning["type"] == "Warning" and warning["involvedObject"]["name"] == "s-t000"
    assert warning["message"] == (
        'pod s-t000-1 cannot start: its image is not on the node and imagePullPolicy is Never (ErrImageNeverPull: '
        'Container image "nope:1" is not present with pull policy of Never); it counts as a failed attempt 30 s '
        "after it was created (trialTemplate.startTimeoutSeconds)")
    status = kube.store["trial"]["s-t000"]["status"]
    assert status["failures"] == 0 and status["pod"]["reason"] == "ErrImageNeverPull"
    settle(worker)
    assert len([e for e in kube.events if e["reason"] == "PodNotStarting"]) == 1  # told once per reason

    clock.now += 30
    settle(worker)  # the deadline: the pod goes, the attempt failed, a retry (budget.retries = 1) is due
    assert "s-t000-1" not in kube.store["pod"] and ("delete_pod", "s-t000-1") in kube.calls
    status = kube.store["trial"]["s-t000"]["status"]
    assert status["failures"] == 1 and status["attempt"] == 2 and status["phase"] in ("pending", "running")
    assert status["message"] == ("pod s-t000-1 did not start within 30 s (trialTemplate.startTimeoutSeconds): its "
                                 "image is not on the node and imagePullPolicy is Never (ErrImageNeverPull: Container "
                                 'image "nope:1" is not present with pull policy of Never)')
    assert "s-t000-2" in kube.store["pod"]
    continued = [e for e in kube.events if e["reason"] == "Continued"]
    assert continued and "did not start within 30 s" in continued[-1]["message"]

    _stuck(kube, "s-t000-2")
    settle(worker)
    clock.now += 30
    settle(worker)
    status = kube.store["trial"]["s-t000"]["status"]
    assert status["phase"] == "failed" and status["failures"] == 2
    assert "crashed 2 times (budget.retries = 1)" in status["stopReason"] and "did not start" in status["stopReason"]
    search = kube.store["search"]["s"]["status"]
    assert search["phase"] == "Failed" and "more than budget.maxFailedTrials = 0" in search["message"]
    assert not kube.store["pod"]  # nothing left behind that could still start


def test_a_pod_that_cannot_start_never_times_out_when_the_timeout_is_off():
    kube, clock, worker = stuck_search(retries=0, start_timeout=0)
    settle(worker)
    clock.now += 10 * 24 * 3600
    settle(worker)
    status = kube.store["trial"]["s-t000"]["status"]
    assert status["failures"] == 0 and "s-t000-1" in kube.store["pod"]
    assert [e["reason"] for e in kube.events if e["type"] == "Warning"] == ["PodNotStarting"]


def test_the_start_deadline_counts_from_the_pods_creation():
    from hyperprune_operator.pods import start_deadline

    pod = {"metadata": {"name": "p", "creationTimestamp": "2026-12-04T06:00:00Z"}}
    assert start_deadline(pod, first_seen=0.0, timeout_s=600) == 1796364000.0 + 600
    assert start_deadline({"metadata": {"name": "p"}}, first_seen=5.0, timeout_s=600) == 605.0
