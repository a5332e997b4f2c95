"""End to end: a pareto search promotes one model per point of its front (the best metric as the
primary, the others beside it), lists the front in result.json and the summary, and plots it."""

from __future__ import annotations

import json

import pytest
import yaml
from local_support import result, run_engine, write_search

pytestmark = pytest.mark.slow


def test_a_pareto_search_promotes_every_point_of_its_front(tmp_path):
    search = write_search(
        tmp_path / "search.yaml",
        candidates=[{"method": "random", "sparsity": 0.5}, {"method": "random", "sparsity": 0.9},
                    {"method": "magnitude", "sparsity": 0.75, "params": {"pruneEpoch": 0}}],
        training={"epochs": 2},
        budget={"maxTrials": 3},
        strategy={"name": "full"},
        objective={"name": "pareto", "cost": "nonzero-params"},
    )
    document = yaml.safe_load(search.read_text())
    del document["spec"]["space"]  # the pool instead
    search.write_text(yaml.safe_dump(document))
    workdir = tmp_path / "run"
    completed = run_engine(search, workdir, "--workers", "2")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    res = result(workdir)
    front = res["front"]
    assert res["objective"]["name"] == "pareto" and front
    assert all(p["costName"] == "nonzero-params" for p in front)
    costs = [p["cost"] for p in front]
    metrics = [p["valMetric"] for p in front]
    # Cheapest first, and each point buys its cost with a better metric (perplexity: lower).
    assert costs == sorted(costs) and metrics == sorted(metrics, reverse=True)
    sparsest = max((t for t in res["trials"] if t["role"] == "candidate"), key=lambda t: t["sparsity"])
    assert front[0]["id"] == sparsest["id"]  # nothing is cheaper than the sparsest model
    primary = [p for p in front if p["primary"]]
    assert [p["id"] for p in primary] == [res["best"]["id"]] and primary[0]["model"] == str(workdir / "best")
    for point in front:
        if not point["primary"]:
            folder = workdir / "best-front" / point["id"]
            assert point["model"] == str(folder)
            assert json.loads((folder / "PROMOTED.json").read_text())["trial"] == point["id"]
            assert (folder / "compact" / "load.py").is_file()
    assert f"front: {len(front)} point" in completed.stdout
    html = (workdir / "report.html").read_text()
    assert "Metric against cost (pareto)" in html and html.count("data:image/png;base64,") == 5
