"""Pruning catalogue (torch-free names and settings) and its implementations (torch).

Import ``hyperprune.pruning.catalog`` for names and typed settings; the torch implementations are
imported from their own modules so that this package stays importable without torch.
"""

from hyperprune.pruning.catalog import METHODS, PruningConfig, method_names

__all__ = ["METHODS", "PruningConfig", "method_names"]
