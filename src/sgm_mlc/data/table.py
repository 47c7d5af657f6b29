"""Your own labelled data (``kind: table`` in ``params.yaml``): CSV, TSV, JSON lines or Parquet.

Files: ``files.all`` (one file; about ``test_fraction`` of its examples carved as test, then about
``validation_fraction`` of them as validation, each by :func:`~sgm_mlc.data.splits.stratified_split`, seeded by
``seed`` and ``seed + 1``), or ``files.train`` and ``files.test`` (and ``files.valid``; without it about
``validation_fraction`` of train is carved as validation the same way, seeded by ``seed``). Each file is a local
``path`` or a ``url`` with its ``sha256``; the download step copies or fetches it into the dataset's raw folder as
``<split><suffix>``, so the error messages below name that copy (line numbers are the same as in the original).

Columns (``text_column``, ``labels_column``, optional ``id_column``) are named, or given by position (0 is the
first) in a CSV/TSV file without a header (``header: false``) or a Parquet file. Labels are

* a list (JSON lines, Parquet; in CSV/TSV a JSON list such as ``["a", "b"]``) when ``label_delimiter`` is null;
* one string split on ``label_delimiter`` (surrounding spaces stripped, empty parts dropped);
* integer ids into ``label_names`` (a file of label names, one a line; id 0 is the first line).

A document's labels keep their order in the file (its natural order), repeats dropped. An example with no label
is skipped and counted (``skipped["no_labels"]``). A missing column, an empty text, an unknown label id, a
label list that is not one: one error naming the file and line, and what to fix. Without ``id_column`` an
example's id is ``<file name>:<line>``. Every file is read as a stream; a file that splits are carved from is read
twice, first for the ids and labels of its examples (held in memory: the stratification needs them all).
"""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sgm_mlc.data.base import SPLITS, Example
from sgm_mlc.data.download import fetch
from sgm_mlc.data.parquet import streaming_reader
from sgm_mlc.data.splits import stratified_split

FORMAT_OF_SUFFIX = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".parquet": "parquet"}
SUFFIX_OF_FORMAT = {value: key for key, value in FORMAT_OF_SUFFIX.items()}
LABEL_NAMES_FILE = "label_names.txt"
NO_LABELS = "no_labels"


class TableError(ValueError):
    """A record of a table dataset that cannot be read: the message names the file, the line and the fix."""


@dataclass(frozen=True)
class Record:
    """One row of a file: where it is, and its id, text and labels as written."""

    file: Path
    line: int
    example_id: str
    text: Any
    labels: Any

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


class TableDataset:
    """A dataset of ``kind: table`` (see the module docstring); ``name`` is its key in ``params.yaml``."""

    modality = "text"

    def __init__(self, name: str) -> None:
        self.name = name
        self.skipped: Counter[str] = Counter()

    def download(self, params: dict[str, Any], raw_dir: Path) -> None:
        """Copy (``path``) or fetch (``url``, checksum-verified) each file into ``raw_dir``."""
        fmt = table_format(params)
        for role, source in params["files"].items():
            bring(source, raw_dir / f"{role}{SUFFIX_OF_FORMAT[fmt]}")
        if params.get("label_names"):
            bring(params["label_names"], raw_dir / LABEL_NAMES_FILE)

    def parse(self, params: dict[str, Any], raw_dir: Path) -> Iterator[Example]:
        """Every example of the files, in file order (``all``, or ``train``, ``valid``, ``test``)."""
        self.skipped.clear()
        names = read_label_names(raw_dir / LABEL_NAMES_FILE) if params.get("label_names") else None
        for role, path in self.files(params, raw_dir):
            carved = self.carved_splits(role, path, params, names)
            for record in read_records(path, params):
                example = to_example(record, params, names, carved.get(record.example_id, role))
                if example.labels:
                    yield example
                else:
                    self.skipped[NO_LABELS] += 1

    def files(self, params: dict[str, Any], raw_dir: Path) -> list[tuple[str, Path]]:
        suffix = SUFFIX_OF_FORMAT[table_format(params)]
        return [(role, raw_dir / f"{role}{suffix}") for role in ("all",) + SPLITS if role in params["files"]]

    def carved_splits(self, role: str, path: Path, params: dict[str, Any], names: list[str] | None) -> dict[str, str]:
        """Example id → split for the labelled examples of ``path`` when splits are carved from it (``all``, or
        ``train`` without ``files.valid``, whose ids absent from the answer stay train); empty for a file that is
        one split."""
        if role == "train" and "valid" not in params["files"]:
            pool = labelled_examples(path, params, names)
            valid = stratified_split(list(pool), list(pool.values()), params["validation_fraction"], params["seed"])
            return dict.fromkeys(valid, "valid")
        if role != "all":
            return {}
        test_fraction, validation_fraction = params["test_fraction"], params["validation_fraction"]
        if test_fraction + validation_fraction >= 1:
            raise TableError(
                f"datasets.{self.name}: test_fraction {test_fraction} + validation_fraction {validation_fraction} "
                "leaves nothing for train; make their sum less than 1"
            )
        pool = labelled_examples(path, params, names)
        test = stratified_split(list(pool), list(pool.values()), test_fraction, params["seed"])
        rest = {example_id: labels for example_id, labels in pool.items() if example_id not in test}
        # validation_fraction is a share of the whole file, hence a larger share of what the test split leaves.
        rest_fraction = validation_fraction / (1 - test_fraction)
        valid = stratified_split(list(rest), list(rest.values()), rest_fraction, params["seed"] + 1)
        return {
            example_id: "test" if example_id in test else "valid" if example_id in valid else "train"
            for example_id in pool
        }

    def describe_split(self, params: dict[str, Any], raw_dir: Path, split: str) -> str:
        """Where the examples of ``split`` come from, for an error that finds it empty."""
        suffix = SUFFIX_OF_FORMAT[table_format(params)]
        if split in params["files"]:
            return f"{raw_dir / (split + suffix)} has no example with a label"
        source = "all" if "all" in params["files"] else "train"
        fraction = "test_fraction" if split == "test" else "validation_fraction"
        return (
            f"none of {raw_dir / (source + suffix)} was carved into it: raise {fraction}, give files.{split}, or add "
            "examples (a label's only training example stays in train)"
        )

    def locate(self, params: dict[str, Any], raw_dir: Path, example_id: str) -> list[str]:
        """``file:line`` of every record whose id is ``example_id`` (for the duplicate-id error)."""
        return [
            record.where
            for _, path in self.files(params, raw_dir)
            for record in read_records(path, params)
            if record.example_id == example_id
        ]


def labelled_examples(path: Path, params: dict[str, Any], names: list[str] | None) -> dict[str, tuple[str, ...]]:
    """Id → labels of every example of ``path`` with a label (a first pass, for the stratification). A repeated id
    keeps its first labels here: preprocessing stops on it, naming every line that has it."""
    pool: dict[str, tuple[str, ...]] = {}
    for record in read_records(path, params):
        labels = to_example(record, params, names, split="train").labels  # the split is not read here
        if labels:
            pool.setdefault(record.example_id, labels)
    return pool


def table_format(params: dict[str, Any]) -> str:
    """``format``, or the one the first file's name says."""
    if params.get("format"):
        return params["format"]
    source = next(iter(params["files"].values()))
    name = source.get("path") or source["url"]
    suffix = Path(name.split("?")[0]).suffix.lower()
    if suffix not in FORMAT_OF_SUFFIX:
        raise TableError(f"{name}: cannot tell the format from the suffix {suffix!r}; set format: csv, tsv, jsonl or parquet")
    return FORMAT_OF_SUFFIX[suffix]


def bring(source: dict[str, str], target: Path) -> None:
    """``source`` (a local ``path``, or a ``url`` with ``sha256``) into ``target``."""
    if "url" in source:
        fetch(source["url"], target, source["sha256"])
        return
    path = Path(source["path"]).expanduser()
    if not path.is_file():
        raise TableError(f"{path}: no such file (files.*.path or label_names.path in params.yaml)")
    shutil.copyfile(path, target)


def read_label_names(path: Path) -> list[str]:
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    if not names or any(not name for name in names):
        raise TableError(f"{path}: one label name a line, none empty (line {names.index('') + 1 if '' in names else 1})")
    return names


def read_records(path: Path, params: dict[str, Any]) -> Iterator[Record]:
    """The rows of one file, as they come (text files must be UTF-8)."""
    fmt = table_format(params)
    if fmt == "parquet":
        yield from _parquet_rows(path, params)
        return
    line = 0
    try:
        for line, record in enumerate(
            _json_lines(path, params) if fmt == "jsonl" else _delimited_rows(path, params, "\t" if fmt == "tsv" else ","),
            start=1,
        ):
            yield record
    except UnicodeDecodeError as error:
        raise TableError(
            f"{path}: not UTF-8 after record {line} (byte {error.object[error.start:error.start + 1]!r}: "
            f"{error.reason}); save the file as UTF-8"
        ) from None


def _columns(params: dict[str, Any]) -> dict[str, Any]:
    return {key: params.get(f"{key}_column") for key in ("id", "text", "labels")}


# A field may be a whole document: csv's default limit (128 KiB) would refuse a long one.
FIELD_SIZE_LIMIT = 1 << 30


def _delimited_rows(path: Path, params: dict[str, Any], delimiter: str) -> Iterator[Record]:
    csv.field_size_limit(FIELD_SIZE_LIMIT)
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            yield from _csv_records(path, params, reader)
        except csv.Error as error:
            raise TableError(f"{path}:{reader.line_num}: {error}; check the quoting") from None


def _csv_records(path: Path, params: dict[str, Any], reader: Any) -> Iterator[Record]:
    """The records of a ``csv.reader`` over ``path``."""
    header = next(reader, None) if params.get("header", True) else None
    positions = {key: _position(path, column, header) for key, column in _columns(params).items() if column is not None}
    for row in reader:
        if not row:
            continue
        line = reader.line_num
        values = {}
        for key, position in positions.items():
            if position >= len(row):
                raise TableError(
                    f"{path}:{line}: {len(row)} fields, no column {position} ({key}_column); check the delimiter "
                    "and quoting"
                )
            values[key] = row[position]
        yield _record(path, line, values)


def _position(path: Path, column: str | int, header: list[str] | None) -> int:
    if isinstance(column, int):
        return column
    if header is None:
        raise TableError(f"{path}: column {column!r} is named but header is false; give its position (0 is the first)")
    if column not in header:
        raise TableError(f"{path}:1: no column {column!r}; the header has {', '.join(map(repr, header))}")
    return header.index(column)


def _json_lines(path: Path, params: dict[str, Any]) -> Iterator[Record]:
    columns = {key: column for key, column in _columns(params).items() if column is not None}
    with path.open(encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as error:
                raise TableError(f"{path}:{line}: not a JSON object ({error.msg}); one JSON object a line") from None
            if not isinstance(row, dict):
                raise TableError(f"{path}:{line}: not a JSON object; one JSON object a line")
            missing = [column for column in columns.values() if column not in row]
            if missing:
                raise TableError(f"{path}:{line}: no field {missing[0]!r}; the record has {', '.join(map(repr, row))}")
            yield _record(path, line, {key: row[column] for key, column in columns.items()})


def _parquet_rows(path: Path, params: dict[str, Any]) -> Iterator[Record]:
    parquet = streaming_reader(path)
    names = parquet.schema_arrow.names
    columns = {}
    for key, column in _columns(params).items():
        if column is None:
            continue
        name = names[column] if isinstance(column, int) and column < len(names) else column
        if name not in names:
            raise TableError(f"{path}: no column {column!r}; the file has {', '.join(map(repr, names))}")
        columns[key] = name
    line = 0
    for batch in parquet.iter_batches(columns=list(dict.fromkeys(columns.values()))):
        for row in batch.to_pylist():
            line += 1
            yield _record(path, line, {key: row[name] for key, name in columns.items()})


def _record(path: Path, line: int, values: dict[str, Any]) -> Record:
    example_id = str(values["id"]) if "id" in values else f"{path.name}:{line}"
    return Record(path, line, example_id, values["text"], values["labels"])


def to_example(record: Record, params: dict[str, Any], names: list[str] | None, split: str) -> Example:
    """The example of ``record``; a :class:`TableError` names what is wrong with it."""
    if not isinstance(record.text, str) or not record.text.strip():
        raise TableError(f"{record.where}: empty text (text_column {params['text_column']!r}); fill it or drop the row")
    labels = _label_list(record, params)
    if names is not None:
        labels = [_label_name(record, label, names) for label in labels]
    return Example(record.example_id, record.text, tuple(dict.fromkeys(str(label) for label in labels)), split)


def _label_list(record: Record, params: dict[str, Any]) -> list[Any]:
    value = record.labels
    delimiter = params.get("label_delimiter")
    if delimiter is not None:
        if not isinstance(value, str):
            raise TableError(f"{record.where}: labels {value!r} are not a string to split on {delimiter!r}")
        return [part.strip() for part in value.split(delimiter) if part.strip()]
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = None
    if not isinstance(value, list):
        raise TableError(
            f"{record.where}: labels {record.labels!r} are not a list; write a JSON list or set label_delimiter"
        )
    return [label for label in value if str(label).strip()]


def _label_name(record: Record, label: Any, names: list[str]) -> str:
    try:
        index = int(label)
    except (TypeError, ValueError):
        index = -1
    if isinstance(label, float) or not 0 <= index < len(names):
        raise TableError(
            f"{record.where}: label id {label!r} is not one of 0 … {len(names) - 1} ({LABEL_NAMES_FILE} has "
            f"{len(names)} names); fix the id or the label names file"
        )
    return names[index]
