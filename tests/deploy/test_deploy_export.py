"""The deployable export of a trained model: an ISS winner becomes a smaller standard nn.LSTM/GRU/RNN,
an unstructured one packed masks with its kept values, both loadable with torch alone (the folder's
load.py, Hyperprune not importable) and giving the masked model's outputs to 1e-6."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hyperprune.contract.pruning import parse_pruning_config
from hyperprune.contract.trial import ModelConfig
from hyperprune.contract.units import pruned_weight_count, unit_layers
from hyperprune.deploy import compact_export, measure, removed_units, write_compact
from hyperprune.deploy.kernels import sparse_variant
from hyperprune.models import build_model
from hyperprune.pruning import build_pruner
from hyperprune.pruning.targets import prunable_matrices, total_weights

VOCAB, FEATURES, CLASSES = 23, 5, 4
TOLERANCE = 1e-6


def lm(arch: str, hidden: int = 12, layers: int = 2, tied: bool = False):
    cfg = ModelConfig(arch=arch, hidden_size=hidden, num_layers=layers, rhn_depth=2, tie_weights=tied)
    return build_model(cfg, vocab_size=VOCAB, seed=3), {"task": "language_model", "vocab_size": VOCAB}


def classifier(arch: str, hidden: int = 12, layers: int = 2):
    cfg = ModelConfig(arch=arch, hidden_size=hidden, num_layers=layers, rhn_depth=2)
    model = build_model(cfg, num_classes=CLASSES, input_size=FEATURES, seed=3)
    return model, {"task": "classification", "num_classes": CLASSES, "input_size": FEATURES}


def iss_pruned(model, units: list[int]):
    """``model`` with ``units[l]`` hidden units of layer l removed by the ISS pruner (its masks)."""
    matrices = prunable_matrices(model)
    rhn = model.core.__class__.__name__ == "RHN"
    sparsity = round(pruned_weight_count(matrices, unit_layers(matrices, rhn), units) / total_weights(matrices), 4)
    config = parse_pruning_config({"method": "iss", "sparsity": sparsity, "params": {"pruneEpoch": 1, "groupLasso": 0.0}})
    pruner = build_pruner(model, config, steps_per_epoch=1, total_epochs=2, seed=0)
    pruner.before_training()
    pruner.on_epoch_end(1)
    assert [int(r.sum()) for r in pruner.removed_units()] == units
    return pruner.masks()


def randomly_pruned(model, sparsity: float = 0.8):
    pruner = build_pruner(model, parse_pruning_config({"method": "random", "sparsity": sparsity}),
                          steps_per_epoch=1, total_epochs=1, seed=0)
    pruner.before_training()
    return pruner.masks()


def inputs(spec: dict, steps: int = 9, batch: int = 3) -> torch.Tensor:
    gen = torch.Generator().manual_seed(7)
    if spec["task"] == "language_model":
        return torch.randint(0, VOCAB, (steps, batch), generator=gen)
    return torch.randn(steps, batch, FEATURES, generator=gen)


def output(result) -> torch.Tensor:
    return result[0] if isinstance(result, tuple) else result


def load_without_hyperprune(folder: Path, x: torch.Tensor, tmp_path: Path) -> torch.Tensor:
    """Load the export in a fresh interpreter where importing Hyperprune fails, run it on ``x``."""
    torch.save(x, tmp_path / "x.pt")
    script = (
        "import runpy, sys, torch\n"
        "sys.modules['hyperprune'] = None  # any import of Hyperprune now raises\n"
        f"load = runpy.run_path({str(folder / 'load.py')!r})['load']\n"
        f"model = load({str(folder)!r})\n"
        f"x = torch.load({str(tmp_path / 'x.pt')!r})\n"
        "with torch.no_grad():\n"
        "    out = model(x)\n"
        f"torch.save(out[0] if isinstance(out, tuple) else out, {str(tmp_path / 'out.pt')!r})\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    return torch.load(tmp_path / "out.pt")


def masked_output(model, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return output(model(x))


@pytest.mark.parametrize(
    "make,arch,units",
    [(lm, "lstm", [3, 5]), (lm, "gru", [4, 4]), (classifier, "rnn_tanh", [2, 6]), (classifier, "lstm", [6, 3])],
    ids=["lm-lstm-uneven", "lm-gru-even", "clf-rnn-uneven", "clf-lstm-uneven"],
)
def test_an_iss_winner_is_a_smaller_standard_network_with_the_same_outputs(make, arch, units, tmp_path):
    model, spec = make(arch)
    masks = iss_pruned(model, units)
    compact = compact_export(model, masks, spec)

    assert compact.format == "smaller-dense"
    assert compact.hidden_sizes == [12 - u for u in units]
    standalone = compact.module()
    cores = [standalone.core] if len(set(compact.hidden_sizes)) == 1 else list(standalone.core.layers)
    assert all(type(core) in (torch.nn.LSTM, torch.nn.GRU, torch.nn.RNN) for core in cores)
    assert [core.hidden_size for core in cores] == (compact.hidden_sizes if len(cores) > 1 else [compact.hidden_sizes[0]])

    x = inputs(spec)
    expected = masked_output(model, x)
    assert torch.allclose(output(standalone(x)), expected, rtol=0, atol=TOLERANCE)
    folder = write_compact(compact, tmp_path / "compact")
    assert json.loads((folder / "architecture.json").read_text())["format"] == "smaller-dense"
    assert torch.allclose(load_without_hyperprune(folder, x, tmp_path), expected, rtol=0, atol=TOLERANCE)


def test_a_tied_language_model_loses_its_tie_when_its_units_go_but_keeps_its_outputs():
    model, spec = lm("lstm", layers=1, tied=True)
    masks = iss_pruned(model, [4])
    compact = compact_export(model, masks, spec)
    assert compact.format == "smaller-dense" and compact.architecture["tied"] is False
    x = inputs(spec)
    assert torch.allclose(output(compact.module()(x)), masked_output(model, x), rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("arch", ["lstm", "rhn"])
def test_an_unstructured_winner_is_packed_masks_smaller_on_disk_with_the_same_outputs(arch, tmp_path):
    model, spec = lm(arch, hidden=32, layers=1 if arch == "rhn" else 2, tied=arch == "lstm")
    masks = randomly_pruned(model)
    assert removed_units(model, masks) is None
    compact = compact_export(model, masks, spec)

    assert compact.format == "packed-mask"
    assert compact.hidden_sizes == [32] * (1 if arch == "rhn" else 2)
    efficiency = measure(model, compact, torch.device("cpu"), masked=True, timing=False)
    assert efficiency.export_bytes < efficiency.dense_bytes
    core_weights = sum(int(m.numel()) for m in masks.values())
    kept = sum(int(m.sum()) for m in masks.values())
    assert efficiency.parameters - efficiency.nonzero_parameters >= core_weights - kept
    assert efficiency.flops_per_step < efficiency.dense_flops_per_step

    x = inputs(spec)
    expected = masked_output(model, x)
    folder = write_compact(compact, tmp_path / "compact")
    assert efficiency.export_bytes == (folder / "weights.pt").stat().st_size
    assert torch.allclose(load_without_hyperprune(folder, x, tmp_path), expected, rtol=0, atol=TOLERANCE)


def test_an_rhn_iss_winner_is_exported_packed_because_torch_has_no_highway_module():
    model, spec = lm("rhn", layers=1)
    masks = iss_pruned(model, [5])
    compact = compact_export(model, masks, spec)
    assert compact.format == "packed-mask"
    x = inputs(spec)
    assert torch.allclose(output(compact.module()(x)), masked_output(model, x), rtol=0, atol=TOLERANCE)


def test_the_dense_reference_exports_plain_weights_and_is_measured_with_the_dense_kernel():
    model, spec = classifier("gru")
    compact = compact_export(model, {}, spec)
    assert compact.format == "dense"
    efficiency = measure(model, compact, torch.device("cpu"), masked=False, budget_seconds=0.01)
    assert efficiency.nonzero_parameters == efficiency.parameters == sum(p.numel() for p in model.parameters())
    assert efficiency.flops_per_step == efficiency.dense_flops_per_step
    assert [t.kernel for t in efficiency.timings] == ["dense"]
    assert all(t.latency_ms > 0 and t.tokens_per_second > 0 for t in efficiency.timings)
    x = inputs(spec)
    assert torch.allclose(output(compact.module()(x)), masked_output(model, x), rtol=0, atol=TOLERANCE)


def test_iss_efficiency_counts_the_smaller_network_and_times_it_beside_the_masked_one():
    model, spec = lm("lstm")
    masks = iss_pruned(model, [6, 6])
    compact = compact_export(model, masks, spec)
    efficiency = measure(model, compact, torch.device("cpu"), masked=True, budget_seconds=0.01)
    assert efficiency.hidden_sizes == [6, 6]
    assert efficiency.nonzero_parameters <= sum(t.numel() for t in compact.state_dict().values())
    assert efficiency.export_bytes < efficiency.dense_bytes
    assert [t.kernel for t in efficiency.timings] == ["dense-with-zeros", "smaller-dense"]
    assert efficiency.cost("nonzero-params") == efficiency.nonzero_parameters
    assert efficiency.cost("latency") == min(t.latency_ms for t in efficiency.timings)


@pytest.mark.parametrize("arch", ["lstm", "gru", "rnn_relu"])
def test_the_sparse_kernel_computes_what_the_dense_one_does(arch):
    model, spec = lm(arch)
    randomly_pruned(model, 0.7)
    x = inputs(spec)
    expected = masked_output(model, x)
    assert torch.allclose(output(sparse_variant(model)(x)), expected, rtol=0, atol=1e-5)
