"""Preprocessing streams a dataset's examples into Parquet row groups, with token ids, vocabulary and card."""

import json
import random
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sgm_mlc.data.base import Example
from sgm_mlc.data.parquet import EXAMPLES_SCHEMA, ROW_GROUP_ROWS, read_examples, read_modality, streaming_reader
from sgm_mlc.data.preprocess import CARD_FILE, EXAMPLES_FILE, VOCABULARY_FILE, preprocess
from sgm_mlc.text.vocab import UNK_INDEX, Vocabulary

TEXT_PARAMS = {"lowercase": True, "min_token_count": 2, "max_vocabulary_size": 100}


class StreamedDataset:
    """Yields ``examples`` one at a time, recording how many had been consumed when the stream ended."""

    name = "streamed"

    def __init__(self, examples, modality: str = "text") -> None:
        self.examples = examples
        self.modality = modality
        self.skipped = {"empty_text": 3}

    def parse(self, params, raw_dir) -> Iterator[Example]:
        yield from self.examples


def letters(i: int) -> str:
    """``i`` written in the letters a-j (the tokenizer splits words from digits)."""
    return "".join("abcdefghij"[int(digit)] for digit in str(i))


def corpus(n: int) -> Iterator[Example]:
    for i in range(n):
        split = ("train", "train", "valid", "test")[i % 4]
        labels = ("even",) if i % 2 == 0 else ("odd", "even") if i % 3 == 0 else ("odd",)
        yield Example(f"doc{i}", f"Word{letters(i % 5)} common rare{letters(i)}", labels, split)


def test_a_stream_larger_than_a_row_group_is_written_in_row_groups_with_token_ids(tmp_path):
    n = 2 * ROW_GROUP_ROWS + 123
    card = preprocess(StreamedDataset(corpus(n)), {}, TEXT_PARAMS, tmp_path / "raw", tmp_path / "out")
    examples_file = tmp_path / "out" / EXAMPLES_FILE
    assert pq.ParquetFile(examples_file).metadata.num_row_groups == 3
    assert pq.read_schema(examples_file).remove_metadata().equals(EXAMPLES_SCHEMA)
    assert read_modality(examples_file) == "text"
    vocabulary = Vocabulary.load(tmp_path / "out" / VOCABULARY_FILE)
    # Built on the train split: the five "word…" and "common"; each "rare…" occurs once and is left out.
    assert set(vocabulary.words[2:]) == {"common", "worda", "wordb", "wordc", "wordd", "worde"}
    table = read_examples(examples_file)
    assert len(table) == n and list(table["id"][:3]) == ["doc0", "doc1", "doc2"]
    for tokens, ids in zip(table["tokens"][-50:], table["token_ids"][-50:]):
        assert list(ids) == vocabulary.encode(list(tokens))
    assert table["image"].isna().all()
    # One token in three is out of the vocabulary in every split.
    assert card["unknown_token_rate"] == pytest.approx({"train": 1 / 3, "valid": 1 / 3, "test": 1 / 3})
    assert card["documents"] == n and card["modality"] == "text" and card["labels"] == 2
    assert card["splits"]["valid"]["documents"] == len(range(2, n, 4))
    assert card["tokens_per_document"] == {"mean": 3.0, "median": 3.0, "max": 3.0}
    assert card["skipped_records"] == {"empty_text": 3}
    assert json.loads((tmp_path / "out" / CARD_FILE).read_text()) == card
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == sorted([EXAMPLES_FILE, VOCABULARY_FILE, CARD_FILE])


class DeclaredLabels(StreamedDataset):
    """A dataset with a fixed label set, some of which its examples lack."""

    def label_names(self, params, raw_dir) -> list[str]:
        return ["cat", "dog", "bird", "fish"]


def test_the_card_names_the_labels_each_split_lacks(tmp_path):
    examples = [Example("a", "x", ("cat", "dog"), "train"), Example("b", "x", ("bird",), "train"),
                Example("c", "x", ("dog",), "valid"), Example("d", "x", ("cat", "bird"), "test")]
    card = preprocess(DeclaredLabels(examples), {}, TEXT_PARAMS, tmp_path / "raw", tmp_path / "out")
    assert card["labels_missing"] == {
        "train": {"count": 1, "names": ["fish"]},
        "valid": {"count": 3, "names": ["cat", "bird", "fish"]},
        "test": {"count": 2, "names": ["dog", "fish"]},
    }
    assert json.loads((tmp_path / "out" / CARD_FILE).read_text())["labels_missing"] == card["labels_missing"]


def test_image_examples_keep_their_image_and_have_no_tokens(tmp_path):
    images = [Example(f"im{i}", "", ("cat",), split, image=f"train2017/{i:012d}.jpg")
              for i, split in enumerate(["train", "valid", "test"])]
    card = preprocess(StreamedDataset(images, modality="image"), {}, TEXT_PARAMS, tmp_path / "raw", tmp_path / "out")
    table = read_examples(tmp_path / "out" / EXAMPLES_FILE)
    assert list(table["image"]) == ["train2017/000000000000.jpg", "train2017/000000000001.jpg", "train2017/000000000002.jpg"]
    assert all(len(ids) == 0 for ids in table["token_ids"])
    assert read_modality(tmp_path / "out" / EXAMPLES_FILE) == "image" and card["modality"] == "image"


def test_a_duplicate_id_is_named_and_nothing_is_left_behind(tmp_path):
    examples = list(corpus(40)) + [Example("doc7", "again", ("odd",), "test")]
    with pytest.raises(ValueError, match=r"streamed: example id 'doc7' occurs 2 times \(.*raw\); every example needs"):
        preprocess(StreamedDataset(examples), {}, TEXT_PARAMS, tmp_path / "raw", tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(
    ("examples", "message"),
    [
        ([], "streamed: parsing .* gave no examples; re-run the download step"),
        ([Example("a", "text", ("x",), "dev")], "streamed: example 'a' has split 'dev', not one of"),
        ([Example("a", "text", ("x",), "train"), Example("b", "text", ("x",), "test")],
         "streamed: the valid split has no examples"),
    ],
)
def test_an_empty_stream_or_an_unknown_split_stops_with_a_clear_error(tmp_path, examples, message):
    with pytest.raises(ValueError, match=message):
        preprocess(StreamedDataset(examples), {}, TEXT_PARAMS, tmp_path / "raw", tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_out_of_vocabulary_words_are_unk():
    assert Vocabulary.from_counts({"a": 3, "b": 1}, 2, 10).encode(["a", "b"]) == [2, UNK_INDEX]


def peak_allocation_while_reading(reader: pq.ParquetFile, batch_size: int) -> int:
    """The most bytes pyarrow held, above what it held before, while ``reader`` was read batch by batch."""
    before, peak = pa.total_allocated_bytes(), 0
    for _ in reader.iter_batches(batch_size=batch_size):
        peak = max(peak, pa.total_allocated_bytes() - before)
    return peak


def test_a_streaming_pass_holds_about_one_row_group_not_the_file(tmp_path):
    # 30 row groups of about 1 MB of incompressible text, read one row group per batch.
    path, groups, rows = tmp_path / "large.parquet", 30, 1000
    rng = random.Random(13)
    with pq.ParquetWriter(path, pa.schema([("text", pa.string())])) as writer:
        for _ in range(groups):
            writer.write_table(pa.table({"text": [rng.randbytes(512).hex() for _ in range(rows)]}))
    row_group_bytes = pq.ParquetFile(path).metadata.row_group(0).total_byte_size
    # pyarrow's default reader (pre-buffering) ends up holding most of the file ...
    assert peak_allocation_while_reading(pq.ParquetFile(path), rows) > groups / 2 * row_group_bytes
    # ... the streaming reader a few row groups at most, whatever the file's length.
    assert peak_allocation_while_reading(streaming_reader(path), rows) < 8 * row_group_bytes
