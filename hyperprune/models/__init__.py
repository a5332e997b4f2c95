"""Recurrent cores and the models built on them (see docs/architecture.md, "Models contract").

Every model has ``.core`` (a ``torch.nn.RNN/GRU/LSTM`` with ``batch_first=False`` or an
:class:`~hyperprune.models.rhn.RHN`) and ``core_inputs(x)``, the exact inputs the core sees.
"""

from hyperprune.models.build import build_model
from hyperprune.models.classifier import SequenceClassifier
from hyperprune.models.cores import CORE_ARCHS, build_core, detach_state, zero_state
from hyperprune.models.errors import ModelConfigError
from hyperprune.models.language_model import LanguageModel

__all__ = [
    "CORE_ARCHS",
    "LanguageModel",
    "ModelConfigError",
    "SequenceClassifier",
    "build_core",
    "build_model",
    "detach_state",
    "zero_state",
]
