"""Vocabulary: token <-> id, built from the training split only.

Ids are deterministic: ``<eos>`` is 0 and ``<unk>`` is 1, then tokens by descending training count,
ties broken by first appearance. Tokens outside the vocabulary (unseen in training, rarer than
``min_count`` or beyond ``max_size``) map to ``<unk>``. Corpora that already contain a literal
``<unk>`` token (PTB, WikiText) share that id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from hyperprune.contract.text import EOS, UNK, kept_tokens


@dataclass(frozen=True)
class Vocabulary:
    tokens: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.tokens[:2] != (EOS, UNK):
            raise ValueError(f"a vocabulary starts with {EOS!r} and {UNK!r}, got {self.tokens[:2]!r}")
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("vocabulary tokens must be unique")
        object.__setattr__(self, "_index", {tok: i for i, tok in enumerate(self.tokens)})

    @classmethod
    def build(cls, tokens: Iterable[str], *, min_count: int = 1, max_size: int | None = None) -> "Vocabulary":
        return cls((EOS, UNK, *kept_tokens(tokens, min_count=min_count, max_size=max_size)))

    @property
    def eos_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return 1

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._index

    def id(self, token: str) -> int:
        return self._index.get(token, 1)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        index, unk = self._index, 1
        return [index.get(tok, unk) for tok in tokens]

    def decode(self, ids: Sequence[int]) -> list[str]:
        return [self.tokens[i] for i in ids]
