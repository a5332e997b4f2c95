"""The error raised for a model configuration that cannot be built. Torch-free."""

from __future__ import annotations


class ModelConfigError(ValueError):
    """A model setting that cannot be built; ``field`` is its path as written in a trial config
    (camelCase, e.g. ``model.tieWeights``) and the message starts with it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")
