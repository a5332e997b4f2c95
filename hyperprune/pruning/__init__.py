"""The pruning methods of the catalogue, as masks on a model's recurrent core. Needs torch.

The catalogue itself (method names and typed settings) is part of the contract,
``hyperprune.contract.pruning``; ``build_pruner`` turns one of its settings into the ``Pruner`` the
training loop drives.
"""

from hyperprune.pruning.base import Pruner
from hyperprune.pruning.build import build_pruner

__all__ = ["Pruner", "build_pruner"]
