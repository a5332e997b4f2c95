"""Which sparsities ISS can reach: whole hidden units, counted without torch. Part of the contract:
the ISS pruner (hyperprune.pruning.iss) plans its removal with these functions on the model's
matrices, and the spec checks a search's ISS sparsities with them on the matrices the model
config describes (``core_matrices``), before any trial is built.

An Intrinsic Sparse Structure is everything tied to one hidden unit of a recurrent layer: its rows
in every gate of the layer's input and recurrent matrices, its column in the layer's recurrent
matrix and in the next layer's input matrix (an RHN: its rows in W and every R_d, its column in
every R_d). Removing k units of a layer masks an exact number of weights, whichever units they are.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from hyperprune.contract.trial import ModelConfig

SPARSITY_TOLERANCE = 0.005  # how far the planned sparsity may be from the target
NEIGHBOURHOOD = 3  # units per layer searched around the even split (kept small: (2n+1)^layers combinations)
GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1, "rhn": 2}


class Matrix(Protocol):
    """A weight matrix of the core, gate blocks stacked row-wise: what the unit count needs of it."""

    @property
    def gates(self) -> int: ...

    @property
    def hidden(self) -> int: ...

    @property
    def recurrent(self) -> bool: ...

    @property
    def shape(self) -> tuple[int, int]: ...


M = TypeVar("M", bound=Matrix)


@dataclass(frozen=True)
class MatrixShape:
    """A core matrix as the model config describes it (no weights)."""

    name: str
    gates: int
    rows: int
    cols: int
    recurrent: bool

    @property
    def hidden(self) -> int:
        return self.rows // self.gates

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows, self.cols


def core_matrices(model: ModelConfig, input_size: int) -> list[MatrixShape]:
    """The recurrent core's weight matrices in the order the pruners see them (input-to-hidden
    before hidden-to-hidden, layer by layer; an RHN's W, then R_0 ... R_{D-1})."""
    g, h = GATES[model.arch], model.hidden_size
    if model.arch == "rhn":
        return [MatrixShape("core.weight_ih", g, g * h, input_size, False)] + [
            MatrixShape(f"core.weight_hh_{d}", g, g * h, h, True) for d in range(model.rhn_depth)
        ]
    out = []
    for layer in range(model.num_layers):
        out.append(MatrixShape(f"core.weight_ih_l{layer}", g, g * h, input_size if layer == 0 else h, False))
        out.append(MatrixShape(f"core.weight_hh_l{layer}", g, g * h, h, True))
    return out


@dataclass(frozen=True)
class UnitLayer(Generic[M]):
    """Where the units of one recurrent layer live: matrices whose gate rows compute them and
    matrices whose columns read them."""

    hidden: int
    row_matrices: list[M]
    column_matrices: list[M]


def unit_layers(matrices: list[M], rhn: bool) -> list[UnitLayer[M]]:
    if rhn:
        return [UnitLayer(matrices[0].hidden, list(matrices), [m for m in matrices if m.recurrent])]
    layers = []
    count = len(matrices) // 2
    for index in range(count):
        w_ih, w_hh = matrices[2 * index], matrices[2 * index + 1]
        readers = [w_hh] + ([matrices[2 * (index + 1)]] if index + 1 < count else [])
        layers.append(UnitLayer(w_hh.hidden, [w_ih, w_hh], readers))
    return layers


def _weights(matrices: Iterable[Matrix]) -> int:
    return sum(m.shape[0] * m.shape[1] for m in matrices)


def pruned_weight_count(matrices: list[M], layers: list[UnitLayer[M]], counts: list[int]) -> int:
    """Exact number of weights masked when layer l loses ``counts[l]`` units (which ones does not
    matter): rows + columns - their overlap, per matrix."""
    rows = {id(m): 0 for m in matrices}
    cols = {id(m): 0 for m in matrices}
    for layer, k in zip(layers, counts):
        for m in layer.row_matrices:
            rows[id(m)] = k
        for m in layer.column_matrices:
            cols[id(m)] = k
    total = 0
    for m in matrices:
        r, c = rows[id(m)] * m.gates, cols[id(m)]
        total += r * m.shape[1] + c * m.shape[0] - r * c
    return total


def units_to_remove(matrices: list[M], layers: list[UnitLayer[M]], sparsity: float) -> tuple[list[int], float]:
    """Units removed per layer whose realised sparsity is closest to ``sparsity``: the same fraction
    of every layer (bisection on it), then every combination within +-NEIGHBOURHOOD units of it per
    layer (the closest wins; among equals, the most even split). Each layer keeps one unit."""
    n = _weights(matrices)

    def realised(counts: list[int]) -> float:
        return pruned_weight_count(matrices, layers, counts) / n

    def at_fraction(f: float) -> list[int]:
        return [min(round(f * layer.hidden), layer.hidden - 1) for layer in layers]

    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if realised(at_fraction(mid)) < sparsity else (lo, mid)
    base = at_fraction(lo)
    ranges = [
        range(max(0, k - NEIGHBOURHOOD), min(layer.hidden - 1, k + NEIGHBOURHOOD) + 1) for k, layer in zip(base, layers)
    ]

    def badness(counts: Iterable[int]) -> tuple[float, float]:
        units = list(counts)
        fractions = [k / layer.hidden for k, layer in zip(units, layers)]
        return abs(realised(units) - sparsity), max(fractions) - min(fractions)

    best = list(min(itertools.product(*ranges), key=badness))
    return best, realised(best)


def unreachable(matrices: list[M], rhn: bool, sparsity: float) -> str | None:
    """Why ISS cannot prune these matrices to ``sparsity`` (within SPARSITY_TOLERANCE), or None."""
    layers = unit_layers(matrices, rhn)
    _, planned = units_to_remove(matrices, layers, sparsity)
    return reach_problem(layers, planned, sparsity)


def reach_problem(layers: list[UnitLayer[M]], planned: float, sparsity: float) -> str | None:
    """Why a plan that reaches ``planned`` cannot stand for ``sparsity``, or None."""
    if abs(planned - sparsity) <= SPARSITY_TOLERANCE:
        return None
    sizes = ", ".join(str(layer.hidden) for layer in layers)
    return (
        f"ISS removes whole hidden units; with hidden sizes [{sizes}] the nearest reachable sparsity is "
        f"{planned:.4f}, more than {SPARSITY_TOLERANCE} from {sparsity} "
        "(each layer keeps at least one unit); use larger layers or a reachable sparsity"
    )
