"""How long one policy decision takes at scale.

    .venv/bin/python benchmarks/policy.py [--trials 1000] [--exponents 3000] [--repeats 15]

The expensive branch: 1,000 candidates wait at the first rung of an lsh search with 3,000-exponent
spectra (a 2 x 1500 LSTM), the dense reference has just reported that epoch, and no candidate is
left to create, so one decision computes every LS distance, ranks them, closes the rung, stops the
far half and continues the best onto the free workers. Timed cold (no distance memoised: the first
decision after a restart) and warm (distances memoised on the observations: every later decision).
A TPE proposal conditioned on 1,000 observed candidates is timed separately: it runs only when a
worker frees up and a candidate is still to be created. Target: a decision under 10 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hyperprune.policy import Continue, Evaluated, SearchState, Start, Stop, apply, decide, propose, record_report  # noqa: E402
from hyperprune.spec import parse_search  # noqa: E402

TARGET_MS = 10.0


def make_spec(trials: int, parallelism: int):
    return parse_search(
        {
            "apiVersion": "hyperprune.io/v1alpha1",
            "kind": "HyperpruneSearch",
            "metadata": {"name": "policy-benchmark"},
            "spec": {
                "model": {"hiddenSize": 1500, "numLayers": 2},
                "training": {"epochs": 30},
                "lyapunov": {"state": "hidden"},
                "space": {
                    "methods": [
                        {
                            "method": "selfish",
                            "params": {
                                "init": ["uniform", "er"],
                                "death": ["magnitude", "set", "threshold", "global_magnitude"],
                                "redistribution": ["magnitude", "nonzeros", "none"],
                                "deathRate": {"low": 0.4, "high": 0.9},
                            },
                        },
                        {"method": "magnitude", "params": {"scope": ["layer", "global"]}},
                    ],
                    "sparsity": {"low": 0.5, "high": 0.9},
                },
                "budget": {"maxTrials": trials, "parallelism": parallelism},
                "strategy": {"name": "lsh", "rungs": {"first": 3, "step": 3}},
            },
        }
    ).spec


def waiting_at_first_rung(spec, trials: int, exponents: int, seed: int = 0) -> SearchState:
    """Every candidate paused at the first rung with its spectrum; the dense model there too."""
    rng = np.random.default_rng(seed)
    e0 = spec.rung_epochs()[0]
    state = SearchState()
    apply(state, Start("dense", "dense", {"method": "none", "sparsity": 0.0}, spec.final_epoch))
    reference = np.sort(rng.standard_normal(exponents))[::-1]
    first = propose(spec, [], 0)
    for i in range(trials):
        point = dict(first, sparsity=float(0.5 + 0.4 * i / trials))  # distinct points, cheaply
        apply(state, Start(f"t{i:03d}", "candidate", point, e0))
    for epoch in range(1, e0 + 1):
        record_report(state, "dense", epoch=epoch, metric=100.0 / epoch, mode="min",
                      spectrum=reference if epoch == e0 else None)
        for i in range(trials):
            spectrum = reference + rng.normal(0.0, 0.05, exponents) if epoch == e0 else None
            record_report(state, f"t{i:03d}", epoch=epoch, metric=120.0 / epoch, mode="min", spectrum=spectrum)
    return state


def forget_distances(state: SearchState) -> None:
    for trial in state.trials:
        for obs in trial.observations.values():
            obs.distance_memo = None


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1e3)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--exponents", type=int, default=3000)
    parser.add_argument("--parallelism", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    spec = make_spec(args.trials, args.parallelism)
    state = waiting_at_first_rung(spec, args.trials, args.exponents)
    actions = decide(spec, state)
    stops = sum(isinstance(a, Stop) for a in actions)
    continues = sum(isinstance(a, Continue) for a in actions)
    assert stops == args.trials - args.trials // 2 and continues == args.parallelism - 1, (stops, continues)

    cold_ms = []
    for _ in range(args.repeats):  # forgetting the memo is not part of the decision
        forget_distances(state)
        cold_ms += timed(lambda: decide(spec, state), 1)
    warm_ms = timed(lambda: decide(spec, state), args.repeats)

    history = [Evaluated(t.params, value=float(i % 97) / 97) for i, t in enumerate(state.candidates)]
    propose_ms = timed(lambda: propose(spec, history, args.trials), max(3, args.repeats // 5))
    json_ms = timed(lambda: json.dumps(state.to_json()), 1)

    print(f"one decision, {args.trials} trials at a rung, {args.exponents}-exponent spectra "
          f"({stops} stopped, {continues} continued):")
    print(f"  cold (every distance computed): median {statistics.median(cold_ms):6.2f} ms, best {min(cold_ms):6.2f} ms")
    print(f"  warm (distances memoised):      median {statistics.median(warm_ms):6.2f} ms, best {min(warm_ms):6.2f} ms")
    print(f"  target: under {TARGET_MS:g} ms -> {'met' if statistics.median(cold_ms) < TARGET_MS else 'NOT met'}")
    print(f"TPE proposal conditioned on {len(history)} candidates: median {statistics.median(propose_ms):6.1f} ms")
    print(f"state to JSON with every spectrum: {json_ms[0]:6.0f} ms (engines may persist without spectra)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
