"""The recurrent layers of any model: what pruning masks and what the spectrum is computed on.

A built-in model has one, ``core``; a task's own model may hold several (an encoder and a decoder,
two stacked ``nn.LSTM`` modules with dropout between them, ...). ``recurrent_layers(model)`` finds
every ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` and Hyperprune ``RHN`` in it, or the ones a task names,
and refuses what pruning and the Lyapunov engine cannot treat exactly, naming the layer.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from hyperprune.models.rhn import RHN

RECURRENT_TYPES: tuple[type[nn.Module], ...] = (nn.RNN, nn.GRU, nn.LSTM, RHN)
CELL_TYPES: tuple[type[nn.Module], ...] = (nn.RNNCell, nn.GRUCell, nn.LSTMCell)


class RecurrentLayerError(ValueError):
    """A model without a recurrent layer Hyperprune can treat, or a named layer that is not one."""


@dataclass(frozen=True, eq=False)
class RecurrentLayer:
    path: str  # the module's name in the model ("core", "encoder.rnn"; "" when the model is the layer)
    module: nn.Module

    def parameter_name(self, name: str) -> str:
        """The model-level name of one of the layer's parameters: ``encoder.rnn.weight_hh_l0``."""
        return f"{self.path}.{name}" if self.path else name

    @property
    def label(self) -> str:
        return repr(self.path) if self.path else "the model itself"


def unsupported(module: nn.Module) -> str | None:
    """Why pruning and the spectrum cannot treat this recurrent module exactly, or None."""
    if isinstance(module, nn.RNNBase):
        kind = type(module).__name__
        if module.bidirectional:
            return (
                f"is a bidirectional {kind}: its backward direction reads the future, so it is not a causal "
                "recurrent map and has no Lyapunov spectrum; use bidirectional=False (or leave it out of "
                "task.recurrentLayers)"
            )
        if getattr(module, "proj_size", 0):
            return f"is an {kind} with proj_size={module.proj_size}, which the Lyapunov engine does not model; use proj_size=0"
    return None


def recurrent_layers(model: nn.Module, names: list[str] | None = None) -> list[RecurrentLayer]:
    """The recurrent layers of ``model`` in registration order: all of them, or those ``names``
    lists (module paths). Raises ``RecurrentLayerError`` naming the problem and the layer."""
    found = [RecurrentLayer(path, m) for path, m in model.named_modules() if isinstance(m, RECURRENT_TYPES)]
    if names is None:
        chosen = found
        if not chosen:
            cells = [path for path, m in model.named_modules() if isinstance(m, CELL_TYPES)]
            hint = (
                f" (it holds cells, {', '.join(map(repr, cells))}, stepped one time step at a time: use nn.RNN/GRU/LSTM "
                "over the whole sequence instead)"
                if cells
                else ""
            )
            raise RecurrentLayerError(
                f"the model ({type(model).__name__}) holds no recurrent layer: nn.RNN, nn.GRU, nn.LSTM or "
                f"hyperprune.models.rhn.RHN{hint}"
            )
    else:
        by_path = {layer.path: layer for layer in found}
        chosen = []
        for name in names:
            if name not in by_path:
                try:
                    module = model.get_submodule(name)
                    problem = f"is a {type(module).__name__}, not nn.RNN, nn.GRU, nn.LSTM or RHN"
                except AttributeError:
                    problem = "is not a module of the model"
                known = ", ".join(repr(layer.path) for layer in found) or "none"
                raise RecurrentLayerError(f"{name!r} {problem} (its recurrent layers: {known})")
            chosen.append(by_path[name])
    for layer in chosen:
        why = unsupported(layer.module)
        if why:
            raise RecurrentLayerError(f"recurrent layer {layer.label} {why}")
    return chosen
