"""Your own data (kind: table): CSV, TSV, JSON lines and Parquet, labels in every form, clear errors."""

import hashlib
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sgm_mlc.config import ParamsError, validate_sections
from sgm_mlc.data.parquet import read_examples
from sgm_mlc.data.preprocess import EXAMPLES_FILE, preprocess
from sgm_mlc.data.registry import get_dataset
from sgm_mlc.data.table import TableDataset, TableError
from tests.support.split_guarantees import broken_guarantees, label_counts

TEXT_PARAMS = {"lowercase": True, "min_token_count": 1, "max_vocabulary_size": 1000}


def build(tmp_path, params, name="mine"):
    """Download (copy) and parse a table dataset; the examples as a list."""
    validate_sections({"datasets": {name: params}})
    dataset = get_dataset(name, params)
    raw = tmp_path / "raw"
    raw.mkdir(parents=True)
    dataset.download(params, raw)
    return dataset, raw, list(dataset.parse(params, raw))


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_csv_with_a_header_and_delimited_labels_one_file_per_split(tmp_path):
    train = write(tmp_path / "train.csv", 'doc,body,tags\nd1,"wheat, corn prices",grain|wheat|grain\nd2,oil up, crude \nd3,no tags here,\n')
    test = write(tmp_path / "test.csv", "doc,body,tags\nd4,gold falls,gold\n")
    params = {"kind": "table", "files": {"train": {"path": train}, "test": {"path": test}}, "id_column": "doc",
              "text_column": "body", "labels_column": "tags", "label_delimiter": "|", "validation_fraction": 0.5,
              "seed": 3}
    dataset, raw, examples = build(tmp_path, params)
    assert isinstance(dataset, TableDataset) and dataset.name == "mine"
    by_id = {example.id: example for example in examples}
    assert by_id["d1"].labels == ("grain", "wheat") and by_id["d1"].text == "wheat, corn prices"
    assert by_id["d2"].labels == ("crude",)
    # d1 and d2 are their labels' only training examples: neither is carved into validation.
    assert by_id["d4"].split == "test" and by_id["d1"].split == by_id["d2"].split == "train"
    # A row without a label is skipped and counted.
    assert "d3" not in by_id and dataset.skipped == {"no_labels": 1}


def test_tsv_without_a_header_by_position_with_json_list_labels_and_line_ids(tmp_path):
    rows = "".join(f'text number {i}\t["a", "b{i % 2}"]\n' for i in range(40))
    path = write(tmp_path / "all.tsv", rows)
    params = {"kind": "table", "files": {"all": {"path": path}}, "header": False, "text_column": 0,
              "labels_column": 1, "label_delimiter": None, "test_fraction": 0.25, "validation_fraction": 0.25,
              "seed": 1}
    _, _, examples = build(tmp_path, params)
    assert examples[0].id == "all.tsv:1" and examples[0].labels == ("a", "b0")
    assert {example.split for example in examples} == {"train", "valid", "test"}
    _, _, again = build(tmp_path / "again", params)
    assert [example.split for example in again] == [example.split for example in examples]


def test_json_lines_and_parquet_with_integer_label_ids(tmp_path):
    names = write(tmp_path / "names.txt", "sports\npolitics\nscience\n")
    lines = [{"id": "x1", "text": "match report", "labels": [0]}, {"id": "x2", "text": "vote", "labels": [1, 2, 1]}]
    path = write(tmp_path / "data.jsonl", "".join(json.dumps(line) + "\n" for line in lines))
    params = {"kind": "table", "files": {"all": {"path": path}}, "id_column": "id", "text_column": "text",
              "labels_column": "labels", "label_names": {"path": names}, "test_fraction": 0.3,
              "validation_fraction": 0.3, "seed": 0}
    _, _, examples = build(tmp_path / "jsonl", params)
    assert [example.labels for example in examples] == [("sports",), ("politics", "science")]

    table = pa.table({"id": ["p1", "p2"], "text": ["a b", "c d"], "labels": [[2], [0, 1]]})
    pq.write_table(table, tmp_path / "data.parquet")
    params["files"] = {"all": {"path": str(tmp_path / "data.parquet")}}
    params["labels_column"] = 2  # by position in a Parquet file
    _, _, examples = build(tmp_path / "parquet", params)
    assert [(example.id, example.labels) for example in examples] == [("p1", ("science",)), ("p2", ("sports", "politics"))]


def tagged_rows(count: int) -> list[tuple[str, str]]:
    """``(id, "|"-joined tags)`` rows: a on odd rows, b on even rows and every fifth, c on every fiftieth."""
    rows = []
    for i in range(count):
        tags = ["a" if i % 2 else "b"] + (["b"] if i % 5 == 0 and i % 2 else []) + (["c"] if i % 50 == 0 else [])
        rows.append((f"r{i:03d}", "|".join(tags)))
    return rows


def test_one_file_is_split_stratified_into_test_validation_and_train(tmp_path):
    rows = tagged_rows(150)
    params = {"kind": "table", "id_column": "id", "text_column": "text", "labels_column": "tags",
              "label_delimiter": "|", "test_fraction": 0.2, "validation_fraction": 0.1, "seed": 4}
    splits = {}
    for name, ordered in (("forward", rows), ("backward", rows[::-1])):
        path = write(tmp_path / f"{name}.csv", "id,text,tags\n" + "".join(f"{i},words,{tags}\n" for i, tags in ordered))
        _, _, examples = build(tmp_path / name, {**params, "files": {"all": {"path": path}}})
        splits[name] = {example.id: example.split for example in examples}
    assert splits["forward"] == splits["backward"]  # the file's row order does not matter
    pool = {i: set(tags.split("|")) for i, tags in rows}
    test = {i for i, split in splits["forward"].items() if split == "test"}
    rest = {i: labels for i, labels in pool.items() if i not in test}
    valid = {i for i, split in splits["forward"].items() if split == "valid"}
    # 0.2 and 0.1 of the whole file; c's three rows go one to each split.
    assert (len(test), len(valid)) == (30, 15)
    assert all(label_counts(pool, ids)["c"] == 1 for ids in (test, valid, set(rest) - valid))
    assert broken_guarantees(pool, test) == [] and broken_guarantees(rest, valid) == []


def test_validation_is_carved_from_train_stratified_when_there_is_no_valid_file(tmp_path):
    rows = tagged_rows(100)
    train = write(tmp_path / "train.csv", "id,text,tags\n" + "".join(f"{i},words,{tags}\n" for i, tags in rows))
    test = write(tmp_path / "test.csv", "id,text,tags\nt1,words,a\n")
    params = {"kind": "table", "files": {"train": {"path": train}, "test": {"path": test}}, "id_column": "id",
              "text_column": "text", "labels_column": "tags", "label_delimiter": "|", "validation_fraction": 0.1,
              "seed": 4}
    _, _, examples = build(tmp_path, params)
    valid = {example.id for example in examples if example.split == "valid"}
    pool = {i: set(tags.split("|")) for i, tags in rows}
    assert len(valid) == 10 and label_counts(pool, valid)["c"] == 1 and broken_guarantees(pool, valid) == []


def test_a_validation_split_that_no_example_can_join_stops_preprocessing_saying_why(tmp_path):
    train = write(tmp_path / "train.csv", "text,labels\nwheat,grain\noil,crude\n")
    test = write(tmp_path / "test.csv", "text,labels\ngold,gold\n")
    params = {"kind": "table", "files": {"train": {"path": train}, "test": {"path": test}}, "text_column": "text",
              "labels_column": "labels", "label_delimiter": ",", "validation_fraction": 0.5, "seed": 0}
    dataset, raw, examples = build(tmp_path, params)
    assert [example.split for example in examples] == ["train", "train", "test"]
    with pytest.raises(ValueError, match=r"mine: the valid split has no examples \(none of .*train\.csv was carved into "
                                         r"it: raise validation_fraction, give files\.valid, or add examples"):
        preprocess(dataset, params, TEXT_PARAMS, raw, tmp_path / "out")


def test_fractions_that_leave_nothing_for_train_are_an_error(tmp_path):
    path = write(tmp_path / "all.csv", "text,labels\nhi,a\n")
    params = {"kind": "table", "files": {"all": {"path": path}}, "text_column": "text", "labels_column": "labels",
              "label_delimiter": ",", "test_fraction": 0.6, "validation_fraction": 0.4, "seed": 0}
    with pytest.raises(TableError, match=r"mine: test_fraction 0\.6 \+ validation_fraction 0\.4 leaves nothing for "
                                         r"train; make their sum less than 1"):
        build(tmp_path, params)


def test_a_file_fetched_by_url_is_checked_against_its_sha256(tmp_path):
    path = tmp_path / "remote.csv"
    write(path, "text,labels\nhello,a\n")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    params = {"kind": "table", "files": {"all": {"url": path.as_uri(), "sha256": digest}}, "text_column": "text",
              "labels_column": "labels", "label_delimiter": ",", "test_fraction": 0.1, "validation_fraction": 0.1,
              "seed": 0}
    _, raw, examples = build(tmp_path, params)
    assert (raw / "all.csv").read_bytes() == path.read_bytes() and examples[0].labels == ("a",)


@pytest.mark.parametrize(
    ("content", "changes", "message"),
    [
        ("text,labels\nhi,a\n", {"labels_column": "tags"}, r"all\.csv:1: no column 'tags'; the header has 'text', 'labels'"),
        ("text,labels\nhi,a\n ,b\n", {}, r"all\.csv:3: empty text \(text_column 'text'\); fill it or drop the row"),
        ('{"text": "hi", "labels": [0, 3]}\n', {"format": "jsonl", "label_names": True},
         r"all\.jsonl:1: label id 3 is not one of 0 … 1 \(label_names\.txt has 2 names\)"),
        ('{"text": "hi"}\n', {"format": "jsonl"}, r"all\.jsonl:1: no field 'labels'; the record has 'text'"),
        ("text,labels\nhi,a\n", {"label_delimiter": None}, r"all\.csv:2: labels 'a' are not a list; write a JSON list"),
    ],
)
def test_bad_records_name_the_file_and_the_line(tmp_path, content, changes, message):
    path = write(tmp_path / "source.txt", content)
    params = {"kind": "table", "format": "csv", "files": {"all": {"path": path}}, "text_column": "text",
              "labels_column": "labels", "label_delimiter": ",", "test_fraction": 0.1, "validation_fraction": 0.1,
              "seed": 0}
    if changes.pop("label_names", False):
        params["label_names"] = {"path": write(tmp_path / "names.txt", "a\nb\n")}
        params["label_delimiter"] = None
    params.update(changes)
    with pytest.raises(TableError, match=message):
        build(tmp_path, params)


def test_duplicate_ids_and_empty_splits_stop_preprocessing_naming_the_records(tmp_path):
    path = write(tmp_path / "all.csv", "id,text,labels\n1,aa,x\n2,bb,y\n1,cc,z\n" + "".join(f"{i},t,x\n" for i in range(3, 60)))
    params = {"kind": "table", "files": {"all": {"path": path}}, "id_column": "id", "text_column": "text",
              "labels_column": "labels", "label_delimiter": ",", "test_fraction": 0.3, "validation_fraction": 0.3,
              "seed": 0}
    dataset, raw, _ = build(tmp_path, params)
    with pytest.raises(ValueError, match=r"mine: example id '1' occurs 2 times \(.*all\.csv:2, .*all\.csv:4\)"):
        preprocess(dataset, params, TEXT_PARAMS, raw, tmp_path / "out")
    assert not (tmp_path / "out" / EXAMPLES_FILE).exists()

    test = write(tmp_path / "test.csv", "id,text,labels\nt1,aa,\n")
    params["files"] = {"train": {"path": path}, "test": {"path": test}}
    params.pop("id_column")
    dataset, raw, _ = build(tmp_path / "second", params)
    with pytest.raises(ValueError, match=r"mine: the test split has no examples \(.*test\.csv has no example with a label\)"):
        preprocess(dataset, params, TEXT_PARAMS, raw, tmp_path / "out")


def test_a_table_dataset_goes_through_preprocessing(tmp_path):
    path = write(tmp_path / "all.csv", "text,labels\n" + "".join(f"word{'abc'[i % 3]} more,{'xyz'[i % 3]}\n" for i in range(30)))
    params = {"kind": "table", "files": {"all": {"path": path}}, "text_column": "text", "labels_column": "labels",
              "label_delimiter": ",", "test_fraction": 0.3, "validation_fraction": 0.3, "seed": 2}
    dataset, raw, _ = build(tmp_path, params)
    card = preprocess(dataset, params, TEXT_PARAMS, raw, tmp_path / "out")
    table = read_examples(tmp_path / "out" / EXAMPLES_FILE)
    assert card["documents"] == len(table) == 30 and card["labels"] == 3
    assert sorted(card["splits"]) == ["test", "train", "valid"]


def test_params_of_a_table_dataset_are_validated():
    with pytest.raises(ParamsError, match=r"datasets\.mine\.files: .* is not valid under any of the given schemas"):
        validate_sections({"datasets": {"mine": {"kind": "table", "files": {"train": {"path": "a.csv"}},
                                                 "text_column": "t", "labels_column": "l"}}})
    with pytest.raises(ParamsError, match=r"datasets\.mine: unknown key\(s\) 'text_colum'; allowed keys: files"):
        validate_sections({"datasets": {"mine": {"kind": "table", "files": {"all": {"path": "a.csv"}},
                                                 "text_colum": "t", "labels_column": "l"}}})
    with pytest.raises(ParamsError, match=r"datasets\.mine: 'test_fraction' is a required property"):
        validate_sections({"datasets": {"mine": {"kind": "table", "files": {"all": {"path": "a.csv"}},
                                                 "text_column": "t", "labels_column": "l", "validation_fraction": 0.1,
                                                 "seed": 0}}})


def test_the_modality_table_agrees_with_the_dataset_classes():
    from sgm_mlc.data.names import BUILT_IN_MODALITIES, KIND_MODALITIES, dataset_modality
    from sgm_mlc.data.registry import BUILT_IN, KINDS

    assert {name: cls.modality for name, cls in BUILT_IN.items()} == BUILT_IN_MODALITIES
    assert {kind: cls.modality for kind, cls in KINDS.items()} == KIND_MODALITIES
    assert dataset_modality("mine", {"kind": "table"}) == "text" and dataset_modality("coco2017") == "image"
