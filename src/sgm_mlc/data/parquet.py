"""The common Parquet format of every processed dataset.

One schema for every modality (:data:`EXAMPLES_SCHEMA`), one row per example:

* ``id``, ``split`` (train / valid / test) and ``labels`` (the source's natural order);
* ``text`` and ``tokens``: the document and its tokens (empty for an image);
* ``token_ids``: the tokens as indices into the dataset's ``vocab.json`` (``int32``; out-of-vocabulary words
  are ``UNK``), so that training reads compact arrays rather than lists of strings;
* ``image``: for an image, its file's path relative to the dataset's raw folder (null for a text).

The dataset's modality (``text`` or ``image``) is in the file's schema metadata and in its card. Files are
written in row groups (:class:`RowGroupWriter`), so a corpus larger than memory streams through.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sgm_mlc.atomic import atomic_path
from sgm_mlc.data.base import Example

ROW_GROUP_ROWS = 20_000
MODALITY_KEY = b"modality"

_FIELDS = [
    pa.field("id", pa.string(), nullable=False),
    pa.field("text", pa.string(), nullable=False),
    pa.field("labels", pa.list_(pa.string()), nullable=False),
    pa.field("split", pa.string(), nullable=False),
    pa.field("tokens", pa.list_(pa.string()), nullable=False),
    pa.field("image", pa.string(), nullable=True),
]
STAGING_SCHEMA = pa.schema(_FIELDS)
EXAMPLES_SCHEMA = pa.schema(_FIELDS + [pa.field("token_ids", pa.list_(pa.int32()), nullable=False)])


def schema_for(schema: pa.Schema, modality: str) -> pa.Schema:
    """``schema`` carrying the dataset's ``modality`` in its metadata."""
    return schema.with_metadata(
        {b"description": b"sgm-mlc examples: labels in the source's natural order", MODALITY_KEY: modality.encode()}
    )


class RowGroupWriter:
    """Rows buffered into row groups of :data:`ROW_GROUP_ROWS` and appended to an open Parquet writer."""

    def __init__(self, writer: pq.ParquetWriter, rows_per_group: int = ROW_GROUP_ROWS) -> None:
        self.writer = writer
        self.rows_per_group = rows_per_group
        self.columns: dict[str, list] = {name: [] for name in writer.schema.names}

    def add(self, row: dict) -> None:
        for name, values in self.columns.items():
            values.append(row[name])
        if len(self.columns["id"]) >= self.rows_per_group:
            self.flush()

    def flush(self) -> None:
        if self.columns["id"]:
            self.writer.write_table(pa.table(self.columns, schema=self.writer.schema))
            self.columns = {name: [] for name in self.columns}


@contextmanager
def parquet_rows(target: str | Path, schema: pa.Schema) -> Iterator[RowGroupWriter]:
    """A :class:`RowGroupWriter` into ``target``, which appears (atomically) only if the block succeeds."""
    with atomic_path(target) as temporary:
        writer = pq.ParquetWriter(temporary, schema)
        try:
            rows = RowGroupWriter(writer)
            yield rows
            rows.flush()
        finally:
            writer.close()


def streaming_reader(source: str | Path) -> pq.ParquetFile:
    """``source`` opened to be read batch by batch (``iter_batches``) in memory that does not grow with the file.

    With pyarrow's default pre-buffering, the reader's allocations grow by every row group read until it is
    closed (``tests/unit/test_preprocess.py`` shows it), so a pass over a large file would hold all of it.
    """
    return pq.ParquetFile(source, pre_buffer=False)


def example_row(example: Example, tokens: Sequence[str]) -> dict:
    """The staging row of ``example`` (:data:`STAGING_SCHEMA`)."""
    return {
        "id": example.id,
        "text": example.text,
        "labels": list(example.labels),
        "split": example.split,
        "tokens": list(tokens),
        "image": example.image,
    }


def write_examples(
    examples: Sequence[Example],
    tokens: Sequence[Sequence[str]],
    token_ids: Sequence[Sequence[int]],
    target: str | Path,
    modality: str = "text",
) -> None:
    """Write a small, in-memory set of examples to ``target`` (:data:`EXAMPLES_SCHEMA`) atomically (for tests and
    tools; preprocessing streams instead)."""
    with parquet_rows(target, schema_for(EXAMPLES_SCHEMA, modality)) as rows:
        for example, words, ids in zip(examples, tokens, token_ids, strict=True):
            rows.add(example_row(example, words) | {"token_ids": list(ids)})


def read_examples(
    source: str | Path, columns: Sequence[str] | None = None, splits: Sequence[str] | None = None
) -> pd.DataFrame:
    """Read a processed dataset (only the rows of ``splits``, when given); raise a clear error if it does not
    have the project's schema."""
    available = set(pq.read_schema(source).names)
    wanted = list(columns) if columns else EXAMPLES_SCHEMA.names
    missing = set(wanted) - available
    if missing:
        raise ValueError(f"{source}: missing column(s) {sorted(missing)}; re-run the preprocess step")
    row_filter = None if splits is None else [("split", "in", list(splits))]
    return pq.read_table(source, columns=wanted, filters=row_filter).to_pandas()


def read_modality(source: str | Path) -> str:
    """The modality recorded in a processed dataset's metadata (``text`` for files written before it was)."""
    metadata = pq.read_schema(source).metadata or {}
    return metadata.get(MODALITY_KEY, b"text").decode()
