"""The trial runtime: what one candidate (a trial pod, or a local process) does.

``config`` and ``report`` are torch-free (the operator reads and writes them); the training loop is
in ``runtime`` and needs torch.
"""
