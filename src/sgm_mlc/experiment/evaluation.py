"""Predictions to metrics and to the predictions table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sgm_mlc.atomic import atomic_path
from sgm_mlc.experiment.inputs import SplitData
from sgm_mlc.metrics.multilabel import multilabel_report, to_multi_hot
from sgm_mlc.models.label_ids import FIRST_LABEL
from sgm_mlc.training.tasks import Prediction

PREDICTIONS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("true_labels", pa.list_(pa.string()), nullable=False),
        pa.field("predicted_labels", pa.list_(pa.string()), nullable=False),
        pa.field("step_probabilities", pa.list_(pa.float64()), nullable=False),
    ]
)


def label_names_of(predictions: Sequence[Prediction], ranking: Sequence[str]) -> list[list[str]]:
    """Each prediction's label ids (``FIRST_LABEL``-based, see ``models.label_ids``) as label names."""
    return [[ranking[label - FIRST_LABEL] for label in prediction.labels] for prediction in predictions]


def split_report(predicted: Sequence[Sequence[str]], split: SplitData, ranking: Sequence[str]) -> dict[str, Any]:
    """Every metric of the metrics module for one split; sequences give the position deviation."""
    return multilabel_report(
        to_multi_hot(split.label_sequences, ranking),
        to_multi_hot(predicted, ranking),
        ranking,
        true_sequences=split.label_sequences,
        predicted_sequences=predicted,
    )


def write_predictions(
    target: Path,
    splits: dict[str, SplitData],
    predicted: dict[str, Sequence[Sequence[str]]],
    probabilities: dict[str, Sequence[Sequence[float]]],
) -> None:
    """One row per example of each split in ``predicted``: its true and predicted sequences, step probabilities."""
    rows: dict[str, list] = {name: [] for name in PREDICTIONS_SCHEMA.names}
    for split_name, labels in predicted.items():
        split = splits[split_name]
        rows["id"] += split.ids
        rows["split"] += [split_name] * len(split.ids)
        rows["true_labels"] += split.label_sequences
        rows["predicted_labels"] += [list(sequence) for sequence in labels]
        rows["step_probabilities"] += [list(values) for values in probabilities[split_name]]
    with atomic_path(target) as temporary:
        pq.write_table(pa.table(rows, schema=PREDICTIONS_SCHEMA), temporary)
