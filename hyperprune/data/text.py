"""Reading text files into token streams, at word or character level: the contract's reader
(hyperprune.contract.text), which the local engine's checks before training use too."""

from __future__ import annotations

from hyperprune.contract.text import Level, iter_file_tokens, line_tokens, read_tokens

__all__ = ["Level", "iter_file_tokens", "line_tokens", "read_tokens"]
