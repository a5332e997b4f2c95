"""The dense reference costs only what the search reads: lsh and lsh-sync read its spectra up to their
last rung, so by default it trains that far and ends there ("reference ready"), its epochs counted;
``dense.compare: true`` trains it to the end for the final 'vs dense' comparison; strategies that read
no spectrum train it to the end (that comparison is their only use of it)."""

from __future__ import annotations

import pytest

from hyperprune.policy import Start, Stop
from hyperprune.policy.simulate import Simulation, latent_trajectories
from hyperprune.spec import Point
from policy_support import Script, make_spec


def spec(name: str = "lsh", **over):
    return make_spec(**{"training": {"epochs": 12}, "budget": {"maxTrials": 8, "parallelism": 3},
                        "strategy": {"name": name, "rungs": {"first": 3, "step": 3, "count": None, "finalists": 1}},
                        "dense": {"compare": False}, **over})


@pytest.mark.parametrize("name, last_rung", [("lsh", 9), ("lsh-sync", 9)])
def test_by_default_the_dense_reference_trains_to_the_last_rung_and_ends_there(name, last_rung):
    s = spec(name)
    assert s.rung_epochs()[-1] == last_rung and s.dense_epochs() == last_rung
    script = Script(s)
    assert script.decide()[0] == Start("dense", "dense", Point.dense(), last_rung)
    script.train("dense", last_rung)
    actions = script.decide()
    stop = [a for a in actions if isinstance(a, Stop) and a.trial_id == "dense"]
    assert len(stop) == 1 and stop[0].reason.startswith("reference ready") and "dense.compare" in stop[0].reason
    assert script.state.trial("dense").epochs_spent == last_rung  # counted like any trial's epochs


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("name", ["lsh", "lsh-sync"])
def test_the_search_finishes_the_same_way_and_saves_the_dense_epochs_after_the_last_rung(name, seed):
    # A worker for every trial, so that the dense reference's freed worker changes no schedule.
    wide = {"maxTrials": 8, "parallelism": 9}
    short = Simulation(spec(name, budget=wide), latent_trajectories(seed=seed)).run()
    full = Simulation(spec(name, budget=wide, dense={"compare": True}), latent_trajectories(seed=seed)).run()
    assert short.state.outcome == full.state.outcome == "succeeded"
    assert short.state.promoted == full.state.promoted
    assert full.state.trial_epochs - short.state.trial_epochs == 12 - spec(name).dense_epochs()
    assert short.state.trial("dense").status == "stopped" and full.state.trial("dense").status == "completed"
    assert "dense reference" not in short.state.message and "dense reference" in full.state.message


@pytest.mark.parametrize("name", ["full", "asha-loss", "median", "random"])
def test_strategies_that_read_no_spectrum_train_the_dense_reference_to_the_end(name):
    s = spec(name)
    assert s.dense_epochs() == 12
    sim = Simulation(s, latent_trajectories(seed=1)).run()
    assert sim.state.trial("dense").status == "completed"


def test_sparsest_within_trains_the_dense_reference_to_the_end_its_tolerance_is_measured_from():
    s = spec("lsh", objective={"name": "sparsest-within", "tolerance": 5})
    assert s.dense_epochs() == 12
    sim = Simulation(s, latent_trajectories(seed=1)).run()
    assert sim.state.trial("dense").status == "completed"
