"""The label-order step: a label vocabulary and every document's label sequence, for one order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sgm_mlc.atomic import atomic_path, write_json
from sgm_mlc.data.parquet import read_examples
from sgm_mlc.labels.orders import label_ranking, order_labels

LABEL_VOCABULARY_FILE = "label_vocab.json"
SEQUENCES_FILE = "sequences.parquet"

SEQUENCES_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("label_sequence", pa.list_(pa.string()), nullable=False),
    ]
)


def build_label_order(examples_path: Path, order: str, random_seed: int, out_dir: Path) -> dict[str, Any]:
    """Write ``label_vocab.json`` (labels in the order's ranking) and ``sequences.parquet`` into ``out_dir``."""
    examples = read_examples(examples_path, columns=["id", "labels", "split"])
    label_sets = [list(labels) for labels in examples["labels"]]
    splits = list(examples["split"])
    ranking = label_ranking(order, label_sets, splits, random_seed)
    sequences = [order_labels(order, labels, ranking) for labels in label_sets]
    table = pa.table(
        {"id": list(examples["id"]), "split": splits, "label_sequence": sequences}, schema=SEQUENCES_SCHEMA
    )
    with atomic_path(out_dir / SEQUENCES_FILE) as temporary:
        pq.write_table(table, temporary)
    vocabulary = {"order": order, "labels": ranking, "random_seed": random_seed if order == "random" else None}
    write_json(out_dir / LABEL_VOCABULARY_FILE, vocabulary)
    return vocabulary
