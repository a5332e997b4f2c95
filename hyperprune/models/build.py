"""``build_model``: a ModelConfig (plus what the data decides: vocabulary, classes) -> a model."""

from __future__ import annotations

import torch
from torch import nn

from hyperprune.models.classifier import SequenceClassifier
from hyperprune.models.cores import build_core
from hyperprune.models.errors import ModelConfigError
from hyperprune.models.language_model import LanguageModel
from hyperprune.contract.trial import ModelConfig


def build_model(
    model_cfg: ModelConfig,
    *,
    vocab_size: int | None = None,
    num_classes: int | None = None,
    input_size: int | None = None,
    seed: int = 0,
) -> nn.Module:
    """A :class:`LanguageModel` when ``vocab_size`` is given, a :class:`SequenceClassifier` when
    ``num_classes`` and ``input_size`` are. The initial weights depend on ``seed`` only: construction
    runs under a forked global RNG seeded with it, so the caller's RNG stream is left untouched.
    Raises :class:`ModelConfigError` (a ValueError naming the field) for settings that cannot be built.
    """
    if (vocab_size is None) == (num_classes is None):
        raise ValueError("build_model needs exactly one of vocab_size (language model) or num_classes (classifier)")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if vocab_size is not None:
            return _language_model(model_cfg, vocab_size)
        if num_classes is None or input_size is None:
            raise ValueError("build_model(num_classes=...) needs input_size, the number of features per step")
        return _classifier(model_cfg, num_classes, input_size)


def _language_model(cfg: ModelConfig, vocab_size: int) -> LanguageModel:
    embedding_size = cfg.embedding_size or cfg.hidden_size
    if cfg.tie_weights and embedding_size != cfg.hidden_size:
        raise ModelConfigError(
            "model.tieWeights",
            f"tying needs model.embeddingSize ({embedding_size}) equal to model.hiddenSize ({cfg.hidden_size})",
        )
    core = _core(cfg, embedding_size)
    return LanguageModel(core, vocab_size, embedding_size, dropout=cfg.dropout, tie_weights=cfg.tie_weights)


def _classifier(cfg: ModelConfig, num_classes: int, input_size: int) -> SequenceClassifier:
    if cfg.tie_weights:
        raise ModelConfigError("model.tieWeights", "a sequence classifier has no embedding to tie; set it to false")
    return SequenceClassifier(_core(cfg, input_size), num_classes, dropout=cfg.dropout)


def _core(cfg: ModelConfig, input_size: int) -> nn.Module:
    return build_core(
        cfg.arch,
        input_size,
        cfg.hidden_size,
        num_layers=cfg.num_layers,
        dropout=cfg.dropout,
        rhn_depth=cfg.rhn_depth,
    )
