"""The simulator: strategies end to end on synthetic trajectories, and its own guard rails."""

from __future__ import annotations

from hyperprune.spec import Point

import pytest
from policy_support import make_spec

from hyperprune.policy import Continue, Start, Stop
from hyperprune.policy import simulate as simulate_module
from hyperprune.policy.simulate import Simulation, SimulationError, latent_quality, latent_trajectories


def spec_for(name: str, **overrides):
    settings = {
        "training": {"epochs": 12},
        "budget": {"maxTrials": 16, "parallelism": 4},
        "strategy": {"name": name, "rungs": {"first": 2, "step": 2, "count": None}},
    }
    return make_spec(**{**settings, **overrides})


POOL = [
    {"method": method, "sparsity": sparsity, "params": params}
    for method, params in (
        ("selfish", {"death": "magnitude", "deathRate": 0.5}),
        ("selfish", {"death": "threshold", "deathRate": 0.5}),
        ("magnitude", {"scope": "layer"}),
        ("magnitude", {"scope": "global"}),
    )
    for sparsity in (0.5, 0.6, 0.7, 0.8)
]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lsh_finds_the_full_search_winner_on_the_same_pool_at_a_fraction_of_the_trial_epochs(seed):
    # Noise-free trajectories: the LS distance at every epoch orders candidates as their final metric does.
    paths = latent_trajectories(seed=seed, ls_noise=0.0, metric_noise=0.0)
    full = Simulation(spec_for("full", space=None, candidates=POOL), paths).run()
    lsh = Simulation(spec_for("lsh", space=None, candidates=POOL), paths).run()
    assert full.state.trial_epochs == 16 * 12 + 12
    assert lsh.state.trial_epochs < full.state.trial_epochs / 2
    assert lsh.state.trial(lsh.state.promoted).params == full.state.trial(full.state.promoted).params
    # Survivors continued from checkpoints: lsh never retrains.
    assert all(not c.from_scratch for c in lsh.actions(Continue))


def test_lsh_promotes_the_best_of_the_candidates_it_generated():
    paths = latent_trajectories(seed=4, ls_noise=0.0, metric_noise=0.0)
    lsh = Simulation(spec_for("lsh"), paths).run()
    qualities = {t.id: latent_quality(t.params, 4) for t in lsh.state.candidates}
    assert qualities[lsh.state.promoted] == min(qualities.values())


def test_every_candidate_is_created_once_and_accounted():
    sim = Simulation(spec_for("asha-loss"), latent_trajectories(seed=1)).run()
    starts = sim.actions(Start)
    assert [s.trial_id for s in starts] == ["dense"] + [f"t{i:03d}" for i in range(16)]
    counts = sim.state.counts()
    assert counts["completed"] + counts["stopped"] == 16
    assert len(sim.actions(Stop)) == counts["stopped"]
    # Trial-epochs are exactly what the trials reported.
    assert sim.state.trial_epochs == sim.reports


def test_the_dense_reference_is_the_target_in_the_finish_message():
    sim = Simulation(spec_for("lsh"), latent_trajectories(seed=3)).run()
    assert sim.state.outcome == "succeeded"
    assert "dense reference" in sim.state.message and "trial-epochs" in sim.state.message


def test_the_simulator_catches_a_policy_that_overcommits_workers(monkeypatch):
    spec = spec_for("full", budget={"parallelism": 1, "maxTrials": 2})

    def greedy(spec, state):
        if state.trials:
            return []
        return [Start("dense", "dense", Point.dense(), 12),
                Start("t000", "candidate", Point.of("random", 0.5), 12)]

    monkeypatch.setattr(simulate_module, "decide", greedy)
    with pytest.raises(SimulationError, match="2 trials hold workers; parallelism is 1"):
        Simulation(spec, latent_trajectories()).run()


def test_the_simulator_catches_a_policy_that_is_not_idempotent(monkeypatch):
    spec = spec_for("full")
    calls = iter(range(100))

    def forgetful(spec, state):
        return [Stop("t000", f"again {next(calls)}")] if state.trials else [
            Start("t000", "candidate", Point.of("random", 0.5), 12)
        ]

    monkeypatch.setattr(simulate_module, "decide", forgetful)
    with pytest.raises(SimulationError, match="not idempotent"):
        Simulation(spec, latent_trajectories()).run()


def test_the_simulator_reports_a_deadlock(monkeypatch):
    monkeypatch.setattr(simulate_module, "decide", lambda spec, state: [])
    with pytest.raises(SimulationError, match="deadlock"):
        Simulation(spec_for("full"), latent_trajectories()).run()
