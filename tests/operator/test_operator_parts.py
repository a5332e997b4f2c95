"""The worker's pure parts, one by one: pod facts, write planning, promotion, the desired status."""

from __future__ import annotations

from typing import Any

from hyperprune.contract.files import REFUSED_CONFIG_EXIT
import pytest

from hyperprune.policy import Observation, SearchState, TrialExit, TrialState
from hyperprune.spec.status import SearchStatus
from hyperprune.spec import Point
from hyperprune_operator.pods import PodTable, pod_facts
from hyperprune_operator.promotion import promotion_step
from hyperprune_operator.restore import restore
from hyperprune_operator.search_status import desired_status, search_phase
from hyperprune_operator.state import TrialRecord
from hyperprune_operator.validation import parse
from hyperprune_operator.writes import pod_plan, status_plan
from operator_fakes import small_search



def trial(trial_id: str = "t000", status: str = "running", epoch: int = 0, target: int = 3) -> TrialState:
    return TrialState(trial_id, "candidate", Point.of("random", 0.5), status=status, epoch=epoch, target_epoch=target)


def record(trial_id: str = "t000", attempt: int = 1, pod: dict[str, Any] | None = None,
           written: dict[str, Any] | None = None) -> TrialRecord:
    return TrialRecord(name=f"s-{trial_id}", attempt=attempt, pod=pod, written=written or {},
                       body={"metadata": {"name": f"s-{trial_id}", "uid": f"uid-{trial_id}"}, "spec": {"targetEpoch": 3}})


def pod(name: str, phase: str, *, exit_code: int | None = None, reason: str | None = None, uid: str = "p1",
        terminating: bool = False, component: str = "trial", owner: str | None = None) -> dict[str, Any]:
    owner = owner or "uid-" + name.split("-")[1]  # s-t003-1 belongs to trial t003 (uid-t003)
    meta: dict[str, Any] = {"name": name, "uid": uid, "labels": {"app.kubernetes.io/component": component},
                            "ownerReferences": [{"uid": owner, "controller": True}]}
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status: dict[str, Any] = {"phase": phase}
    if exit_code is not None:
        status["containerStatuses"] = [{"state": {"terminated": {"exitCode": exit_code, "reason": reason or "Error"}}}]
    return {"metadata": meta, "status": status}


# ---- pod facts -------------------------------------------------------------------------------------------


def test_pod_facts_say_what_each_current_pod_means_for_its_trial():
    trials = [trial("t000"), trial("t001"), trial("t002"), trial("t003"), trial("t004", status="paused")]
    records = {t.id: record(t.id) for t in trials}
    records["t003"].pod = {"name": "s-t003-1", "attempt": 1, "phase": "Running"}  # created, now gone
    pods = {
        "s-t000-1": pod("s-t000-1", "Running"),
        "s-t001-1": pod("s-t001-1", "Succeeded", exit_code=0, reason="Completed"),
        "s-t002-1": pod("s-t002-1", "Failed", exit_code=REFUSED_CONFIG_EXIT),
        "s-t004-1": pod("s-t004-1", "Failed", exit_code=1),  # a paused trial: nothing to say
    }
    facts = pod_facts(SearchState(trials=trials), records, pods, deleting=set())
    assert facts.running == ["t000"]
    assert facts.unconfirmed == [("t001", "s-t001-1")]  # its last report may still be on its way
    assert facts.exits == [TrialExit("t002", 3, REFUSED_CONFIG_EXIT, "pod s-t002-1 failed with exit code 2 (Error)")]
    assert facts.lost == [("t003", "pod s-t003-1 was deleted while the trial was running (attempt 1)")]
    assert facts.summaries["t003"]["phase"] == "Deleted" and "t004" not in facts.summaries


def test_a_pod_deleted_by_someone_else_is_lost_but_one_the_worker_deletes_is_an_exit():
    trials = [trial("t000")]
    failed = {"s-t000-1": pod("s-t000-1", "Failed", exit_code=143, terminating=True)}
    lost = pod_facts(SearchState(trials=trials), {"t000": record()}, failed, deleting=set())
    assert lost.exits == [] and "was deleted while the trial was running" in lost.lost[0][1]
    ours = pod_facts(SearchState(trials=trials), {"t000": record()}, failed, deleting={"p1"})
    assert ours.lost == [] and ours.exits[0].code == 143


# ---- write planning ---------------------------------------------------------------------------------------


def test_decisions_are_written_at_once_and_progress_waits():
    decided = trial("t000", status="stopped", epoch=3)
    decided.stop_reason = "far"
    progressed = trial("t001", status="running", epoch=2)
    written = {"phase": "running", "targetEpoch": 3, "attempt": 1, "run": 0, "failures": 0, "epoch": 1}
    records = {"t000": record("t000", written=dict(written)), "t001": record("t001", written=dict(written))}
    plan = status_plan(SearchState(trials=[decided, progressed]), records, flush=False)
    assert [(r.name, p["phase"]) for r, p in plan.now] == [("s-t000", "stopped")]
    narrowed = status_plan(SearchState(trials=[decided, progressed]), records, flush=False, trials=[progressed])
    assert narrowed.now == [] and set(narrowed.desired) == {"t001"}
    assert plan.later == {"t001"} and plan.desired["t001"]["epoch"] == 2
    flushed = status_plan(SearchState(trials=[decided, progressed]), records, flush=True)
    assert [r.name for r, _ in flushed.now] == ["s-t000", "s-t001"] and not flushed.later


def test_pod_plan_keeps_one_process_per_work_dir():
    stopped, replaced, fresh = trial("t000", status="stopped"), trial("t001"), trial("t002")
    records = {"t000": record("t000"), "t001": record("t001", attempt=2), "t002": record("t002")}
    pods = PodTable({
        "s-t000-1": pod("s-t000-1", "Running", uid="a"),
        "s-t001-1": pod("s-t001-1", "Running", uid="b"),  # the previous attempt still writes its checkpoint
    })
    plan = pod_plan(SearchState(trials=[stopped, replaced, fresh]), records, pods, deleting=set())
    assert [(p["metadata"]["name"], why) for p, why in plan.delete] == [("s-t000-1", "t000 was stopped")]
    assert [t.id for t, _ in plan.create] == ["t002"]  # t001 waits for its previous pod to end
    again = pod_plan(SearchState(trials=[stopped, replaced, fresh]), records, pods, deleting={"a"})
    assert again.delete == []  # asked once already
    narrowed = pod_plan(SearchState(trials=[stopped, replaced, fresh]), records, pods, deleting=set(),
                        trials=[fresh])
    assert narrowed.delete == [] and [t.id for t, _ in narrowed.create] == ["t002"]


def test_the_pod_table_keeps_its_owner_index_as_pods_come_and_go():
    table = PodTable()
    table["s-t000-1"] = pod("s-t000-1", "Running", uid="a")
    table["s-t000-2"] = pod("s-t000-2", "Pending", uid="b")
    table["s-t001-1"] = pod("s-t001-1", "Running", uid="c", owner="uid-t001")
    assert [p["metadata"]["name"] for p in table.owned_by("uid-t000")] == ["s-t000-1", "s-t000-2"]
    table["s-t000-1"] = pod("s-t000-1", "Running", uid="a2", owner="uid-t009")  # same name, a new owner
    del table["s-t000-2"]
    assert table.owned_by("uid-t000") == [] and len(table) == 2
    assert [p["metadata"]["uid"] for p in table.owned_by("uid-t009")] == ["a2"]
    assert sorted(table) == ["s-t000-1", "s-t001-1"] and "s-t000-2" not in table


# ---- promotion ---------------------------------------------------------------------------------------------


PROMOTION = {"trialId": "t003", "phase": "Pending", "attempts": 0, "volume": "hostPath:/v", "path": "s/best",
             "containerPath": "/data/s/best"}


def test_promotion_records_each_attempt_before_its_pod_and_stops_after_the_last():
    first = promotion_step(PROMOTION, None, search="s", max_attempts=2, now="t")
    assert first.create == 1 and first.record_first and first.promotion["pod"] == "s-promote-1"
    failed = pod("s-promote-1", "Failed", exit_code=1, component="promotion")
    second = promotion_step(first.promotion, failed, search="s", max_attempts=2, now="t")
    assert second.create == 2 and second.promotion["message"].startswith("pod s-promote-1 failed")
    last = promotion_step(second.promotion, pod("s-promote-2", "Failed", exit_code=1, component="promotion"),
                          search="s", max_attempts=2, now="t")
    assert last.create is None and last.promotion["phase"] == "Failed"
    assert [e[0] for e in last.events] == ["PromotionFailed"]


def test_promotion_creates_a_recorded_attempts_missing_pod_and_follows_its_phase():
    recorded = {**PROMOTION, "attempts": 1, "pod": "s-promote-1"}
    assert promotion_step(recorded, None, search="s", max_attempts=3, now="t").create == 1  # not a second attempt
    running = promotion_step(recorded, pod("s-promote-1", "Running", component="promotion"), search="s",
                             max_attempts=3, now="t")
    assert running.promotion["phase"] == "Running" and running.create is None
    vanished = promotion_step(running.promotion, None, search="s", max_attempts=3, now="t")
    assert vanished.create == 2 and "was deleted" in vanished.promotion["message"]
    done = promotion_step(running.promotion, pod("s-promote-1", "Succeeded", component="promotion"), search="s",
                          max_attempts=3, now="t")
    assert done.promotion["phase"] == "Succeeded" and [e[0] for e in done.events] == ["Promoted"]


# ---- the desired status --------------------------------------------------------------------------------------


def test_the_desired_status_counts_every_trial_and_plans_full_training_from_the_spec():
    search, issues = parse(small_search())
    assert search is not None, issues
    dense = TrialState("dense", "dense", Point.dense(), status="running", epoch=2, target_epoch=6, epochs_spent=2)
    stopped = trial("t000", status="stopped", epoch=1, target=1)
    stopped.epochs_spent = 1
    state = SearchState(trials=[dense, stopped])
    records = {"dense": record("dense"), "t000": record("t000")}
    status = desired_status(search, state, records, promotion=None, written={}, generation=1, start_time=None,
                            now="2026-01-01T00:00:00Z")
    assert status["trials"]["total"] == 2 and status["trials"]["running"] == 1 and status["trials"]["stopped"] == 1
    # (8 candidates + the dense reference) x 6 epochs, however many candidates exist yet
    assert status["trialEpochs"] == {"spent": 3, "avoided": 5, "fullTraining": 54}
    assert status["phase"] == "Running" and status["message"] == "2 trials: 1 running, 1 stopped"
    assert search_phase(state, {"phase": "Failed"}) == "Failed"


def test_a_pareto_search_lists_its_promoted_front_in_the_status_with_each_points_model_folder():
    search, issues = parse(small_search(objective={"name": "pareto"}))
    assert search is not None, issues
    trials = [TrialState("dense", "dense", Point.dense(), status="completed", epoch=6, target_epoch=6)]
    for trial_id, sparsity, metric in (("t000", 0.4, 60.0), ("t001", 0.8, 58.0), ("t002", 0.9, 70.0), ("t003", 0.6, 65.0)):
        trials.append(TrialState(trial_id, "candidate", Point.of("random", sparsity), status="completed", epoch=6,
                                 target_epoch=6, observations={6: Observation(6, metric, "min")}))
    state = SearchState(trials=trials, promoted="t001")
    records = {t.id: record(t.id) for t in trials}
    records["t002"].run = 1
    status = desired_status(search, state, records, promotion=None, written={}, generation=1, start_time=None,
                            now="2026-01-01T00:00:00Z")
    # t001 (sparser and better) dominates t000 and t003; t002 is the sparsest.
    assert [(p["trialId"], p["primary"], p["costName"]) for p in status["front"]] == [
        ("t002", False, "planned-density"), ("t001", True, "planned-density")]
    assert status["front"][0]["modelPath"] == "/var/lib/hyperprune/s/t002-r1/model"
    assert status["front"][0]["cost"] == pytest.approx(0.1)
    assert SearchStatus.model_validate(status).front[1].trial_id == "t001"  # the CRD's schema holds it


# ---- restore -----------------------------------------------------------------------------------------------


def test_restore_reads_listed_trials_rebuilds_missing_ones_and_adopts_a_newer_pod():
    search = {"metadata": {"name": "s", "uid": "search-uid"},
              "status": {"trialSummaries": {
                  "t001": {"role": "candidate", "params": Point.of("random", 0.5).to_json(), "phase": "paused",
                           "targetEpoch": 2, "epoch": 2, "epochsSpent": 2},
                  "t000": {"role": "candidate", "params": Point.of("random", 0.75).to_json()}},
                  "promotion": {"trialId": "t000"}}}

    def trial_body(trial_id: str, owner: str, point: Point) -> dict[str, Any]:
        return {"metadata": {"name": f"s-{trial_id}", "uid": f"uid-{trial_id}",
                             "ownerReferences": [{"uid": owner, "controller": True}]},
                "spec": {"trialId": trial_id, "role": "candidate", "params": point.to_json(), "targetEpoch": 1},
                "status": {"phase": "running", "attempt": 1, "targetEpoch": 1}}

    newer = pod("s-t000-2", "Running", uid="p2")
    newer["metadata"]["labels"]["hyperprune.io/attempt"] = "2"
    newer["metadata"]["annotations"] = {"hyperprune.io/until-epoch": "3", "hyperprune.io/run": "0"}
    older_view = pod("s-t000-1", "Succeeded", uid="p1")
    stale_view = pod("s-t000-1", "Running", uid="p1")  # listed after the Succeeded one: ignored
    restored = restore(search, [trial_body("t000", "search-uid", Point.of("random", 0.75)),
                                trial_body("t009", "another-search", Point.of("random", 0.5))],
                       [older_view, stale_view, newer])
    assert [t.id for t in restored.state.trials] == ["t000", "t001"]  # creation order, listed ones only
    t000, t001 = restored.state.trials
    assert restored.records["t000"].exists and not restored.records["t001"].exists  # t001 is recreated
    assert (t001.status, t001.epoch, t001.target_epoch) == ("paused", 2, 2)
    assert (restored.records["t000"].attempt, t000.target_epoch, t000.status) == (2, 3, "running")
    assert restored.adopted == ["pod s-t000-2 (attempt 2 of t000)"]
    assert restored.pods["s-t000-1"]["status"]["phase"] == "Succeeded"
    assert restored.state.promoted == "t000" and "status" not in restored.search_body
