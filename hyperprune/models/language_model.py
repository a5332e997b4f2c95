"""Language model: embedding -> recurrent core -> dropout -> decoder (optionally tied to the embedding)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hyperprune.models.cores import State, core_hidden_size, detach_state, zero_state

# PyTorch's word_language_model example initialises embedding and decoder uniformly in +-0.1 and
# the decoder bias at zero; the core keeps torch's default (+-1/sqrt(hidden)).
EMBEDDING_INIT_RANGE = 0.1


class LanguageModel(nn.Module):
    """``forward(tokens[T, B], state=None) -> (logits[T, B, V], state)``.

    Dropout (training mode only) is applied to the embeddings and to the core's outputs before the
    decoder; dropout between stacked layers belongs to the core.
    """

    def __init__(self, core: nn.Module, vocab_size: int, embedding_size: int, *, dropout: float = 0.0, tie_weights: bool = False) -> None:
        super().__init__()
        hidden = core_hidden_size(core)
        if tie_weights and embedding_size != hidden:
            raise ValueError(f"tied weights need embedding_size == hidden_size, got {embedding_size} != {hidden}")
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.core = core
        self.dropout = nn.Dropout(dropout)
        self.decoder = nn.Linear(hidden, vocab_size)
        self.tie_weights = tie_weights
        if tie_weights:
            self.decoder.weight = self.embedding.weight
        self.reset_head_parameters()

    def reset_head_parameters(self) -> None:
        """Embedding and decoder as in PyTorch's word_language_model (uses the global RNG, like
        every torch initialiser; ``build_model`` runs it under a seeded, forked RNG)."""
        with torch.no_grad():
            self.embedding.weight.uniform_(-EMBEDDING_INIT_RANGE, EMBEDDING_INIT_RANGE)
            if not self.tie_weights:
                self.decoder.weight.uniform_(-EMBEDDING_INIT_RANGE, EMBEDDING_INIT_RANGE)
            self.decoder.bias.zero_()

    def forward(self, tokens: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        emb = self.dropout(self.embedding(tokens))
        out, state = self.core(emb, state)
        return self.decoder(self.dropout(out)), state

    def core_inputs(self, tokens: Tensor) -> Tensor:
        """What the core sees for ``tokens`` in eval mode: the embeddings [T, B, E], no dropout."""
        return self.embedding(tokens)

    def init_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        return zero_state(self.core, batch_size, device)

    @staticmethod
    def detach_state(state: State | None) -> State | None:
        return detach_state(state)
