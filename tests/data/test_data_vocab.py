import pytest

from hyperprune.data import EOS, UNK, Vocabulary


def test_specials_first_then_by_count_with_first_appearance_breaking_ties():
    vocab = Vocabulary.build("b a c a b a d".split())
    assert vocab.tokens == (EOS, UNK, "a", "b", "c", "d")
    assert (vocab.eos_id, vocab.unk_id) == (0, 1)


def test_unseen_tokens_map_to_unk_and_literal_unk_shares_its_id():
    vocab = Vocabulary.build(["the", "cat", UNK, EOS])
    assert vocab.encode(["the", "dog", UNK, EOS]) == [vocab.id("the"), 1, 1, 0]
    assert "dog" not in vocab and len(vocab) == 4


def test_min_count_and_max_size_send_rare_tokens_to_unk():
    tokens = ["a"] * 5 + ["b"] * 3 + ["c"] * 2 + ["d"]
    assert Vocabulary.build(tokens, min_count=2).tokens == (EOS, UNK, "a", "b", "c")
    capped = Vocabulary.build(tokens, max_size=4)
    assert capped.tokens == (EOS, UNK, "a", "b")
    assert capped.encode(["c", "d", "a"]) == [1, 1, 2]


def test_decode_inverts_encode_for_known_tokens():
    vocab = Vocabulary.build("x y z".split())
    assert vocab.decode(vocab.encode(["z", "x"])) == ["z", "x"]


def test_a_vocabulary_must_start_with_the_special_tokens():
    with pytest.raises(ValueError, match="starts with"):
        Vocabulary(("a", EOS, UNK))
