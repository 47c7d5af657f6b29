"""The common Parquet format of every processed dataset, and its dataset card."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sgm_mlc.atomic import atomic_path
from sgm_mlc.data.base import SPLITS, Example

EXAMPLES_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("labels", pa.list_(pa.string()), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("tokens", pa.list_(pa.string()), nullable=False),
    ],
    metadata={"description": "sgm-mlc examples: labels in the source's natural order; split in train/valid/test"},
)


def write_examples(examples: Sequence[Example], tokens: Sequence[Sequence[str]], target: str | Path) -> None:
    """Write examples and their tokens to ``target`` (Parquet, :data:`EXAMPLES_SCHEMA`) atomically."""
    table = pa.table(
        {
            "id": [e.id for e in examples],
            "text": [e.text for e in examples],
            "labels": [list(e.labels) for e in examples],
            "split": [e.split for e in examples],
            "tokens": [list(t) for t in tokens],
        },
        schema=EXAMPLES_SCHEMA,
    )
    with atomic_path(target) as temporary:
        pq.write_table(table, temporary)


def read_examples(source: str | Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a processed dataset; raise a clear error if it does not have the project's schema."""
    table = pq.read_table(source, columns=list(columns) if columns else None)
    expected = {field.name for field in EXAMPLES_SCHEMA}
    wanted = set(columns) if columns else expected
    missing = wanted - set(table.column_names)
    if missing:
        raise ValueError(f"{source}: missing column(s) {sorted(missing)}; re-run the preprocess step")
    return table.to_pandas()


def dataset_card(name: str, examples: Sequence[Example]) -> dict[str, Any]:
    """Counts per split, label cardinality and label frequencies (per split) of a parsed dataset."""
    by_split: dict[str, list[Example]] = {split: [] for split in SPLITS}
    for example in examples:
        by_split[example.split].append(example)
    splits = {}
    for split, members in by_split.items():
        frequencies = Counter(label for e in members for label in e.labels)
        sizes = [len(e.labels) for e in members]
        splits[split] = {
            "documents": len(members),
            "labels_used": len(frequencies),
            "label_cardinality": (sum(sizes) / len(sizes)) if sizes else 0.0,
            "max_labels_per_document": max(sizes, default=0),
            "label_frequencies": dict(sorted(frequencies.items(), key=lambda item: (-item[1], item[0]))),
        }
    all_labels = sorted({label for e in examples for label in e.labels})
    sizes = [len(e.labels) for e in examples]
    return {
        "dataset": name,
        "documents": len(examples),
        "labels": len(all_labels),
        "label_cardinality": sum(sizes) / len(sizes) if sizes else 0.0,
        "splits": splits,
    }
