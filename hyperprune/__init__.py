"""Hyperprune: find the best pruned variant of a recurrent network using the Lyapunov spectrum.

Importing this package (and its torch-free parts: spec, policy, pruning catalogue, trial config)
never imports torch, so the operator image can stay slim.
"""

__version__ = "0.1.0"
