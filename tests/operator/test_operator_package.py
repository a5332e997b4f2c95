"""The operator package as shipped: torch-free, its CLI, crds/ in sync, metrics as documented, promotion."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from structural_rules import structural_errors
from hyperprune.contract.pod import TrialReportEntry, report_entry
from hyperprune.contract.report import TrialReport
from hyperprune_operator.crds import crd_files, differences
from hyperprune_operator.main import main
from hyperprune_operator.metrics import METRIC_NAMES, Metrics, SearchSnapshot
from hyperprune_operator.promote import main as promote_main

REPO = Path(__file__).resolve().parents[2]


def test_the_operator_and_its_cli_never_import_torch():
    code = (
        "import sys\n"
        "import hyperprune_operator, hyperprune_operator.handlers, hyperprune_operator.worker\n"
        "import hyperprune_operator.main, hyperprune_operator.promote, hyperprune_operator.crds\n"
        "from hyperprune_operator.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as exc:\n    assert exc.code == 0\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('torch-free')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--all-namespaces" in done.stdout and done.stdout.strip().endswith("torch-free")
    script = Path(sys.executable).with_name("hyperprune-operator")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--metrics-port" in done.stdout and "--peering" in done.stdout


@pytest.mark.parametrize("argv, message", [
    ([], "pass --namespace NS (repeatable) or --all-namespaces"),
    (["-n", "a", "--priority", "5"], "--priority only matters with --peering"),
])
def test_the_cli_refuses_what_it_cannot_run(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("text, message", [
    ("resources: {limits: {nvidia.com/gpu: 1}}\nimagePullPolicy: Sometimes\n", "trialTemplate.imagePullPolicy:"),
    ("volume: {hostPath: {path: /a}, persistentVolumeClaim: {claimName: c}}\n", "trialTemplate.volume:"),
    ("- image: x\n", "must be a mapping of trialTemplate fields"),
    ("image: [unclosed\n", "cannot read it"),
])
def test_the_cli_refuses_trial_defaults_it_cannot_use(tmp_path, capsys, text, message):
    path = tmp_path / "trial-defaults.yaml"
    path.write_text(text)
    assert main(["-n", "a", "--trial-defaults", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"--trial-defaults {path}" in err and message in err


def test_the_cli_help_shows_only_defaults_worth_reading():
    from hyperprune_operator.main import build_parser

    text = build_parser().format_help()
    assert "(default: 9090)" in text and "--trial-defaults PATH" in text
    assert "default: None" not in text and "default: True" not in text and "default: False" not in text


def test_crds_directory_is_what_the_models_generate():
    assert differences(REPO / "crds") == [], "run: python -m hyperprune_operator.crds --output crds"
    names = []
    for text in crd_files().values():
        for crd in yaml.safe_load_all(text):
            names.append(crd["metadata"]["name"])
            schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
            assert structural_errors(schema) == [], crd["metadata"]["name"]
    assert names == ["hyperprunesearches.hyperprune.io", "hyperprunetrials.hyperprune.io",
                     "clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"]


def test_hyperprune_crd_prints_both_resources():
    done = subprocess.run([sys.executable, "-m", "hyperprune.cli", "crd"], capture_output=True, text=True, timeout=120)
    kinds = [d["spec"]["names"]["kind"] for d in yaml.safe_load_all(done.stdout)]
    assert kinds == ["HyperpruneSearch", "HyperpruneTrial"]


def test_the_trial_crd_accepts_reporter_entries_and_rejects_others():
    import jsonschema

    from structural_rules import draft4_schema

    crd = yaml.safe_load(crd_files()["hyperprunetrials.hyperprune.io.yaml"])
    version = crd["spec"]["versions"][0]
    assert crd["spec"]["names"]["shortNames"] == ["hpt", "hptrial"] and crd["spec"]["names"]["categories"] == ["hyperprune"]
    assert version["subresources"] == {"status": {}}
    schema = draft4_schema(version["schema"]["openAPIV3Schema"]["properties"]["status"], forbid_unknown=True)
    report = TrialReport(trial_id="t", epoch=2, metric="accuracy", mode="max", val_metric=0.9)
    report.lyapunov = [0.1, float("nan")]  # a report refuses NaN; an entry turns one set after it into null
    entry = report_entry(report, run=0, pod="p")
    TrialReportEntry.model_validate(entry)
    jsonschema.validate({"reports": {"2": entry}, "phase": "running"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"reports": {"2": dict(entry, mode="up")}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"phase": "exploded"}, schema)


def test_every_exported_metric_is_documented_with_its_type_and_labels():
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.update("ns", "s", SearchSnapshot(phase="Running", metric="perplexity", trials={"running": 2},
                                             distances={"t000": 0.5}, rung_distances={"t000": {3: 0.5}},
                                             best_metric=90.0, dense_metric=88.0, epochs_spent=10,
                                             epochs_avoided=4, epochs_full=20))
    metrics.stopped("ns", "s")
    metrics.action("ns", "s", "stop")
    metrics.reconcile.observe(0.01)
    metrics.report_latency.observe(0.02)
    text = generate_latest(registry).decode()
    exported = set(re.findall(r"^# TYPE (\S+) (\S+)", text, re.M))
    docs = (REPO / "docs" / "operator.md").read_text()
    table = dict(re.findall(r"^\| `(hyperprune_[a-z_]+)` \| (\w+) \|", docs, re.M))
    assert set(table) == set(METRIC_NAMES), "docs/operator.md's metrics table must list exactly the exported metrics"
    for name, kind in exported:
        if not name.startswith("hyperprune_") or name.endswith("_created"):  # the client's creation stamps
            continue
        documented = name + "_total" if kind == "counter" and not name.endswith("_total") else name
        assert table.get(documented) == kind, (documented, kind)
    metrics.forget("ns", "s")
    assert 'search="s"' not in generate_latest(registry).decode()


def finished_model(tmp_path):
    source = tmp_path / "t003" / "model"
    source.mkdir(parents=True)
    (source / "model.pt").write_bytes(b"weights")
    (source / "config.json").write_text("{}")
    return source


def test_promotion_copies_the_model_folder_atomically(tmp_path, capsys):
    source = finished_model(tmp_path)
    dest = tmp_path / "best"
    dest.mkdir()
    (dest / "model.pt").write_bytes(b"older")
    (dest / "PROMOTED.json").write_text('{"trial": "t001"}')  # an earlier promotion
    assert promote_main(["--source", str(source), "--dest", str(dest), "--search", "s", "--trial", "t003"]) == 0
    assert (dest / "model.pt").read_bytes() == b"weights"
    assert json.loads((dest / "PROMOTED.json").read_text())["trial"] == "t003"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best", "t003"]  # no partial or old copies left
    assert promote_main(["--source", str(tmp_path / "missing"), "--dest", str(dest)]) == 3
    assert "no finished model" in capsys.readouterr().err


def test_promotion_never_replaces_a_folder_it_did_not_write(tmp_path, capsys):
    source = finished_model(tmp_path)
    dest = tmp_path / "results"
    dest.mkdir()
    (dest / "thesis.tex").write_text("years of work")
    assert promote_main(["--source", str(source), "--dest", str(dest), "--trial", "t003"]) == 1
    assert "Hyperprune did not write (no PROMOTED.json in it)" in capsys.readouterr().err
    assert [p.name for p in dest.iterdir()] == ["thesis.tex"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results", "t003"]
