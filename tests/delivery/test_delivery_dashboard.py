"""The Grafana dashboard, checked offline (no Grafana here): its variables, the panels the issue asks
for, and that every metric and label it queries is one the operator really exports — read from the
exposition of the operator's own metrics module, not from a list kept by hand.
"""

from __future__ import annotations

import json
import re

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from delivery_support import DASHBOARD

DS_VAR = "${datasource}"
PROMQL_WORDS = {"by", "without", "sum", "max", "min", "avg", "rate", "increase", "histogram_quantile", "le",
                "count", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


@pytest.fixture(scope="module")
def exported() -> dict[str, set[str]]:
    """Sample names the operator exposes -> their label names, from a real Metrics object after one
    update of every kind (a search snapshot, a stop, an action, both latency histograms)."""
    from hyperprune_operator.metrics import Metrics, SearchSnapshot

    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.update("ns", "s", SearchSnapshot(
        phase="Running", metric="perplexity", trials={"running": 2, "stopped": 1},
        distances={"t000": 1.5}, rung_distances={"t000": {2: 1.5}}, best_metric=80.0, dense_metric=78.0,
        epochs_spent=10, epochs_avoided=4, epochs_full=20))
    metrics.stopped("ns", "s")
    metrics.action("ns", "s", "stop")
    metrics.reconcile.observe(0.01)
    metrics.report_latency.observe(0.02)
    metrics.workers.set(1)
    out: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            out.setdefault(sample.name, set()).update(sample.labels)
    return out


def _panels(dashboard: dict) -> list[dict]:
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels += panel.get("panels", [])
    return [p for p in panels if p["type"] != "row"]


def _exprs(dashboard: dict) -> list[str]:
    exprs = [t["expr"] for p in _panels(dashboard) for t in p.get("targets", [])]
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            exprs.append(var["query"]["query"] if isinstance(var["query"], dict) else var["query"])
    return exprs


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\bhyperprune_[a-z0-9_]+", expr))


def _panel(dashboard: dict, title: str) -> dict:
    found = [p for p in _panels(dashboard) if p["title"] == title]
    assert len(found) == 1, f"no panel titled {title!r}"
    return found[0]


def test_datasource_is_a_template_variable_used_everywhere(dashboard):
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in _panels(dashboard):
        assert panel["datasource"] == {"type": "prometheus", "uid": DS_VAR}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "prometheus", "uid": DS_VAR}, panel["title"]
    for name in ("namespace", "search"):
        assert variables[name]["datasource"]["uid"] == DS_VAR


def test_search_and_namespace_variables_come_from_label_values(dashboard):
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["namespace"]["query"]["query"] == "label_values(hyperprune_search_phase, namespace)"
    assert variables["search"]["query"]["query"] == \
        'label_values(hyperprune_search_phase{namespace=~"$namespace"}, search)'
    for name in ("namespace", "search"):
        assert variables[name]["type"] == "query" and variables[name]["includeAll"] and variables[name]["multi"]


@pytest.mark.parametrize("title,metrics", [
    ("Trials by phase", {"hyperprune_trials"}),
    ("LS distance per trial per rung", {"hyperprune_trial_rung_ls_distance"}),
    ("Trials stopped early", {"hyperprune_trials"}),
    ("Early stops and policy actions", {"hyperprune_trials_stopped_early_total", "hyperprune_actions_total"}),
    ("Trial-epochs avoided", {"hyperprune_trial_epochs_avoided"}),
    ("Trial-epochs: spent, avoided, full training", {"hyperprune_trial_epochs_spent", "hyperprune_trial_epochs_avoided",
                                                     "hyperprune_trial_epochs_full_training"}),
    ("Best metric vs dense target", {"hyperprune_best_metric", "hyperprune_dense_metric"}),
    ("Reconcile latency", {"hyperprune_reconcile_duration_seconds_bucket"}),
    ("Handler errors", {"hyperprune_handler_errors_total"}),
])
def test_the_panels_the_issue_asks_for_exist_and_query_their_metrics(dashboard, title, metrics):
    panel = _panel(dashboard, title)
    queried = set().union(*(_metric_names(t["expr"]) for t in panel["targets"]))
    assert metrics <= queried, f"{title}: queries {queried}"


def test_per_search_panels_filter_on_the_selected_namespace_and_search(dashboard):
    checked = 0
    for panel in _panels(dashboard):
        for target in panel["targets"]:
            names = _metric_names(target["expr"])
            per_search = {n for n in names if not n.startswith(("hyperprune_reconcile", "hyperprune_report_to",
                                                                 "hyperprune_handler", "hyperprune_search_workers"))}
            if per_search:
                checked += 1
                assert 'namespace=~"$namespace"' in target["expr"] and 'search=~"$search"' in target["expr"], \
                    f"{panel['title']}: {target['expr']}"
    assert checked >= 5, "the dashboard has per-search panels to check"


def test_latency_panels_are_histogram_quantiles(dashboard):
    for title in ("Reconcile latency", "Report to action latency"):
        panel = _panel(dashboard, title)
        assert panel["fieldConfig"]["defaults"]["unit"] == "s" and panel["targets"]
        for target in panel["targets"]:
            assert re.fullmatch(r"histogram_quantile\(0\.\d+, sum by \(le\) \(rate\(hyperprune_\w+_bucket"
                                r"\[\$__rate_interval\]\)\)\)", target["expr"]), target["expr"]


def test_every_queried_metric_is_exported_by_the_operator(dashboard, exported):
    queried = set().union(*(_metric_names(e) for e in _exprs(dashboard)))
    unknown = queried - set(exported)
    assert not unknown, f"the dashboard queries metrics the operator does not export: {sorted(unknown)}"


def test_every_metric_the_operator_exports_is_on_the_dashboard(dashboard, exported):
    queried = set().union(*(_metric_names(e) for e in _exprs(dashboard)))
    families = {re.sub(r"_(bucket|sum|count|created)$", "", name) for name in exported}
    shown = {re.sub(r"_(bucket|sum|count|created)$", "", name) for name in queried}
    missing = {f for f in families if f not in shown and f + "_total" not in shown and
               not (f.endswith("_total") and f[:-6] in shown)}
    assert not missing, f"exported but not on the dashboard: {sorted(missing)}"


def test_every_label_the_dashboard_uses_exists_on_its_metric(dashboard, exported):
    assert len(_exprs(dashboard)) >= 10
    for expr in _exprs(dashboard):
        names = _metric_names(expr)
        labels = set().union(*(exported[n] for n in names)) if names else set()
        used = set()
        for selector in re.findall(r"\{([^}]*)\}", expr):
            used |= set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector))
        for grouping in re.findall(r"\bby \(([^)]*)\)", expr):
            used |= {g.strip() for g in grouping.split(",") if g.strip()}
        used |= set(re.findall(r"label_values\([^,]+,\s*(\w+)\)", expr))
        assert used - PROMQL_WORDS <= labels, f"{expr}: labels {sorted(used - labels)} are not on {sorted(names)}"


def test_panels_have_unique_ids_and_do_not_overlap(dashboard):
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    cells = {}
    for p in panels:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = p["title"]
    assert dashboard["uid"] == "hyperprune" and dashboard["title"] == "Hyperprune"
    assert isinstance(dashboard["schemaVersion"], int)
