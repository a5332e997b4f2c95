"""The deployable form of a trained model: what pruning saves, made physical.

``compact_export(model, masks, model_spec)`` turns a (masked) Hyperprune model into a ``Compact``:
the architecture (``architecture.json``) and the weights (``weights.pt``) that
``hyperprune.deploy.standalone`` loads with torch alone, in the smallest exact form it knows:

- **smaller-dense** when the masks remove whole hidden units and nothing else (ISS): the units' rows,
  recurrent columns, next-layer columns, biases and decoder / head columns are deleted. Exact because
  a removed unit is dead (no weight, no bias: from a zero state it outputs exactly 0;
  ``hyperprune.pruning.iss``);
- **packed-mask** for any other masks (unstructured pruning): each masked matrix as its mask packed 8
  per byte plus its kept values;
- **dense** without masks (the dense reference).

``write_compact(compact, folder)`` writes it, with ``load.py`` (the standalone loader's source).
An RHN has no standard torch module: the loader carries a small one (``HighwayCore``), and its
structured winner is exported as packed-mask.
"""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from hyperprune.contract.efficiency import ExportFormat
from hyperprune.deploy import standalone
from hyperprune.deploy.standalone import ARCHITECTURE_FILE, WEIGHTS_FILE
from hyperprune.models.cores import core_hidden_size, core_num_layers
from hyperprune.models.rhn import RHN
from hyperprune.pruning.iss import unit_layers, unit_masks
from hyperprune.pruning.targets import prunable_matrices

COMPACT_DIR = "compact"  # inside a model folder (DIR/model/compact)
LOADER_FILE = "load.py"


@dataclass
class Compact:
    """A model in its exported form."""

    format: ExportFormat
    architecture: dict[str, Any]  # architecture.json
    weights: dict[str, Any]  # weights.pt: {"dense": {name: tensor}, "packed": {name: {shape, bits, values}}}

    @property
    def hidden_sizes(self) -> list[int]:
        return list(self.architecture["hiddenSizes"])

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        torch.save(self.weights, buffer)
        return buffer.getvalue()

    def state_dict(self) -> dict[str, Tensor]:
        """The standalone model's state dict (packed matrices unpacked)."""
        state = standalone.state_dict_of(self.weights)
        if self.architecture.get("tied"):
            state["decoder.weight"] = state["embedding.weight"]
        return state

    def module(self) -> standalone.CompactModel:
        """The standalone model with these weights, in eval mode on the CPU."""
        model = standalone.CompactModel(self.architecture)
        model.load_state_dict(self.state_dict())
        return model.eval()


def core_of(model: nn.Module) -> nn.Module:
    """The recurrent core of a Hyperprune model (``hyperprune.models.build_model``), the only layout
    the export knows; a task's own model is not exported (``hyperprune.trial.export``)."""
    core = getattr(model, "core", None)
    if not isinstance(core, (nn.RNNBase, RHN)):
        raise TypeError(f"the compact export needs a Hyperprune model with a recurrent .core, not {type(model).__name__}")
    return core


def removed_units(model: nn.Module, masks: dict[str, Tensor]) -> list[Tensor] | None:
    """Per layer, the hidden units the masks remove whole (bool [H]), when the masks remove whole
    units and nothing else and those units' biases are zero; None otherwise (no masks, other zeros,
    an RHN, live biases)."""
    core = core_of(model)
    if isinstance(core, RHN) or not isinstance(core, nn.RNNBase) or not masks:
        return None
    matrices = prunable_matrices(model)
    if any(m.name not in masks for m in matrices):
        return None
    layers = unit_layers(matrices, rhn=False)
    removed = []
    for layer in layers:
        rows_alive = torch.zeros(layer.hidden, dtype=torch.bool)
        for m in layer.row_matrices:
            rows_alive |= masks[m.name].detach().cpu().bool().view(m.gates, m.hidden, -1).any(dim=2).any(dim=0)
        removed.append(~rows_alive)
    if not any(bool(r.any()) for r in removed):
        return None
    expected = unit_masks(matrices, layers, removed)
    if any(not torch.equal(expected[m.name], masks[m.name].detach().cpu().bool()) for m in matrices):
        return None
    params = dict(model.named_parameters())
    for l, flags in enumerate(removed):
        for name in (f"core.bias_ih_l{l}", f"core.bias_hh_l{l}"):
            bias = params.get(name)
            if bias is not None and torch.count_nonzero(bias.detach().cpu().view(-1, flags.numel())[:, flags]):
                return None
    return removed


def compact_export(model: nn.Module, masks: dict[str, Tensor], model_spec: dict[str, Any]) -> Compact:
    """The smallest exact export of ``model`` with ``masks`` applied (see the module docstring)."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    for name, mask in masks.items():
        state[name] = state[name] * mask.detach().cpu().to(state[name].dtype)
    arch = _architecture(model, model_spec)
    removed = removed_units(model, masks)
    if removed is not None:
        return _smaller_dense(model, state, arch, removed)
    weights: dict[str, Any] = {"dense": {}, "packed": {}}
    for name, tensor in state.items():
        if arch.get("tied") and name == "decoder.weight":
            continue
        if name in masks and bool((~masks[name].bool()).any()):
            weights["packed"][name] = pack(tensor, masks[name])
        else:
            weights["dense"][name] = tensor
    if not weights["packed"]:
        return Compact("dense", arch, {"dense": weights["dense"]})
    return Compact("packed-mask", {**arch, "format": "packed-mask"}, weights)


def pack(tensor: Tensor, mask: Tensor) -> dict[str, Any]:
    """A masked matrix as {shape, bits (uint8, 8 mask bits per byte, MSB first), values (kept entries)}."""
    flat = mask.detach().cpu().bool().flatten()
    padded = torch.zeros((flat.numel() + 7) // 8 * 8, dtype=torch.uint8)
    padded[: flat.numel()] = flat.to(torch.uint8)
    weights = (2 ** torch.arange(7, -1, -1)).to(torch.uint8)
    bits = (padded.view(-1, 8) * weights).sum(dim=1).to(torch.uint8)
    return {"shape": list(tensor.shape), "bits": bits, "values": tensor.flatten()[flat].clone()}


def write_compact(compact: Compact, folder: Path) -> Path:
    """Write ``folder`` (replaced whole): architecture.json, weights.pt, load.py."""
    folder = Path(folder)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / ARCHITECTURE_FILE).write_text(json.dumps(compact.architecture, indent=2) + "\n")
    (folder / WEIGHTS_FILE).write_bytes(compact.to_bytes())
    shutil.copyfile(standalone.__file__, folder / LOADER_FILE)
    return folder


# ---- building ---------------------------------------------------------------------------------------


def _architecture(model: nn.Module, model_spec: dict[str, Any]) -> dict[str, Any]:
    core = core_of(model)
    if isinstance(core, RHN):
        kind = "rhn"
    elif isinstance(core, nn.LSTM):
        kind = "lstm"
    elif isinstance(core, nn.GRU):
        kind = "gru"
    elif isinstance(core, nn.RNN):
        kind = f"rnn_{core.nonlinearity}"
    else:
        raise TypeError(f"not a recurrent core: {type(core).__name__}")
    arch: dict[str, Any] = {
        "format": "dense",
        "task": model_spec["task"],
        "core": kind,
        "inputSize": int(core.input_size),
        "hiddenSizes": [core_hidden_size(core)] * core_num_layers(core),
    }
    if isinstance(core, RHN):
        arch["rhnDepth"] = core.depth
    if model_spec["task"] == "language_model":
        arch["vocabSize"] = model_spec["vocab_size"]
        arch["tied"] = bool(getattr(model, "tie_weights", False))
    else:
        arch["numClasses"] = model_spec["num_classes"]
    return arch


def _smaller_dense(model: nn.Module, state: dict[str, Tensor], arch: dict[str, Any], removed: list[Tensor]) -> Compact:
    core = core_of(model)
    assert isinstance(core, nn.RNNBase)  # removed_units found whole units of a torch core
    gates = len(state["core.weight_ih_l0"]) // core.hidden_size
    kept = [(~flags).nonzero().flatten() for flags in removed]
    sizes = [int(k.numel()) for k in kept]
    stacked = len(set(sizes)) > 1
    out: dict[str, Tensor] = {}
    for l, k in enumerate(kept):
        prefix = f"core.layers.{l}." if stacked else "core."
        suffix = "_l0" if stacked else f"_l{l}"
        w_ih = _rows(state[f"core.weight_ih_l{l}"], gates, k)
        out[f"{prefix}weight_ih{suffix}"] = w_ih[:, kept[l - 1]] if l > 0 else w_ih
        out[f"{prefix}weight_hh{suffix}"] = _rows(state[f"core.weight_hh_l{l}"], gates, k)[:, k]
        for bias in ("bias_ih", "bias_hh"):
            if f"core.{bias}_l{l}" in state:
                out[f"{prefix}{bias}{suffix}"] = state[f"core.{bias}_l{l}"].view(gates, -1)[:, k].reshape(-1).clone()
    last = kept[-1]
    head = "decoder" if arch["task"] == "language_model" else "head"
    out[f"{head}.weight"] = state[f"{head}.weight"][:, last].clone()
    out[f"{head}.bias"] = state[f"{head}.bias"].clone()
    if "embedding.weight" in state:
        out["embedding.weight"] = state["embedding.weight"]
    arch = {**arch, "format": "smaller-dense", "hiddenSizes": sizes}
    if "tied" in arch:  # tied weights cannot stay tied once the decoder loses columns the embedding keeps
        arch["tied"] = False
    return Compact("smaller-dense", arch, {"dense": out})


def _rows(matrix: Tensor, gates: int, kept: Tensor) -> Tensor:
    """The rows of the kept units in every gate block of a packed [gates * H, C] matrix."""
    return matrix.view(gates, -1, matrix.shape[1])[:, kept, :].reshape(-1, matrix.shape[1]).clone()
