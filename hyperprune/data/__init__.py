"""Data for trials: token corpora for language models, the digits task, batching and the probe.

``load_data(data_cfg)`` is the one entry point the trial runtime uses; the pieces are importable
for tests, benchmarks and notebooks:

- ``load_text_corpus``: PTB, WikiText or any directory of text files, word or character level
  (layouts in ``hyperprune.contract.data_layout``);
- ``synthetic_corpus``: the built-in, seeded corpus for machines without data;
- ``load_digits_task``: scikit-learn's 8x8 digits as 8-step sequences (classification);
- ``batchify`` / ``epoch_windows`` / ``probe_tokens``: word_language_model-style batching and the
  fixed probe batch of the Lyapunov report.

Nothing is cached: corpora are read from their directory each time (PTB-sized text takes well under
a second), so no file is ever written inside the repository or the data directory.
"""

from __future__ import annotations

from hyperprune.contract.data_layout import DataError
from hyperprune.contract.text import SplitSizes
from hyperprune.contract.trial import DataConfig
from hyperprune.data.batching import (
    Window,
    batchify,
    classification_batches,
    epoch_rng,
    epoch_windows,
    eval_windows,
    probe_sequences,
    probe_tokens,
    window_batch,
    window_count,
)
from hyperprune.data.corpus import TokenCorpus, load_text_corpus
from hyperprune.data.digits import SequenceClassificationData, load_digits_task
from hyperprune.data.synthetic import synthetic_corpus, synthetic_ids
from hyperprune.data.vocab import EOS, UNK, Vocabulary

__all__ = [
    "EOS",
    "UNK",
    "DataError",
    "SequenceClassificationData",
    "TokenCorpus",
    "Vocabulary",
    "Window",
    "batchify",
    "classification_batches",
    "epoch_rng",
    "epoch_windows",
    "eval_windows",
    "load_data",
    "load_digits_task",
    "load_text_corpus",
    "probe_sequences",
    "probe_tokens",
    "split_sizes",
    "synthetic_corpus",
    "synthetic_ids",
    "window_batch",
    "window_count",
]


def split_sizes(data: TokenCorpus | SequenceClassificationData) -> SplitSizes:
    """Tokens or examples per split, for the contract's rules on them (hyperprune.contract.text)."""
    if isinstance(data, SequenceClassificationData):
        return SplitSizes(data.train_y.numel(), data.valid_y.numel(), data.test_y.numel(), "examples", data.steps)
    return SplitSizes(data.train.numel(), data.valid.numel(), data.test.numel())


def load_data(cfg: DataConfig) -> TokenCorpus | SequenceClassificationData:
    """The corpus or classification data a trial's ``data`` section describes."""
    if cfg.corpus == "digits":
        return load_digits_task()
    if cfg.corpus == "synthetic":
        return synthetic_corpus(cfg.synthetic_tokens, cfg.synthetic_vocab, cfg.synthetic_seed)
    if not cfg.path:
        raise DataError(f"corpus '{cfg.corpus}' needs a data directory (data.path)")
    return load_text_corpus(
        cfg.corpus,
        cfg.path,
        level=cfg.level,
        files=cfg.files.model_dump() if cfg.files else None,
        holdout=cfg.holdout,
        min_count=cfg.min_count,
        max_vocab=cfg.max_vocab,
    )
