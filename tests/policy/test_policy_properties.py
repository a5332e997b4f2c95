"""Properties over many random searches with crashes, divergence and restarts: every search ends, every
decision is idempotent and within parallelism (the simulator checks both), and the outcome is sound."""

from __future__ import annotations

import json
import random
import zlib

import pytest
from policy_support import make_spec

from hyperprune.policy import SearchState, final_metric
from hyperprune.policy.scoring import oriented
from hyperprune.policy.simulate import Simulation, Trajectory, latent_trajectories
from hyperprune.spec import SearchSpecError

STRATEGIES = ["lsh", "lsh-sync", "full", "asha-loss", "median", "random"]


def random_search(case: int):
    r = random.Random(case)
    name = STRATEGIES[case % len(STRATEGIES)]
    ls = name in ("lsh", "lsh-sync")
    # LS strategies rank after every candidate is pruned (magnitude prunes after epoch 1 here).
    epochs = r.randint(3 if ls else 2, 10)
    spec = make_spec(
        training={"epochs": epochs},
        budget={"maxTrials": r.randint(1, 10), "parallelism": r.randint(1, 5), "maxFailedTrials": r.randint(0, 3),
                "retries": r.randint(0, 2)},
        strategy={
            "name": name,
            "rungs": {"first": r.randint(2 if ls else 1, epochs - 1), "step": r.randint(1, 3),
                      "keepFraction": r.choice([0.2, 0.34, 0.5, 0.75]), "finalists": r.randint(1, 3)},
            # TPE in a few cases only: it is the slow part, and generation has its own tests.
            "generation": {"sampler": "tpe" if name in ("lsh", "lsh-sync") and case % 4 == 0 else "random"},
            "median": {"minTrials": r.randint(1, 3), "graceEpochs": r.randint(1, 3)},
        },
        dense={"enabled": name in ("lsh", "lsh-sync") or r.random() < 0.7},
    )
    base = latent_trajectories(seed=case)
    crash_rate, divergence_rate = r.random() * 0.3, r.random() * 0.15

    def trajectory(trial_id: str, point: dict) -> Trajectory:
        path = base(trial_id, point)
        t = random.Random(zlib.crc32(f"{case}/{trial_id}".encode()))
        crashes = tuple((attempt, t.randint(1, epochs)) for attempt in range(3) if t.random() < crash_rate)
        diverge = t.randint(1, epochs) if trial_id != "dense" and t.random() < divergence_rate else None
        return Trajectory(path.metric, path.spectrum, diverge_at=diverge, crash_at=crashes,
                          epoch_seconds=t.choice([0.5, 1.0, 1.7]))

    return spec, trajectory, r.randint(1, 25)


@pytest.mark.parametrize("case", range(90))
def test_random_searches_end_soundly_and_survive_a_restart(case):
    try:
        spec, trajectory, cut = random_search(case)
    except SearchSpecError:
        pytest.fail("random_search drew an invalid spec")
    sim = Simulation(spec, trajectory).run(max_decisions=cut)
    sim.state = SearchState.from_json(json.loads(json.dumps(sim.state.to_json(), allow_nan=False)))
    sim.run()
    state = sim.state
    assert state.outcome in ("succeeded", "failed")
    assert len(state.candidates) <= spec.budget.max_trials
    assert not any(t.status in ("pending", "running", "paused", "errored") for t in state.trials)
    if state.outcome == "succeeded":
        best = state.trial(state.promoted)
        assert best.status == "completed" and best.role == "candidate"
        completed = [t for t in state.candidates if t.status == "completed"]
        assert oriented(final_metric(best), "min") == min(oriented(final_metric(t), "min") for t in completed)
        assert sum(t.status == "failed" for t in state.trials) <= spec.budget.max_failed_trials
    else:
        assert state.promoted is None and state.message
