"""Multi-label classification metrics over 0/1 indicator matrices, plus the label-position deviation.

``y_true`` and ``y_pred`` are 0/1 (integer or bool) arrays of shape ``(n_examples, n_labels)``, both
dimensions at least 1.

Averages of precision, recall and F1:

* ``micro``: true positives, predicted positives and true labels are pooled over the whole matrix;
* ``macro``: the unweighted mean of the per-label scores over **all** ``n_labels`` columns, including labels
  absent from both ``y_true`` and ``y_pred`` (which score 1.0 under the rule below); macro F1 is the mean of
  the per-label F1 scores, not the harmonic mean of macro precision and macro recall;
* ``example``: the mean of the per-example (row) scores (scikit-learn's ``average="samples"``).

Zero-division rule, the same for every average: when a count that a score divides by is zero,

* if there are no true and no predicted positives (a perfect empty prediction), precision, recall and F1
  are all 1.0;
* if only one side is empty, precision, recall and F1 are all 0.0.

F1 is computed as ``2 * tp / (n_predicted + n_true)``. Compared with scikit-learn's
``precision_recall_fscore_support(..., zero_division=1.0)``: F1 agrees everywhere, and precision and recall
agree when both sides are empty; they differ when only one side is empty, where scikit-learn gives 1.0 and
this module 0.0 -- precision with no predicted but some true positives, recall with some predicted but no
true positives (per label, per example, or, for ``micro``, over the whole matrix).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np

AVERAGES = {"micro": None, "macro": 0, "example": 1}
"""Each average and the axis of ``y_true``/``y_pred`` its counts are summed over (``None``: everything)."""


def subset_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of examples whose predicted label set equals the true one exactly."""
    y_true, y_pred = checked_pair(y_true, y_pred)
    return float(np.mean(np.all(y_true == y_pred, axis=1)))


def hamming_loss(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of the ``n_examples * n_labels`` indicator entries that are wrong."""
    y_true, y_pred = checked_pair(y_true, y_pred)
    return float(np.mean(y_true != y_pred))


def precision_recall_f1(y_true: np.ndarray, y_pred: np.ndarray, average: str) -> tuple[float, float, float]:
    """Precision, recall and F1 for ``average`` (one of :data:`AVERAGES`) under the module's zero-division rule."""
    if average not in AVERAGES:
        raise ValueError(f"unknown average {average!r}; known averages: {', '.join(AVERAGES)}")
    y_true, y_pred = checked_pair(y_true, y_pred)
    scores = _scores(y_true, y_pred, axis=AVERAGES[average])
    return tuple(float(np.mean(score)) for score in scores)


def per_label_f1(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """F1 of each label under the module's zero-division rule, shape ``(n_labels,)``."""
    y_true, y_pred = checked_pair(y_true, y_pred)
    return _scores(y_true, y_pred, axis=0)[2]


def position_deviation(
    true_sequences: Sequence[Sequence[Hashable]], predicted_sequences: Sequence[Sequence[Hashable]]
) -> float:
    """Mean ``|index in predicted - index in true|`` over every correctly predicted label of every example.

    ``true_sequences[i]`` and ``predicted_sequences[i]`` are example ``i``'s labels (strings or ints) in
    order; a label repeated within a sequence counts at its first position. Labels in only one of the two
    sequences are ignored. Returns ``nan`` when no label of any example is correctly predicted.
    """
    if len(true_sequences) != len(predicted_sequences):
        raise ValueError(
            f"got {len(true_sequences)} true sequences but {len(predicted_sequences)} predicted sequences"
        )
    deviations = [
        deviation
        for true, predicted in zip(true_sequences, predicted_sequences)
        for deviation in _shared_label_deviations(true, predicted)
    ]
    return float(np.mean(deviations)) if deviations else math.nan


def multilabel_report(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    label_names: Sequence[str],
    true_sequences: Sequence[Sequence[Hashable]] | None = None,
    predicted_sequences: Sequence[Sequence[Hashable]] | None = None,
) -> dict:
    """Every metric of this module as a JSON-ready dict of Python floats.

    ``label_names[j]`` names column ``j``; ``per_label_f1`` maps each name to its F1. ``position_deviation``
    is included when both sequence lists are given (one per example), and is ``None`` when undefined (no
    correctly predicted label), so that the dict stays strict JSON.
    """
    y_true, y_pred = checked_pair(y_true, y_pred)
    if len(label_names) != y_true.shape[1]:
        raise ValueError(f"got {len(label_names)} label names for {y_true.shape[1]} label columns")
    if (true_sequences is None) != (predicted_sequences is None):
        raise ValueError("give both true_sequences and predicted_sequences, or neither")
    report = {"subset_accuracy": subset_accuracy(y_true, y_pred), "hamming_loss": hamming_loss(y_true, y_pred)}
    for average in AVERAGES:
        scores = precision_recall_f1(y_true, y_pred, average)
        report.update({f"{average}_{name}": score for name, score in zip(("precision", "recall", "f1"), scores)})
    report["per_label_f1"] = {name: float(f1) for name, f1 in zip(label_names, per_label_f1(y_true, y_pred))}
    if true_sequences is not None:
        report["position_deviation"] = _reported_deviation(true_sequences, predicted_sequences, y_true.shape[0])
    return report


def to_multi_hot(label_sets: Sequence[Sequence[str]], label_names: Sequence[str]) -> np.ndarray:
    """Multi-hot matrix of the label sets, shape ``(len(label_sets), len(label_names))``, dtype int8.

    Entry ``[i, j]`` is 1 iff ``label_names[j]`` is in ``label_sets[i]``; a label not in ``label_names`` is an
    error.
    """
    column = {name: j for j, name in enumerate(label_names)}
    if len(column) != len(label_names):
        raise ValueError("label_names contains duplicates")
    multi_hot = np.zeros((len(label_sets), len(label_names)), dtype=np.int8)
    for i, labels in enumerate(label_sets):
        for label in labels:
            if label not in column:
                raise ValueError(f"label {label!r} of example {i} is not among the label names")
            multi_hot[i, column[label]] = 1
    return multi_hot


def _reported_deviation(
    true_sequences: Sequence[Sequence[Hashable]], predicted_sequences: Sequence[Sequence[Hashable]], n_examples: int
) -> float | None:
    """:func:`position_deviation` for a report of ``n_examples`` examples, ``None`` where it is ``nan``."""
    if len(true_sequences) != n_examples:
        raise ValueError(f"got {len(true_sequences)} true sequences for {n_examples} examples")
    deviation = position_deviation(true_sequences, predicted_sequences)
    return None if math.isnan(deviation) else deviation


def checked_pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``y_true`` and ``y_pred`` as bool arrays of one shape ``(n_examples, n_labels)``, both at least 1."""
    y_true, y_pred = as_indicator("y_true", y_true), as_indicator("y_pred", y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}")
    return y_true, y_pred


def as_indicator(name: str, matrix: np.ndarray) -> np.ndarray:
    """``matrix`` as a bool array, after checking it is a non-empty 2-D array of 0s and 1s."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_examples, n_labels), got shape {matrix.shape}")
    if 0 in matrix.shape:
        raise ValueError(f"{name} needs at least one example and one label, got shape {matrix.shape}")
    if not np.isin(matrix, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1")
    return matrix.astype(bool)


def _scores(y_true: np.ndarray, y_pred: np.ndarray, axis: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 of the counts summed over ``axis``, under the zero-division rule.

    Each result has the shape of the summed counts: ``(n_labels,)`` for axis 0, ``(n_examples,)`` for
    axis 1, ``()`` for ``None``.
    """
    true_positives = np.sum(y_true & y_pred, axis=axis)
    n_predicted, n_true = np.sum(y_pred, axis=axis), np.sum(y_true, axis=axis)
    both_empty = n_predicted + n_true == 0
    return (
        _ratio(true_positives, n_predicted, both_empty),
        _ratio(true_positives, n_true, both_empty),
        _ratio(2 * true_positives, n_predicted + n_true, both_empty),
    )


def _ratio(numerator: np.ndarray, denominator: np.ndarray, both_empty: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` elementwise; where the denominator is 0: 1.0 if ``both_empty``, else 0.0."""
    defined = denominator > 0
    return np.where(defined, numerator / np.where(defined, denominator, 1), both_empty.astype(float))


def _shared_label_deviations(true: Sequence[Hashable], predicted: Sequence[Hashable]) -> list[int]:
    """``|index in predicted - index in true|`` of each label in both sequences, at first occurrences."""
    true_positions, predicted_positions = _first_positions(true), _first_positions(predicted)
    return [
        abs(predicted_positions[label] - position)
        for label, position in true_positions.items()
        if label in predicted_positions
    ]


def _first_positions(sequence: Sequence[Hashable]) -> dict[Hashable, int]:
    """Each distinct label of ``sequence`` mapped to the index of its first occurrence."""
    positions: dict[Hashable, int] = {}
    for index, label in enumerate(sequence):
        positions.setdefault(label, index)
    return positions
