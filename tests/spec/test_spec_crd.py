"""The generated CRD: structural, complete, and accepting exactly the custom resources the models accept."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from hyperprune.spec import load_search
from hyperprune.spec.crd import AGE, PrinterColumn, all_crds, custom_resource_definition, dump_yaml, search_crd
from hyperprune.spec.models import Budget
from hyperprune.spec.structural import PRESERVE
from structural_rules import draft4_schema, structural_errors

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (REPO / "examples").glob("*.yaml") if "HyperpruneSearch" in p.read_text())


def schema_of(crd: dict) -> dict:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def validator(forbid_unknown: bool = True) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(draft4_schema(schema_of(search_crd()), forbid_unknown=forbid_unknown))


def test_every_generated_schema_is_structural():
    crds = all_crds()
    assert [c["spec"]["names"]["kind"] for c in crds] == ["HyperpruneSearch", "HyperpruneTrial"]
    for crd in crds:
        assert structural_errors(schema_of(crd)) == []


def test_the_crd_is_a_valid_kubernetes_object():
    for crd in all_crds():
        kubernetes_validate.validate(crd, "1.30.0", strict=True)


def test_names_versions_subresources_and_columns():
    crd = search_crd()
    assert crd["metadata"]["name"] == "hyperprunesearches.hyperprune.io"
    spec = crd["spec"]
    assert spec["group"] == "hyperprune.io" and spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "HyperpruneSearch",
        "listKind": "HyperpruneSearchList",
        "plural": "hyperprunesearches",
        "singular": "hyperprunesearch",
        "shortNames": ["hps", "hpsearch"],
        "categories": ["hyperprune"],
    }
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns == {
        "Strategy": ".spec.strategy.name",
        "Phase": ".status.phase",
        "Running": ".status.trials.running",
        "Stopped": ".status.trials.stopped",
        "Done": ".status.trials.completed",
        "Best": ".status.best.metric",
        "Age": ".metadata.creationTimestamp",
    }
    root = schema_of(crd)
    # The status is the operator's, typed (hyperprune.spec.status.SearchStatus).
    from hyperprune.spec.status import SearchStatus
    from hyperprune.spec.structural import structural_schema

    assert root["properties"]["status"] == structural_schema(SearchStatus)
    assert root["required"] == ["spec"]


def test_enums_and_bounds_are_carried_over():
    spec = schema_of(search_crd())["properties"]["spec"]["properties"]
    strategy = spec["strategy"]["properties"]
    assert strategy["name"]["enum"] == ["lsh", "lsh-sync", "full", "asha-loss", "median", "random"]
    keep = strategy["rungs"]["properties"]["keepFraction"]
    assert (keep["minimum"], keep["exclusiveMinimum"], keep["maximum"], keep["exclusiveMaximum"]) == (0.0, True, 1.0, True)
    parallelism = spec["budget"]["properties"]["parallelism"]
    assert (parallelism["type"], parallelism["minimum"], parallelism["exclusiveMinimum"]) == ("integer", 0, True)
    assert spec["space"]["properties"]["methods"]["items"]["properties"]["method"]["enum"][:2] == ["random", "magnitude"]
    assert "none" not in spec["space"]["properties"]["methods"]["items"]["properties"]["method"]["enum"]
    assert spec["trialTemplate"]["properties"]["affinity"] == {
        "description": "a Kubernetes Affinity", "type": "object", PRESERVE: True, "nullable": True
    }
    assert spec["trialTemplate"]["properties"]["tolerations"]["items"] == {"type": "object", PRESERVE: True}
    assert spec["trialTemplate"]["properties"]["resources"]["type"] == "object"
    assert spec["lyapunov"]["properties"]["k"]["nullable"] is True
    assert spec["lyapunov"]["properties"]["distance"]["enum"] == ["l2"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_validates_against_the_crd_schema(path):
    document = yaml.safe_load(path.read_text())
    load_search(path)  # and against the models
    errors = sorted(e.message for e in validator().iter_errors(document))
    assert errors == []


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("spec", "strategy", "name"), "hyperband", "'hyperband' is not one of"),
        (("spec", "strategy", "rungs", "keepFraction"), 1.5, "1.5 is greater than or equal to the maximum of 1.0"),
        (("spec", "budget", "parallelism"), 0, "0 is less than or equal to the minimum of 0"),
        (("spec", "budget", "maxTrials"), "ten", "'ten' is not of type 'integer'"),
        (("spec", "trialTemplate", "imagePullPolicy"), "Sometimes", "'Sometimes' is not one of"),
        (("spec", "space", "methods"), [{"params": {}}], "'method' is a required property"),
        (("spec", "task"), {"entryPoint": "my model", "metric": "mae", "mode": "min"}, "'my model' does not match"),
        (("spec", "task"), {"entryPoint": "a.b:c", "metric": "mae", "mode": "lower"}, "'lower' is not one of"),
    ],
)
def test_the_api_server_schema_rejects_invalid_resources(path, value, message):
    document = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    node = document
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    messages = [e.message for e in validator(forbid_unknown=False).iter_errors(document)]
    assert any(message in m for m in messages), messages


def test_check_jsonschema_accepts_the_quickstart(tmp_path):
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(draft4_schema(schema_of(search_crd()), forbid_unknown=True)))
    check = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(check), "--schemafile", str(schema), str(REPO / "examples" / "quickstart.yaml")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    bad = tmp_path / "bad.yaml"
    document = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    document["spec"]["strategy"]["rungs"]["keepFraction"] = 2
    bad.write_text(yaml.safe_dump(document))
    result = subprocess.run([str(check), "--schemafile", str(schema), str(bad)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "keepFraction" in result.stdout + result.stderr


def test_the_converter_is_reusable_for_other_crds():
    crd = custom_resource_definition(
        kind="HyperpruneTrial",
        plural="hyperprunetrials",
        spec_model=Budget,
        status_model=Budget,
        short_names=("hpt",),
        printer_columns=(PrinterColumn("Trials", "integer", ".spec.maxTrials", priority=1), AGE),
    )
    assert crd["metadata"]["name"] == "hyperprunetrials.hyperprune.io"
    schema = schema_of(crd)
    assert structural_errors(schema) == []
    assert schema["properties"]["status"]["properties"]["maxTrials"]["type"] == "integer"
    assert crd["spec"]["versions"][0]["additionalPrinterColumns"][0] == {
        "name": "Trials", "type": "integer", "jsonPath": ".spec.maxTrials", "priority": 1
    }
    kubernetes_validate.validate(crd, "1.30.0", strict=True)


def test_yaml_output_round_trips():
    documents = list(yaml.safe_load_all(dump_yaml(all_crds())))
    assert documents == [copy.deepcopy(c) for c in all_crds()]
