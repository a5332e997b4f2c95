import numpy as np
import torch

from hyperprune.data import synthetic_corpus, synthetic_ids


def conditional_entropy(ids: np.ndarray, vocab: int) -> float:
    """Empirical H(next | previous) in nats."""
    pairs = np.zeros((vocab, vocab))
    np.add.at(pairs, (ids[:-1], ids[1:]), 1)
    rows = pairs.sum(1, keepdims=True)
    p = np.divide(pairs, rows, out=np.zeros_like(pairs), where=rows > 0)
    logp = np.log(p, out=np.zeros_like(p), where=p > 0)
    return float(-(pairs * logp).sum() / pairs.sum())


def test_same_arguments_give_the_same_corpus_and_another_seed_another_one():
    a = synthetic_corpus(5_000, 50, seed=7)
    b = synthetic_corpus(5_000, 50, seed=7)
    c = synthetic_corpus(5_000, 50, seed=8)
    for split in ("train", "valid", "test"):
        assert torch.equal(a.split(split), b.split(split))
    assert not torch.equal(a.train, c.train)
    assert a.vocab == b.vocab


def test_ids_cover_the_vocabulary_without_unk_and_with_sentence_ends():
    corpus = synthetic_corpus(20_000, 60, seed=1)
    assert len(corpus.vocab) == 60
    assert corpus.train.numel() == 20_000 and corpus.valid.numel() == corpus.test.numel() == 2_000
    ids = corpus.train
    assert int(ids.min()) == 0 and int(ids.max()) == 59
    assert not (ids == corpus.vocab.unk_id).any()
    sentence_ends = int((ids == corpus.vocab.eos_id).sum())
    assert 20_000 / 20 < sentence_ends < 20_000 / 6  # mean sentence length about 12 tokens


def test_the_source_is_far_more_predictable_than_its_unigram_distribution():
    ids = synthetic_ids(60_000, 200, seed=1234)
    counts = np.bincount(ids, minlength=200)
    p = counts[counts > 0] / len(ids)
    unigram = float(-(p * np.log(p)).sum())
    # Sparse transitions: knowing the previous token removes more than half the uncertainty, so a
    # model that learns the chain must show a clearly falling loss.
    assert conditional_entropy(ids, 200) < 0.5 * unigram
