"""A run's data as MLflow dataset inputs: the train, valid and test splits of the processed Parquet file, each
named ``<dataset>-<split>``, with the file as source, the file's digest and the split's size, so that the UI's
Dataset column and a run's lineage show what it read."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
from mlflow.entities import Dataset, DatasetInput, InputTag

from sgm_mlc.data.base import SPLITS
CONTEXT_TAG = "mlflow.data.context"  # MLflow's tag for what a dataset was used for (shown beside its name)
DIGEST_LENGTH = 32  # MLflow stores at most 36 characters of a dataset digest


def split_inputs(dataset: str, examples_path: Path, file_sha256: str) -> list[DatasetInput]:
    """One input per split present in ``examples_path`` (in train, valid, test order), its context the split."""
    sizes = Counter(pq.read_table(examples_path, columns=["split"]).column("split").to_pylist())
    source = json.dumps({"uri": examples_path.resolve().as_uri()})
    return [
        DatasetInput(
            Dataset(
                name=f"{dataset}-{split}",
                digest=file_sha256[:DIGEST_LENGTH],
                source_type="local",
                source=source,
                profile=json.dumps({"num_rows": sizes[split], "rows": f"split == '{split}'"}),
            ),
            tags=[InputTag(CONTEXT_TAG, split)],
        )
        for split in SPLITS
        if sizes[split]
    ]
