"""Search work dirs for the report tests, made without training: the policy's simulator plays the
search (synthetic metrics and spectra), and its decisions are written out as the local engine would:
search.json, state.json, events.jsonl and each trial's reports.jsonl."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

from hyperprune.local.layout import Workdir, write_json
from hyperprune.local.store import save_state
from hyperprune.policy import Continue, Start
from hyperprune.policy.simulate import Simulation, latent_trajectories
from hyperprune.spec import parse_search
from hyperprune.contract.report import TrialReport

LAYERS = ("core.weight_ih_l0", "core.weight_hh_l0")

DOCUMENT: dict[str, Any] = {
    "apiVersion": "hyperprune.io/v1alpha1",
    "kind": "HyperpruneSearch",
    "metadata": {"name": "simulated"},
    "spec": {
        "model": {"arch": "lstm", "hiddenSize": 4},
        "training": {"epochs": 4},
        "space": {
            "methods": [{"method": "magnitude", "params": {"scope": ["layer", "global"], "pruneEpoch": 0}}, {"method": "random"}],
            "sparsity": [0.25, 0.5, 0.75],
        },
        "budget": {"maxTrials": 6, "parallelism": 2},
        "strategy": {"name": "lsh", "rungs": {"first": 1, "step": 1, "keepFraction": 0.5, "finalists": 2}},
        "dense": {"compare": True},  # to the end, for the 'vs dense' the tests read (default: the last rung)
    },
}


def search_document(**spec_over: Any) -> dict[str, Any]:
    """DOCUMENT with some sections of its spec replaced (None: removed)."""
    doc = copy.deepcopy(DOCUMENT)
    doc["spec"].update(spec_over)
    doc["spec"] = {k: v for k, v in doc["spec"].items() if v is not None}
    return doc


def _report(sim: Simulation, trial: Any, epoch: int, final_epoch: int) -> TrialReport:
    obs = trial.observations[epoch]
    sparsity = float(trial.params.sparsity)
    final = epoch == final_epoch
    return TrialReport(
        trial_id=trial.id, epoch=epoch, status="completed" if final else "running", metric="perplexity", mode="min",
        val_metric=obs.metric, test_metric=obs.metric * 1.05 if final and obs.metric else None,
        sparsity=sparsity, sparsity_per_layer={name: sparsity for name in LAYERS},
        lyapunov=None if obs.spectrum is None else obs.spectrum.tolist(),
    )


def simulated_workdir(root: Path, *, max_decisions: int | None = None, **spec_over: Any) -> tuple[Workdir, Simulation]:
    """Play a search (to the end, or for ``max_decisions`` decisions) and write its work dir."""
    search = parse_search(search_document(**spec_over))
    spec = search.spec
    sim = Simulation(spec, latent_trajectories(seed=3, exponents=2 * spec.model.hidden_size)).run(max_decisions)
    T0 = time.time() - sim.clock - 5.0  # the simulated search started so long ago that it is at its clock now
    workdir = Workdir(root)
    root.mkdir(parents=True, exist_ok=True)
    write_json(workdir.search, search.dump())
    save_state(workdir, sim.state)

    # (time, order at equal times, event): a run's last report, then its exit, then the decisions it
    # led to and the launches they made, as the engine journals them.
    events: list[tuple[float, int, dict[str, Any]]] = [(T0, 0, {"event": "session", "resumed": False})]
    reached: dict[str, int] = {}
    for clock, action in sim.log:
        at = T0 + clock
        events.append((at, 3, {"event": "action", "action": {"action": type(action).__name__.lower()}}))
        if not isinstance(action, (Start, Continue)):
            continue
        start = reached.get(action.trial_id, 0) if isinstance(action, Continue) and not action.from_scratch else 0
        events.append((at, 4, {"event": "launch", "trial": action.trial_id, "fromEpoch": start,
                               "untilEpoch": action.until_epoch, "pid": 0}))
        trial = sim.state.trial(action.trial_id)
        for epoch in range(start + 1, action.until_epoch + 1):
            if epoch in trial.observations and T0 + clock + (epoch - start) <= T0 + sim.clock:
                obs = trial.observations[epoch]
                events.append((at + epoch - start, 1, {
                    "event": "report", "trial": trial.id, "epoch": epoch, "status": "running", "metric": obs.metric,
                    "spectrum": None if obs.spectrum is None else obs.spectrum.tolist(),
                }))
        end = at + action.until_epoch - start
        if end <= T0 + sim.clock:
            status = "completed" if action.until_epoch == spec.final_epoch else "paused"
            events.append((end, 2, {"event": "exit", "trial": trial.id, "code": 0, "epoch": action.until_epoch,
                                    "status": status}))
        reached[action.trial_id] = action.until_epoch
    if sim.state.outcome is not None:
        events.append((T0 + sim.clock, 5, {"event": "finished", "outcome": sim.state.outcome}))
    with open(workdir.journal, "w") as f:
        for at, _, event in sorted(events, key=lambda e: (e[0], e[1])):
            f.write(json.dumps({**event, "time": at}) + "\n")

    for trial in sim.state.trials:
        trial_dir = workdir.trial(trial.id)
        trial_dir.mkdir(parents=True)
        lines = [_report(sim, trial, e, spec.final_epoch) for e in sorted(trial.observations)]
        (trial_dir / "reports.jsonl").write_text("".join(json.dumps(r.dump()) + "\n" for r in lines))
    return workdir, sim
