import pytest

from sgm_mlc.text.tokenizer import tokenize
from sgm_mlc.text.vocab import PAD, UNK, Vocabulary


def test_tokenize_words_numbers_and_punctuation():
    text = "Shares of U.S. firms rose 3.5% to 1,250 dlrs; it's well-known.\x03"
    assert tokenize(text) == ["shares", "of", "u", "s", "firms", "rose", "3.5", "to", "1,250", "dlrs", "it's", "well-known"]


def test_tokenize_keeps_case_when_asked_and_handles_latin1_letters():
    assert tokenize("Zürich Bank", lowercase=False) == ["Zürich", "Bank"]


def test_vocabulary_orders_by_count_then_alphabet_and_caps_size():
    docs = [["b", "a", "c", "a"], ["c", "d", "b"], ["e"]]
    vocab = Vocabulary.build(docs, min_count=1, max_size=5)
    assert vocab.words == (PAD, UNK, "a", "b", "c")
    assert vocab.counts == (0, 0, 2, 2, 2)
    assert Vocabulary.build(docs, min_count=2, max_size=100).words == (PAD, UNK, "a", "b", "c")


def test_vocabulary_encodes_unknown_words_and_round_trips(tmp_path):
    vocab = Vocabulary.build([["x", "y", "x"]], min_count=1, max_size=10)
    assert vocab.encode(["x", "zzz", "y"]) == [2, 1, 3]
    vocab.save(tmp_path / "vocab.json")
    assert Vocabulary.load(tmp_path / "vocab.json") == vocab


def test_vocabulary_load_rejects_foreign_files(tmp_path):
    (tmp_path / "vocab.json").write_text('{"words": ["a"], "counts": [1]}')
    with pytest.raises(ValueError, match="re-run the preprocess step"):
        Vocabulary.load(tmp_path / "vocab.json")
