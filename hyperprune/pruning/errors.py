"""The error raised for pruning settings that cannot be run on a model or schedule. Torch-free."""

from __future__ import annotations


class PruningConfigError(ValueError):
    """A pruning setting that cannot be honoured; ``field`` is its path as written in a trial config
    (camelCase, e.g. ``pruning.params.pruneEpoch``) and the message starts with it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")
