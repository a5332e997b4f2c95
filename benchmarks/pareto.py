"""Does the `pareto` objective find the front full training finds, for less? Replayed on recorded runs.

The ground truth is the search benchmark's (``benchmarks/search.py``): every candidate of a pool (26 on
each task: 13 configurations x sparsity 0.5 and 0.8) and the dense model, each trained to the end on
a real task (PTB-eval, Tiny Shakespeare), every epoch's metric and spectrum recorded in
``results/<task>-trajectories.json``. Trials are deterministic and continuing from a checkpoint equals
an uninterrupted run, so replaying the policy on those records (``search_lib.replay``) decides and
spends exactly what a live search would.

For each task:

- ``full``: every candidate to the end; its front over (final validation metric, planned density
  1 - sparsity) is the reference (the recorded trials measured no efficiency, so cost is planned
  density, as the policy itself falls back to);
- ``lsh`` + ``pareto``: LS-halving whose rungs rank by fronts over (LS distance, density), with as
  many finalists as sparsity levels (the recorded runs' other rung settings);
- ``asha-loss`` + ``pareto``: the same with the validation metric as the early score;
- ``asha-loss`` per sparsity level: loss-based halving run separately on each level's candidates
  with the default objective (one winner per level), the cost of all levels added.

Each gets the hypervolume of its front (both objectives minimised: perplexity, density; reference
point: the worst final metric of the pool x 1.01 and density 1, the dense model's) as a share of
full training's, and its trial-epochs (dense reference included) against full training's.

Run: .venv/bin/python benchmarks/pareto.py [--tasks ptb shakespeare]   (seconds; policy only, no training)
Results: benchmarks/results/pareto.json
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from search_lib.replay import Recorded, final_val, replay  # noqa: E402

from hyperprune.policy.objectives import front, hypervolume  # noqa: E402
from hyperprune.policy.scoring import oriented  # noqa: E402
from hyperprune.spec import parse_search  # noqa: E402
from hyperprune.spec.point import Point  # noqa: E402

RESULTS = HERE / "results"


def document(base: dict[str, Any], strategy: str, objective: str, candidates: list[dict[str, Any]] | None = None,
             finalists: int | None = None) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    spec = doc["spec"]
    spec["strategy"] = {**spec["strategy"], "name": strategy}
    if finalists is not None:
        spec["strategy"]["rungs"] = {**spec["strategy"].get("rungs", {}), "finalists": finalists}
    spec["objective"] = {"name": objective}
    if candidates is not None:
        spec["candidates"] = candidates
        spec["budget"] = {**spec["budget"], "maxTrials": len(candidates)}
    doc["metadata"] = {"name": doc["metadata"]["name"]}
    return doc


def front_of(points: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """The non-dominated (metric, density, id) points, both minimised (perplexity)."""
    return sorted(p for p in points if not any(q[0] <= p[0] and q[1] <= p[1] and (q[0] < p[0] or q[1] < p[1])
                                                for q in points))


def replayed(doc: dict[str, Any], recorded: Recorded) -> tuple[list[tuple[float, float, str]], int, int]:
    """The completed candidates' (final metric, density, record id), the trial-epochs spent (dense
    included) and the dense reference's share of them."""
    spec = parse_search(doc).spec
    sim = replay(spec, recorded)
    state = sim.state
    points = []
    for t in state.candidates:
        if t.status == "completed":
            metric = t.observations[t.last_epoch].metric
            if metric is not None and math.isfinite(metric):
                points.append((oriented(metric, spec.metric_mode), round(1.0 - t.params.sparsity, 6),
                               recorded.record(t.params)["id"]))
    if state.promoted is not None and spec.objective.name == "pareto":  # the policy's own front agrees
        assert {recorded.record(p.trial.params)["id"] for p in front(spec, state)} == {p[2] for p in front_of(points)}
    dense = state.dense.epochs_spent if state.dense is not None else 0
    return points, state.trial_epochs, dense


def task_result(label: str) -> dict[str, Any]:
    traj = json.loads((RESULTS / f"{label}-trajectories.json").read_text())
    base = traj["document"]
    recorded = Recorded(traj["dense"], traj["candidates"])
    pool = [c for c in recorded.candidates if final_val(c) is not None]
    worst = max(final_val(c) for c in pool)
    reference = (worst * 1.01, 1.0)
    full_points, full_epochs, dense_epochs = replayed(document(base, "full", "pareto"), recorded)
    full_front = front_of(full_points)
    full_hv = hypervolume([(m, d) for m, d, _ in full_front], reference)
    rows = []

    def add(name: str, points: list[tuple[float, float, str]], epochs: int) -> None:
        found = front_of(points)
        hv = hypervolume([(m, d) for m, d, _ in found], reference)
        rows.append({
            "strategy": name, "trialEpochs": epochs, "fullTrialEpochs": full_epochs,
            "reduction": full_epochs / epochs, "hypervolume": hv, "hypervolumeShare": hv / full_hv if full_hv else None,
            "front": [{"id": i, "valMetric": m, "density": d} for m, d, i in found],
            "frontShared": sorted({i for *_, i in found} & {i for *_, i in full_front}),
        })

    add("full", full_points, full_epochs)
    levels: dict[float, list[dict[str, Any]]] = {}
    for c in base["spec"]["candidates"]:
        levels.setdefault(Point.from_json(c).sparsity, []).append(c)
    for strategy in ("lsh", "asha-loss"):
        # As many finalists as sparsity levels: a front needs a point per level to be found at all.
        points, epochs, _ = replayed(document(base, strategy, "pareto", finalists=len(levels)), recorded)
        add(f"{strategy} + pareto", points, epochs)
    # Loss-based halving on each sparsity level alone (the default objective), the levels' costs added.
    union: list[tuple[float, float, str]] = []
    spent = dense_epochs  # one dense reference serves every level
    for members in levels.values():
        points, epochs, dense = replayed(document(base, "asha-loss", "metric", members), recorded)
        union += points
        spent += epochs - dense
    add("asha-loss per sparsity level", union, spent)
    return {"task": label, "candidates": len(recorded.candidates), "referencePoint": list(reference),
            "fullFront": [{"id": i, "valMetric": m, "density": d} for m, d, i in full_front], "rows": rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=["ptb", "shakespeare"])
    p.add_argument("--out", type=Path, default=RESULTS / "pareto.json")
    args = p.parse_args()
    results = [task_result(label) for label in args.tasks]
    for res in results:
        print(f"{res['task']}: full front {[(f['id'], round(f['valMetric'], 2), f['density']) for f in res['fullFront']]}")
        for r in res["rows"]:
            share = "n/a" if r["hypervolumeShare"] is None else f"{r['hypervolumeShare']:.1%}"
            print(f"  {r['strategy']:30s} {r['trialEpochs']:5d} trial-epochs ({r['reduction']:.1f}x fewer than full), "
                  f"hypervolume {share} of full's, front {[f['id'] for f in r['front']]}")
    args.out.write_text(json.dumps({"benchmark": "pareto", "results": results}, indent=2) + "\n")
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
