"""The replay, checked against a real search: ``lsh`` run LIVE through the local engine
(``hyperprune run SEARCH.yaml --workdir DIR --workers 1``), one worker so that the order of events is
fixed, each trial process pinned to one CPU thread like the ground truth's. Equal means: the same
actions in the same order (kind, trial, role, point, target epoch, from-scratch, rank/of/rung/keep of
every stop), the same trial-epochs, the same promoted point; and every report the live trials made
equals the ground truth's at that epoch (validation metric and spectrum, compared exactly).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hyperprune.spec import parse_search
from hyperprune.spec.point import Point

from .groundtruth import read_reports
from .replay import Recorded, epoch_entry, essential, replay


def engine_available() -> str | None:
    """None when the local engine can run; otherwise why not."""
    try:
        import hyperprune.session.run  # noqa: F401
        import hyperprune.local.engine  # noqa: F401
    except ImportError as exc:
        return f"the local engine (hyperprune.local) is not importable: {exc}"
    return None


def live_document(task: Any) -> dict[str, Any]:
    return task.document("lsh", parallelism=1)


def read_actions(workdir: Path) -> list[dict[str, Any]]:
    events = workdir / "events.jsonl"
    if not events.exists():
        return []
    out = []
    for line in events.read_text().splitlines():
        if line.strip():
            event = json.loads(line)
            if event.get("event") == "action":
                out.append(event["action"])
    return out


def compare(task: Any, recorded: Recorded, workdir: Path, run: dict[str, Any]) -> dict[str, Any]:
    search = parse_search(live_document(task))
    sim = replay(search.spec, recorded)
    from hyperprune.policy import action_to_json

    replayed = [action_to_json(a) for _, a in sim.log]
    result_file = workdir / "result.json"
    out: dict[str, Any] = {
        "ran": True,
        "task": task.label,
        "strategy": "lsh",
        "parallelism": 1,
        "command": run.get("command"),
        "exitCode": run.get("exitCode"),
        "liveSeconds": round(run.get("seconds", math.nan), 2),
        "replayedWallSeconds": round(sim.clock, 2),
    }
    if not result_file.exists():
        out.update(equal=False, problem="the live run wrote no result.json", outputTail=run.get("outputTail"))
        return out
    result = json.loads(result_file.read_text())
    live = read_actions(workdir)

    a, b = [essential(x) for x in live], [essential(x) for x in replayed]
    first_difference = None
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            first_difference = {"index": i, "live": live[i], "replay": replayed[i]}
            break
    if first_difference is None and len(a) != len(b):
        i = min(len(a), len(b))
        first_difference = {"index": i, "live": live[i] if i < len(live) else None,
                            "replay": replayed[i] if i < len(replayed) else None}
    reasons_equal = [x.get("reason") for x in live] == [y.get("reason") for y in replayed]

    pick_live = Point.from_json(result["best"]["params"]).key if result.get("best") else None
    promoted = sim.state.trial(sim.state.promoted) if sim.state.promoted else None
    pick_replay = promoted.params.key if promoted else None

    # Every live report against the ground truth at the same epoch.
    metric_diff = spectrum_diff = 0.0
    compared = spectra = 0
    for trial in result["trials"]:
        rec = recorded.record(Point.from_json(trial["params"]))
        for report in read_reports(Path(trial["trialDir"])):
            if report["status"] == "diverged":
                continue
            truth = epoch_entry(rec, report["epoch"])
            compared += 1
            metric_diff = max(metric_diff, _absdiff(report["valMetric"], truth["valMetric"]))
            if report.get("lyapunov") is not None:
                spectra += 1
                if truth["spectrum"] is None:
                    spectrum_diff = math.inf
                else:
                    spectrum_diff = max(spectrum_diff, max(_absdiff(x, y) for x, y in zip(report["lyapunov"], truth["spectrum"])))

    decisions_equal = first_difference is None
    out.update(
        actionsLive=len(live),
        actionsReplay=len(replayed),
        decisionsEqual=decisions_equal,
        reasonsEqual=reasons_equal,
        firstDifference=first_difference,
        trialEpochsLive=result["trialEpochs"],
        trialEpochsReplay=sim.state.trial_epochs,
        pickLive=result["best"]["description"] if result.get("best") else None,
        pickReplay=promoted and recorded.record(promoted.params)["description"],
        pickEqual=pick_live is not None and pick_live == pick_replay,
        reportsCompared=compared,
        spectraCompared=spectra,
        maxAbsMetricDifference=metric_diff,
        maxAbsSpectrumDifference=spectrum_diff,
        liveWallSecondsEngine=result.get("wallSeconds"),
        liveStatus=result.get("status"),
    )
    out["equal"] = bool(
        decisions_equal and out["pickEqual"] and out["trialEpochsLive"] == out["trialEpochsReplay"]
    )
    out["bitIdentical"] = bool(metric_diff == 0.0 and spectrum_diff == 0.0)
    return out


def _absdiff(x: float | None, y: float | None) -> float:
    if x is None or y is None:
        return 0.0 if x is None and y is None else math.inf
    if x == y:
        return 0.0
    return abs(x - y)
