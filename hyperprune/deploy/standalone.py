"""Load a model Hyperprune exported, with torch alone: ``model = load("best/compact")``.

Hyperprune copies this file into every export (``compact/load.py``), so a deployment needs neither
Hyperprune nor its configuration, only torch (and this file, or its few lines read as a recipe):

    import runpy
    load = runpy.run_path("best/compact/load.py")["load"]
    model = load("best/compact")                      # eval mode, on the CPU; load(path, "cuda")
    logits, state = model(tokens)                     # language model: tokens [T, B] -> [T, B, V]
    logits = model(features)                          # classifier: features [T, B, F] -> [B, C]

The folder holds ``architecture.json`` (what to build) and ``weights.pt`` (a dict of tensors, loaded
with ``weights_only=True``). Its ``format`` is one of:

- ``dense``: plain weights (the dense reference, or a model no pruning made smaller);
- ``smaller-dense``: structured (ISS) pruning's winner with its removed hidden units deleted: standard
  ``nn.LSTM``/``nn.GRU``/``nn.RNN`` layers with fewer units (one module when every layer keeps the same
  number, else one per layer);
- ``packed-mask``: unstructured pruning's winner: each pruned matrix as its mask packed 8 per byte
  (most significant bit first, row-major) and its kept values in the same order; unpacked here into
  dense tensors (exact zeros where pruned) for torch's standard kernels.

Outputs equal those of the masked model Hyperprune trained, from a zero state (tested to 1e-6).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

ARCHITECTURE_FILE = "architecture.json"
WEIGHTS_FILE = "weights.pt"
CORE_TYPES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn_tanh": nn.RNN, "rnn_relu": nn.RNN}


class HighwayCore(nn.Module):
    """A recurrent highway network (Zilly et al. 2017) with coupled carry gate, in inference form:
    ``depth`` micro-steps per time step, the input entering the first; parameters ``weight_ih``
    [2H, I], ``weight_hh_{d}`` [2H, H], ``bias_{d}`` [2H] (candidate rows first, then transform)."""

    def __init__(self, input_size: int, hidden: int, depth: int) -> None:
        super().__init__()
        self.hidden_size = hidden
        self.depth = depth
        self.weight_ih = nn.Parameter(torch.zeros(2 * hidden, input_size))
        for d in range(depth):
            self.register_parameter(f"weight_hh_{d}", nn.Parameter(torch.zeros(2 * hidden, hidden)))
            self.register_parameter(f"bias_{d}", nn.Parameter(torch.zeros(2 * hidden)))

    def forward(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        s = x.new_zeros(x.shape[1], self.hidden_size) if state is None else state
        inputs = x @ self.weight_ih.t()
        outputs = []
        for u in inputs:
            for d in range(self.depth):
                a = torch.addmm(getattr(self, f"bias_{d}"), s, getattr(self, f"weight_hh_{d}").t())
                if d == 0:
                    a = a + u
                h, t = torch.tanh(a[:, : self.hidden_size]), torch.sigmoid(a[:, self.hidden_size :])
                s = s + t * (h - s)
            outputs.append(s)
        return torch.stack(outputs), s


def make_core(arch: str, input_size: int, hidden: int, num_layers: int = 1, depth: int = 1) -> nn.Module:
    if arch == "rhn":
        return HighwayCore(input_size, hidden, depth)
    kwargs: dict[str, Any] = {"num_layers": num_layers}
    if arch.startswith("rnn_"):
        kwargs["nonlinearity"] = arch.removeprefix("rnn_")
    return CORE_TYPES[arch](input_size, hidden, **kwargs)


class LayerStack(nn.Module):
    """Single-layer recurrent modules of different sizes, run one after the other. The state is a list
    with one entry per layer, each shaped as its module's own state."""

    def __init__(self, arch: str, input_size: int, sizes: list[int]) -> None:
        super().__init__()
        inputs = [input_size] + sizes[:-1]
        self.layers = nn.ModuleList(make_core(arch, i, h) for i, h in zip(inputs, sizes))

    def forward(self, x: Tensor, state: list[Any] | None = None) -> tuple[Tensor, list[Any]]:
        states = []
        for i, layer in enumerate(self.layers):
            x, s = layer(x, None if state is None else state[i])
            states.append(s)
        return x, states


class CompactModel(nn.Module):
    """A language model (embedding -> core -> decoder) or a sequence classifier (core -> head on the
    last step), built from ``architecture.json``."""

    def __init__(self, arch: dict[str, Any]) -> None:
        super().__init__()
        self.task = arch["task"]
        sizes = list(arch["hiddenSizes"])
        core = arch["core"]
        if self.task == "language_model":
            self.embedding = nn.Embedding(arch["vocabSize"], arch["inputSize"])
        if len(set(sizes)) == 1:
            self.core: nn.Module = make_core(core, arch["inputSize"], sizes[0], len(sizes), arch.get("rhnDepth", 1))
        else:
            self.core = LayerStack(core, arch["inputSize"], sizes)
        if self.task == "language_model":
            self.decoder = nn.Linear(sizes[-1], arch["vocabSize"])
            if arch.get("tied"):
                self.decoder.weight = self.embedding.weight
        else:
            self.head = nn.Linear(sizes[-1], arch["numClasses"])

    def forward(self, x: Tensor, state: Any = None) -> Any:
        if self.task == "language_model":
            out, state = self.core(self.embedding(x), state)
            return self.decoder(out), state
        out, _ = self.core(x.to(self.head.weight.dtype), state)
        return self.head(out[-1])


def unpack(entry: dict[str, Any]) -> Tensor:
    """A packed matrix back to a dense tensor with exact zeros where it was pruned."""
    shape = [int(n) for n in entry["shape"]]
    count = 1
    for n in shape:
        count *= n
    shifts = torch.arange(7, -1, -1, dtype=torch.uint8)
    bits = entry["bits"].to(torch.uint8)
    mask = ((bits.unsqueeze(1) >> shifts) & 1).flatten()[:count].bool()
    values = entry["values"]
    dense = torch.zeros(count, dtype=values.dtype)
    dense[mask] = values
    return dense.view(shape)


def state_dict_of(weights: dict[str, Any]) -> dict[str, Tensor]:
    """The model's state dict from ``weights.pt``: dense tensors as they are, packed ones unpacked."""
    state = dict(weights.get("dense", {}))
    for name, entry in weights.get("packed", {}).items():
        state[name] = unpack(entry)
    return state


def load(folder: str | Path, device: str | torch.device = "cpu") -> CompactModel:
    folder = Path(folder)
    arch = json.loads((folder / ARCHITECTURE_FILE).read_text())
    model = CompactModel(arch)
    weights = torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    state = state_dict_of(weights)
    if arch.get("tied"):
        state["decoder.weight"] = state["embedding.weight"]
    model.load_state_dict(state)
    return model.to(device).eval()
