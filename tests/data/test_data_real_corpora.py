"""The real corpora of ../shared/data load with the sizes their README states."""

import pytest

from hyperprune.data import load_text_corpus

pytestmark = pytest.mark.data


def test_ptb_eval_trains_on_valid_and_tests_on_test(shared_data):
    corpus = load_text_corpus(
        "ptb", shared_data / "ptb-eval", files={"train": "ptb.valid.txt", "valid": None, "test": "ptb.test.txt"}
    )
    total = corpus.train.numel() + corpus.valid.numel()
    assert 73_000 < total < 75_000  # "about 74 k tokens with end-of-sentence"
    assert 81_000 < corpus.test.numel() < 83_000
    assert len(corpus.vocab) < 10_001
    assert corpus.vocab.id("<unk>") == corpus.vocab.unk_id and corpus.vocab.id("N") > 1


def test_tiny_shakespeare_is_split_90_5_5_by_position_at_character_level(shared_data):
    corpus = load_text_corpus("text", shared_data / "tinyshakespeare", level="char")
    n = corpus.train.numel() + corpus.valid.numel() + corpus.test.numel()
    assert n == 1_115_394  # one token per character, newlines as <eos>
    assert corpus.valid.numel() == corpus.test.numel() == int(n * 0.05)
    assert len(corpus.vocab) == 66  # 65 symbols, with the newline as <eos>, plus <unk>
    assert "".join(corpus.vocab.decode(corpus.train[:14].tolist())) == "First Citizen:"


def test_ptb_characters_and_wikitext_load(shared_data):
    chars = load_text_corpus(
        "ptb", shared_data / "ptb-eval", level="char", files={"train": "ptb.char.valid.txt", "test": "ptb.char.test.txt"}
    )
    assert "_" in chars.vocab and len(chars.vocab) < 60
    wiki = load_text_corpus("wikitext", shared_data / "wikitext-2-eval", files={"train": "valid.txt", "test": "test.txt"})
    assert wiki.train.numel() > 200_000 and "=" in wiki.vocab
