"""A deterministic synthetic corpus with learnable structure, for runs on a machine with no data.

The source is a small hidden Markov model over ``vocab_size`` tokens (id 0 is ``<eos>``):

- ``regimes`` sparse random Markov chains; in each, every token has only ``branching`` possible
  successors with Dirichlet-drawn probabilities, so a model that learns the chain predicts far better
  than the unigram distribution;
- sentences end with probability ``1 / mean_sentence`` after each token, and only at a sentence end
  may the regime switch (probability ``switch``), so a model also gains from remembering which regime
  the recent sentences were drawn from: a recurrent state has something useful to carry.

Everything is drawn from ``numpy.random.Generator`` seeded by ``seed``: the same arguments give the
same corpus on every machine. The three splits are consecutive stretches of one long sample.
"""

from __future__ import annotations

import numpy as np
import torch

from hyperprune.contract.text import synthetic_sizes
from hyperprune.data.corpus import TokenCorpus
from hyperprune.data.vocab import EOS, UNK, Vocabulary


def synthetic_ids(
    n_tokens: int,
    vocab_size: int,
    seed: int,
    *,
    branching: int = 4,
    regimes: int = 2,
    mean_sentence: float = 12.0,
    switch: float = 0.2,
) -> np.ndarray:
    """``n_tokens`` ids in ``[0, vocab_size)``; 0 is the sentence end and 1 (``<unk>``) never occurs."""
    if vocab_size < 8:
        raise ValueError("the synthetic corpus needs a vocabulary of at least 8 tokens")
    rng = np.random.default_rng(seed)
    words = np.arange(2, vocab_size)  # 0 = <eos>, 1 = <unk> (kept unused so the vocabulary is standard)
    k = min(branching, len(words))
    # successors[r, s] and their cumulative probabilities; row 0 is the sentence-start distribution.
    successors = np.empty((regimes, vocab_size, k), dtype=np.int64)
    cumulative = np.empty((regimes, vocab_size, k))
    for r in range(regimes):
        for s in range(vocab_size):
            successors[r, s] = rng.choice(words, size=k, replace=False)
            cumulative[r, s] = np.cumsum(rng.dirichlet(np.full(k, 0.7)))
    cumulative[..., -1] = 1.0

    uniforms = rng.random((n_tokens, 2))
    out = np.empty(n_tokens, dtype=np.int64)
    p_end = 1.0 / mean_sentence
    regime, prev = 0, 0
    for t in range(n_tokens):
        u_end, u_next = uniforms[t]
        if prev != 0 and u_end < p_end:
            tok = 0
            # Reuse the end-of-sentence draw so one stream of uniforms drives everything.
            if u_end < p_end * switch:
                regime = (regime + 1) % regimes
        else:
            tok = int(successors[regime, prev, np.searchsorted(cumulative[regime, prev], u_next, side="right")])
        out[t] = tok
        prev = tok
    return out


def synthetic_corpus(n_tokens: int, vocab_size: int, seed: int) -> TokenCorpus:
    """Training split of ``n_tokens`` tokens, validation and test of a tenth of that each."""
    held = synthetic_sizes(n_tokens).valid
    ids = torch.from_numpy(synthetic_ids(n_tokens + 2 * held, vocab_size, seed))
    vocab = Vocabulary((EOS, UNK, *(f"w{i:03d}" for i in range(2, vocab_size))))
    return TokenCorpus(
        name=f"synthetic(tokens={n_tokens}, vocab={vocab_size}, seed={seed})",
        level="word",
        vocab=vocab,
        train=ids[:n_tokens].clone(),
        valid=ids[n_tokens : n_tokens + held].clone(),
        test=ids[n_tokens + held :].clone(),
    )
