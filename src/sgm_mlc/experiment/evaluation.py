"""Predictions to metrics and to the predictions table; the decision rule fitted on the validation split."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sgm_mlc.atomic import atomic_path
from sgm_mlc.decision import Decision, DecisionRule, DecisionSettings, fit_decision
from sgm_mlc.experiment.inputs import RunInputs, SplitData
from sgm_mlc.metrics.image_tagging import image_tagging_report
from sgm_mlc.metrics.multilabel import multilabel_report, precision_recall_f1, to_multi_hot
from sgm_mlc.models.label_ids import FIRST_LABEL
from sgm_mlc.training.tasks import Prediction

log = logging.getLogger(__name__)

SPLITS = ("valid", "test")  # the validation split first: the decision rule is fitted on it
DECISION_AVERAGES = ("micro", "macro")

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


def validation_decision(
    scores: np.ndarray, inputs: RunInputs, params: dict[str, Any], cut: float | None, applied: bool, described: str
) -> Decision:
    """The decision rule of params.yaml's ``decision`` section fitted on the validation split's ``scores``
    ``(n_valid, n_labels)`` (in ``inputs.label_ranking`` order); no other split is ever seen. ``cut``, ``applied``
    and ``described`` as :func:`~sgm_mlc.decision.fit_decision` takes them."""
    valid = inputs.splits["valid"]
    truth = to_multi_hot(valid.label_sequences, inputs.label_ranking)
    settings = DecisionSettings.from_params(params["decision"])
    return fit_decision(scores, truth, inputs.label_ranking, settings, cut, applied, described)


def decided_labels(rule: DecisionRule, scores: np.ndarray, ranking: Sequence[str]) -> list[list[str]]:
    """The labels ``rule`` predicts from ``scores`` ``(n, n_labels)`` (in ``ranking`` order), each row's highest
    score first (ties: the earlier label of ``ranking``)."""
    predicted = rule.apply(scores)
    sequences = []
    for row_predicted, row_scores in zip(predicted, scores):
        chosen = np.flatnonzero(row_predicted)
        chosen = chosen[np.argsort(-row_scores[chosen], kind="stable")]
        sequences.append([ranking[j] for j in chosen])
    return sequences


def decision_report(
    decision: Decision, split: SplitData, ranking: Sequence[str], before: np.ndarray, after: np.ndarray
) -> dict[str, Any]:
    """A split's ``decision`` block of metrics.json: the rule chosen on validation, whether it is ``applied``, and
    the micro and macro precision, recall and F1 ``before`` it (the model's own prediction: its fixed cut, or a
    sequence model's decoded labels) and ``after`` it, both ``(n_examples, n_labels)`` 0/1."""
    y_true = to_multi_hot(split.label_sequences, ranking)

    def rates(y_pred: np.ndarray) -> dict[str, float]:
        return {
            f"{average}_{name}": value
            for average in DECISION_AVERAGES
            for name, value in zip(("precision", "recall", "f1"), precision_recall_f1(y_true, y_pred, average))
        }

    return {"rule": decision.rule.name, "applied": decision.applied, "before": rates(before), "after": rates(after)}


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
