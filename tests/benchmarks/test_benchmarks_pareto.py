"""benchmarks/pareto.py on the recorded PTB pool: full training's front is the reference, every
replayed strategy's front is non-dominated among its completed candidates and made of pool members,
and the policy's own front (hyperprune.policy.objectives) agrees with the benchmark's."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import pareto  # noqa: E402


def test_replayed_pareto_fronts_are_measured_against_full_training():
    result = pareto.task_result("ptb")  # asserts inside that the policy's front equals the benchmark's
    rows = {r["strategy"]: r for r in result["rows"]}
    full = rows["full"]
    assert full["hypervolumeShare"] == 1.0 and full["trialEpochs"] == full["fullTrialEpochs"]
    assert [f["id"] for f in full["front"]] == [f["id"] for f in result["fullFront"]]
    for name in ("lsh + pareto", "asha-loss + pareto", "asha-loss per sparsity level"):
        row = rows[name]
        assert row["trialEpochs"] < full["trialEpochs"] and 0.0 <= row["hypervolumeShare"] <= 1.0
        densities = [f["density"] for f in row["front"]]
        metrics = [f["valMetric"] for f in row["front"]]
        # A front: denser points are better, never worse.
        assert all(a < b for a, b in zip(metrics, metrics[1:])) and all(a > b for a, b in zip(densities, densities[1:]))
