"""Predictions to metrics and to the predictions table."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sgm_mlc.atomic import atomic_path
from sgm_mlc.experiment.inputs import SplitData
from sgm_mlc.metrics.image_tagging import image_tagging_report
from sgm_mlc.metrics.multilabel import multilabel_report, to_multi_hot
from sgm_mlc.models.label_ids import FIRST_LABEL
from sgm_mlc.training.tasks import Prediction

log = logging.getLogger(__name__)

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


def split_report(
    predicted: Sequence[Sequence[str]],
    split: SplitData,
    ranking: Sequence[str],
    label_scores: Sequence[Sequence[float]] | None = None,
) -> dict[str, Any]:
    """Every metric of the metrics module for one split; sequences give the position deviation, and the
    per-label scores of a neural model (``(n_examples, n_labels)`` in ``ranking`` order) the ranking metrics of
    image tagging (CP, CR, CF1, OP, OR, OF1, their top-3, mAP)."""
    y_true, y_pred = to_multi_hot(split.label_sequences, ranking), to_multi_hot(predicted, ranking)
    report = multilabel_report(
        y_true, y_pred, ranking, true_sequences=split.label_sequences, predicted_sequences=predicted
    )
    if label_scores is not None:
        report |= image_tagging_report(y_true, y_pred, np.asarray(label_scores, dtype=float))
    return report


def log_split_metrics(split_name: str, report: dict[str, Any], documents: int, seconds: float) -> None:
    """One log line of a split's headline metrics and speed."""
    log.info(
        "%s: %d documents in %.1f s (%.0f/s); micro-F1 %.4f, macro-F1 %.4f, subset accuracy %.4f, Hamming loss %.5f",
        split_name, documents, seconds, documents / seconds if seconds else float("inf"), report["micro_f1"],
        report["macro_f1"], report["subset_accuracy"], report["hamming_loss"],
    )


def label_scores_of(predictions: Sequence[Prediction]) -> list[tuple[float, ...]]:
    """Each prediction's per-label scores (see :mod:`sgm_mlc.training.tasks`)."""
    return [prediction.label_scores for prediction in predictions]


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
