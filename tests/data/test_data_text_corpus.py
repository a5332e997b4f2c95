"""Loaders on small temporary files, in every layout, at word and character level."""

from pathlib import Path

import pytest

from hyperprune.data import DataError, load_data, load_text_corpus
from hyperprune.contract.trial import DataConfig


def write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def words(corpus, split):
    return corpus.vocab.decode(corpus.split(split).tolist())


@pytest.fixture
def ptb_dir(tmp_path):
    write(tmp_path, "ptb.train.txt", " the cat sat \n the dog sat \n")
    write(tmp_path, "ptb.valid.txt", " the bird sat \n")
    write(tmp_path, "ptb.test.txt", " a cat <unk> \n")
    return tmp_path


def test_ptb_layout_word_level_appends_eos_per_line_and_builds_vocab_from_train(ptb_dir):
    corpus = load_text_corpus("ptb", ptb_dir)
    assert words(corpus, "train") == "the cat sat <eos> the dog sat <eos>".split()
    # 'bird' and 'a' never occur in training: they become <unk>, as does the literal <unk>.
    assert words(corpus, "valid") == "the <unk> sat <eos>".split()
    assert words(corpus, "test") == "<unk> cat <unk> <eos>".split()
    assert set(corpus.vocab.tokens) == {"<eos>", "<unk>", "the", "cat", "sat", "dog"}


def test_wikitext_layout_reads_train_valid_test_txt(tmp_path):
    write(tmp_path, "train.txt", " = Title = \n\n one two one \n")
    write(tmp_path, "valid.txt", " two three \n")
    write(tmp_path, "test.txt", " one \n")
    corpus = load_text_corpus("wikitext", tmp_path)
    # Empty lines still end with <eos>, as in PyTorch's word_language_model.
    assert words(corpus, "train") == "= Title = <eos> <eos> one two one <eos>".split()
    assert words(corpus, "valid") == "two <unk> <eos>".split()


def test_wikitext_layout_accepts_the_original_token_file_names(tmp_path):
    for split in ("train", "valid", "test"):
        write(tmp_path, f"wiki.{split}.tokens", f"{split} words\n")
    corpus = load_text_corpus("wikitext", tmp_path)
    assert words(corpus, "train") == ["train", "words", "<eos>"]


def test_any_text_directory_concatenates_txt_files_in_name_order_and_cuts_valid_and_test_from_the_end(tmp_path):
    write(tmp_path, "b.txt", " ".join(f"b{i}" for i in range(50)) + "\n")
    write(tmp_path, "a.txt", " ".join(f"a{i}" for i in range(49)) + "\n")
    write(tmp_path, "notes.md", "not text corpus material\n")
    corpus = load_text_corpus("text", tmp_path, holdout=0.1)
    train, valid, test = (words(corpus, s) for s in ("train", "valid", "test"))
    # 49 + 1 + 50 + 1 = 101 tokens: test = last 10, valid = the 10 before, train = the first 81.
    assert (len(train), len(valid), len(test)) == (81, 10, 10)
    assert train[:2] == ["a0", "a1"] and train[49] == "<eos>" and train[50] == "b0"
    assert test[-1] == "<eos>"
    assert all(w == "<unk>" for w in valid + test[:-1])  # held-out words were never seen in training


def test_character_level_keeps_every_character_and_ends_lines_with_eos(tmp_path):
    write(tmp_path, "input.txt", "ab a\nba\n" * 50)
    corpus = load_text_corpus("text", tmp_path, level="char")
    assert words(corpus, "train")[:8] == ["a", "b", " ", "a", "<eos>", "b", "a", "<eos>"]
    assert set(corpus.vocab.tokens) == {"<eos>", "<unk>", "a", "b", " "}
    total = sum(corpus.split(s).numel() for s in ("train", "valid", "test"))
    assert total == 400 and corpus.valid.numel() == corpus.test.numel() == 20  # 90/5/5 by position


def test_ptb_character_files_are_read_as_spaced_symbols(tmp_path):
    for split in ("train", "valid", "test"):
        write(tmp_path, f"ptb.char.{split}.txt", " t h e _ c a t \n < u n k > \n")
    corpus = load_text_corpus("ptb", tmp_path, level="char")
    assert words(corpus, "valid") == "t h e _ c a t <eos> < u n k > <eos>".split()


def test_explicit_files_override_the_layout_and_cut_the_missing_validation_split(tmp_path):
    write(tmp_path, "ptb.valid.txt", "x y\n" * 30)  # 90 tokens
    write(tmp_path, "ptb.test.txt", "x z\n")
    corpus = load_text_corpus("ptb", tmp_path, files={"train": "ptb.valid.txt", "valid": None, "test": "ptb.test.txt"})
    assert corpus.train.numel() == 90 - 4 and corpus.valid.numel() == 4  # 5% of 90 = 4 tokens
    assert words(corpus, "test") == ["x", "<unk>", "<eos>"]


def test_missing_directory_names_the_path_and_the_expected_files(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as err:
        load_text_corpus("ptb", missing)
    assert str(missing) in str(err.value)
    assert "ptb.train.txt, ptb.valid.txt, ptb.test.txt" in str(err.value)


def test_incomplete_layout_names_the_missing_files(tmp_path):
    write(tmp_path, "train.txt", "a\n")
    with pytest.raises(DataError, match=r"lacks valid\.txt or wiki\.valid\.tokens"):
        load_text_corpus("wikitext", tmp_path)


def test_missing_explicit_file_and_empty_text_directory_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match=r"missing .*absent\.txt \(named in data\.files\)"):
        load_text_corpus("text", tmp_path, files={"train": "absent.txt", "valid": None, "test": None})
    with pytest.raises(DataError, match=r"no \*\.txt files in"):
        load_text_corpus("text", tmp_path)


def test_non_utf8_text_is_an_error_naming_the_file(tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9 au lait\n" * 100)
    with pytest.raises(DataError, match=r"bad\.txt is not UTF-8"):
        load_text_corpus("text", tmp_path)


def test_load_data_dispatches_on_the_trial_data_section(ptb_dir):
    corpus = load_data(DataConfig(corpus="ptb", path=str(ptb_dir)))
    assert words(corpus, "valid") == "the <unk> sat <eos>".split()
    capped = load_data(DataConfig(corpus="ptb", path=str(ptb_dir), max_vocab=3))
    assert capped.vocab.tokens == ("<eos>", "<unk>", "the")
