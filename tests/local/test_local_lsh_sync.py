"""lsh-sync through the real engine: survivors of each round retrain FROM SCRATCH (the published
procedure), so the engine discards their checkpoints and report lines before relaunching them."""

from __future__ import annotations

import pytest

from local_support import journal, result, run_engine, trial_reports, write_search

pytestmark = pytest.mark.slow


def test_survivors_retrain_from_scratch_and_every_retrained_epoch_is_counted(tmp_path):
    # The dense reference as by default: trained to the last round, where lsh-sync last reads it.
    search = write_search(tmp_path / "search.yaml", strategy={"name": "lsh-sync"}, budget={"maxTrials": 3},
                          dense={"compare": False})
    workdir = tmp_path / "run"
    completed = run_engine(search, workdir, "--quiet")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    res = result(workdir)
    assert res["status"] == "succeeded" and res["strategy"] == "lsh-sync"
    launches = [e for e in journal(workdir) if e["event"] == "launch"]
    retrained = 0
    for t in res["trials"]:
        mine = [e for e in launches if e["trial"] == t["id"]]
        if t["role"] == "candidate":
            assert all(e["fromEpoch"] == 0 for e in mine), mine  # every round from scratch
            retrained += len(mine) > 1
        # the retrained epochs are spent again ...
        assert t["epochsTrained"] == sum(e["untilEpoch"] - e["fromEpoch"] for e in mine)
        # ... while the trial's record holds its last run only, one line per epoch
        assert [r.epoch for r in trial_reports(workdir, t["id"])] == list(range(1, t["epochReached"] + 1))
    assert retrained >= 2
    assert res["trialEpochs"] == sum(t["epochsTrained"] for t in res["trials"])
    stopped = [t for t in res["trials"] if t["status"] == "stopped" and t["role"] == "candidate"]
    assert stopped and all("LS distance" in t["stopReason"] for t in stopped)
    dense = next(t for t in res["trials"] if t["role"] == "dense")
    last_round = max(e["untilEpoch"] for e in launches if e["trial"] != dense["id"] and e["untilEpoch"] < res["finalEpoch"])
    assert dense["status"] == "stopped" and dense["stopReason"].startswith("reference ready")
    assert dense["epochsTrained"] == dense["epochReached"] == last_round < res["finalEpoch"]
