"""`hyperprune lyapunov`: the demo command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from hyperprune.cli import main
from hyperprune.local.layout import Workdir
from hyperprune.lyapunov import lyapunov_spectrum
from hyperprune.spec import load_search


def run(capsys, *argv):
    code = main(["lyapunov", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("arch", ["lstm", "gru", "rnn_tanh", "rnn_relu", "rhn"])
def test_demo_prints_a_descending_spectrum(capsys, arch):
    code, out, err = run(capsys, "--arch", arch, "--hidden", "6", "--layers", "2", "--input-size", "3",
                         "--steps", "6", "--warmup", "2", "--batch", "2", "--json", "--device", "cpu", "--threads", "1")
    assert code == 0, err
    doc = json.loads(out)
    n = {"lstm": 24, "rhn": 6}.get(arch, 12)
    assert doc["n"] == n and doc["k"] == n and len(doc["exponents"]) == n
    assert doc["exponents"] == sorted(doc["exponents"], reverse=True)


def test_demo_matches_the_library(capsys):
    code, out, _ = run(capsys, "--arch", "gru", "--hidden", "5", "--layers", "1", "--input-size", "3", "--steps", "5",
                       "--warmup", "3", "--batch", "2", "--k", "3", "--seed", "4", "--json", "--device", "cpu")
    assert code == 0
    torch.manual_seed(4)
    gru = nn.GRU(3, 5, 1)
    x = torch.randn(8, 2, 3, generator=torch.Generator().manual_seed(4))
    expected = lyapunov_spectrum(gru, x, k=3, warmup=3, dtype=torch.float64, seed=4)
    assert json.loads(out)["exponents"] == pytest.approx(expected.tolist(), abs=1e-12)


def test_human_output_and_published_convention(capsys):
    code, out, _ = run(capsys, "--hidden", "4", "--layers", "1", "--input-size", "2", "--steps", "4", "--warmup", "1",
                       "--state", "hidden", "--convention", "published", "--top", "2", "--device", "cpu")
    assert code == 0
    assert "lstm 1 x 4: N = 4 state dimensions, 4 exponents (log2 per step)" in out
    assert "lambda_1" in out and "lambda_2" in out and "lambda_3" not in out
    assert "2 more" in out


def test_saved_module_file(capsys, tmp_path):
    torch.manual_seed(1)
    core = nn.LSTM(3, 4, 1)
    path = tmp_path / "core.pt"
    torch.save(core, path)
    code, out, err = run(capsys, "--model", str(path), "--steps", "4", "--warmup", "1", "--batch", "2", "--json", "--device", "cpu")
    assert code == 0, err
    assert json.loads(out)["n"] == 8


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--k", "99", "--hidden", "4", "--layers", "1"], "k=99 exceeds the state size N=8"),
        (["--steps", "0"], "--steps must be at least 1"),
        (["--model", "/nonexistent/model"], "does not exist"),
        (["--threads", "0"], "--threads must be at least 1"),
    ],
)
def test_errors_are_reported_not_raised(capsys, argv, match):
    code, out, err = run(capsys, *argv, "--device", "cpu")
    assert code == 2
    assert err.startswith("error: ") and match in err


def test_unloadable_model_file(capsys, tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"not": "a module"}, path)
    code, _, err = run(capsys, "--model", str(path), "--device", "cpu")
    assert code == 2 and "not a torch.nn.Module" in err


def test_the_help_names_a_model_folder_that_make_run_writes(capsys):
    repo = Path(__file__).resolve().parents[2]
    makefile = (repo / "Makefile").read_text()
    workdir = re.search(r"run examples/quickstart.yaml --workdir (\S+)", makefile).group(1)
    promoted = Workdir(Path(workdir)).output(load_search(repo / "examples" / "quickstart.yaml").spec.output.folder)
    with pytest.raises(SystemExit):
        main(["lyapunov", "--help"])
    assert f"--model {promoted} " in capsys.readouterr().out
